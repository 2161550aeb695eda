using System.Globalization;
using System.Text;

namespace Midori.DevApiServer.Cel;

internal enum CelTokenKind
{
    Identifier,
    Int,
    UInt,
    Double,
    String,
    Operator,
    End,
}

internal readonly record struct CelToken(CelTokenKind Kind, string Text, object? Value, int Position);

/// <summary>Splits a CEL expression into tokens; literals are decoded here so the parser only sees values.</summary>
internal static class CelLexer
{
    // Longest operators first so "<=" wins over "<".
    private static readonly string[] Operators =
    [
        "==", "!=", "<=", ">=", "&&", "||",
        "<", ">", "+", "-", "*", "/", "%", "!", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}",
    ];

    public static List<CelToken> Tokenize(string source)
    {
        var tokens = new List<CelToken>();
        var i = 0;
        while (i < source.Length)
        {
            var c = source[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            if (c == '/' && i + 1 < source.Length && source[i + 1] == '/')
            {
                while (i < source.Length && source[i] != '\n')
                {
                    i++;
                }

                continue;
            }

            var start = i;
            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < source.Length && char.IsAsciiDigit(source[i + 1])))
            {
                tokens.Add(ReadNumber(source, ref i));
                continue;
            }

            if ((c is 'r' or 'R') && i + 1 < source.Length && source[i + 1] is '"' or '\'')
            {
                i++;
                tokens.Add(new CelToken(CelTokenKind.String, "string", ReadString(source, ref i, raw: true), start));
                continue;
            }

            if (c is '"' or '\'')
            {
                tokens.Add(new CelToken(CelTokenKind.String, "string", ReadString(source, ref i, raw: false), start));
                continue;
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                while (i < source.Length && (char.IsAsciiLetterOrDigit(source[i]) || source[i] == '_'))
                {
                    i++;
                }

                tokens.Add(new CelToken(CelTokenKind.Identifier, source[start..i], null, start));
                continue;
            }

            var op = Operators.FirstOrDefault(o => string.CompareOrdinal(source, i, o, 0, o.Length) == 0)
                ?? throw new CelException($"Syntax error: unexpected character '{c}' at {i}");
            i += op.Length;
            tokens.Add(new CelToken(CelTokenKind.Operator, op, null, start));
        }

        tokens.Add(new CelToken(CelTokenKind.End, "<end>", null, source.Length));
        return tokens;
    }

    private static CelToken ReadNumber(string s, ref int i)
    {
        var start = i;
        if (s[i] == '0' && i + 1 < s.Length && s[i + 1] is 'x' or 'X')
        {
            i += 2;
            while (i < s.Length && char.IsAsciiHexDigit(s[i]))
            {
                i++;
            }

            var hex = long.Parse(s.AsSpan(start + 2, i - start - 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            return UnsignedSuffix(s, ref i, hex, start);
        }

        var isDouble = false;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
        {
            i++;
        }

        if (i < s.Length && s[i] == '.' && i + 1 < s.Length && char.IsAsciiDigit(s[i + 1]))
        {
            isDouble = true;
            i++;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }
        }

        if (i < s.Length && s[i] is 'e' or 'E')
        {
            isDouble = true;
            i++;
            if (i < s.Length && s[i] is '+' or '-')
            {
                i++;
            }

            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }
        }

        var text = s[start..i];
        if (isDouble)
        {
            return new CelToken(CelTokenKind.Double, text, double.Parse(text, CultureInfo.InvariantCulture), start);
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            throw new CelException($"Syntax error: integer literal out of range: {text}");
        }

        return UnsignedSuffix(s, ref i, value, start);
    }

    private static CelToken UnsignedSuffix(string s, ref int i, long value, int start)
    {
        if (i < s.Length && s[i] is 'u' or 'U')
        {
            i++;
            return new CelToken(CelTokenKind.UInt, s[start..i], (ulong)value, start);
        }

        return new CelToken(CelTokenKind.Int, s[start..i], value, start);
    }

    private static string ReadString(string s, ref int i, bool raw)
    {
        var quote = s[i];
        var triple = i + 2 < s.Length && s[i + 1] == quote && s[i + 2] == quote;
        i += triple ? 3 : 1;
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= s.Length)
            {
                throw new CelException("Syntax error: unterminated string literal");
            }

            var c = s[i];
            if (triple ? (c == quote && i + 2 < s.Length && s[i + 1] == quote && s[i + 2] == quote) : c == quote)
            {
                i += triple ? 3 : 1;
                return sb.ToString();
            }

            if (!triple && c == '\n')
            {
                throw new CelException("Syntax error: newline in string literal");
            }

            if (c == '\\' && !raw)
            {
                i++;
                sb.Append(ReadEscape(s, ref i));
                continue;
            }

            sb.Append(c);
            i++;
        }
    }

    private static string ReadEscape(string s, ref int i)
    {
        if (i >= s.Length)
        {
            throw new CelException("Syntax error: unterminated escape sequence");
        }

        var c = s[i++];
        switch (c)
        {
            case 'n': return "\n";
            case 't': return "\t";
            case 'r': return "\r";
            case 'a': return "\a";
            case 'b': return "\b";
            case 'f': return "\f";
            case 'v': return "\v";
            case '\\': return "\\";
            case '\'': return "'";
            case '"': return "\"";
            case '`': return "`";
            case '?': return "?";
            case 'x' or 'X': return HexEscape(s, ref i, 2);
            case 'u': return HexEscape(s, ref i, 4);
            case 'U': return HexEscape(s, ref i, 8);
            default:
                if (c is >= '0' and <= '3' && i + 1 < s.Length)
                {
                    var octal = Convert.ToInt32(s.Substring(i - 1, 3), 8);
                    i += 2;
                    return char.ConvertFromUtf32(octal);
                }

                throw new CelException($"Syntax error: invalid escape sequence \\{c}");
        }
    }

    private static string HexEscape(string s, ref int i, int digits)
    {
        if (i + digits > s.Length)
        {
            throw new CelException("Syntax error: truncated hex escape");
        }

        var code = int.Parse(s.AsSpan(i, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        i += digits;
        return char.ConvertFromUtf32(code);
    }
}
