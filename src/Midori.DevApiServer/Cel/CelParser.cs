namespace Midori.DevApiServer.Cel;

/// <summary>
/// Recursive-descent parser for the CEL grammar subset CRD validation rules use, with CEL's precedence:
/// ternary &lt; || &lt; &amp;&amp; &lt; relations (incl. in) &lt; + - &lt; * / % &lt; unary &lt; member access.
/// </summary>
internal sealed class CelParser
{
    private static readonly HashSet<string> Macros = ["all", "exists", "exists_one", "filter", "map"];

    private readonly List<CelToken> _tokens;
    private int _position;

    private CelParser(string source) => _tokens = CelLexer.Tokenize(source);

    public static CelExpr Parse(string source)
    {
        var parser = new CelParser(source);
        var expr = parser.ParseExpression();
        if (parser.Current.Kind != CelTokenKind.End)
        {
            throw new CelException($"Syntax error: unexpected '{parser.Current.Text}' at {parser.Current.Position}");
        }

        return expr;
    }

    private CelToken Current => _tokens[_position];

    private CelExpr ParseExpression()
    {
        var condition = ParseOr();
        if (!TryConsume("?"))
        {
            return condition;
        }

        var whenTrue = ParseOr();
        Expect(":");
        var whenFalse = ParseExpression();
        return new CelConditional(condition, whenTrue, whenFalse);
    }

    private CelExpr ParseOr()
    {
        var left = ParseAnd();
        while (TryConsume("||"))
        {
            left = new CelBinary("||", left, ParseAnd());
        }

        return left;
    }

    private CelExpr ParseAnd()
    {
        var left = ParseRelation();
        while (TryConsume("&&"))
        {
            left = new CelBinary("&&", left, ParseRelation());
        }

        return left;
    }

    private CelExpr ParseRelation()
    {
        var left = ParseAddition();
        while (true)
        {
            if (Current is { Kind: CelTokenKind.Operator, Text: "==" or "!=" or "<" or "<=" or ">" or ">=" })
            {
                var op = Advance().Text;
                left = new CelBinary(op, left, ParseAddition());
            }
            else if (Current is { Kind: CelTokenKind.Identifier, Text: "in" })
            {
                Advance();
                left = new CelBinary("in", left, ParseAddition());
            }
            else
            {
                return left;
            }
        }
    }

    private CelExpr ParseAddition()
    {
        var left = ParseMultiplication();
        while (Current is { Kind: CelTokenKind.Operator, Text: "+" or "-" })
        {
            var op = Advance().Text;
            left = new CelBinary(op, left, ParseMultiplication());
        }

        return left;
    }

    private CelExpr ParseMultiplication()
    {
        var left = ParseUnary();
        while (Current is { Kind: CelTokenKind.Operator, Text: "*" or "/" or "%" })
        {
            var op = Advance().Text;
            left = new CelBinary(op, left, ParseUnary());
        }

        return left;
    }

    private CelExpr ParseUnary()
    {
        if (Current is { Kind: CelTokenKind.Operator, Text: "!" or "-" })
        {
            var op = Advance().Text;

            // Fold "-<number>" so the minimum int64 literal is representable.
            if (op == "-" && Current.Kind is CelTokenKind.Int or CelTokenKind.Double)
            {
                var literal = Advance();
                var negated = literal.Value is long l ? (object)(-l) : -(double)literal.Value!;
                return ParseMemberSuffix(new CelLiteral(negated));
            }

            return new CelUnary(op, ParseUnary());
        }

        return ParseMember();
    }

    private CelExpr ParseMember() => ParseMemberSuffix(ParsePrimary());

    private CelExpr ParseMemberSuffix(CelExpr expr)
    {
        while (true)
        {
            if (TryConsume("."))
            {
                var name = ExpectIdentifier();
                if (!TryConsume("("))
                {
                    expr = new CelSelect(expr, name);
                    continue;
                }

                var args = ParseArguments(")");
                expr = Macros.Contains(name) ? BuildComprehension(expr, name, args) : new CelCall(expr, name, args);
            }
            else if (TryConsume("["))
            {
                var index = ParseExpression();
                Expect("]");
                expr = new CelIndex(expr, index);
            }
            else
            {
                return expr;
            }
        }
    }

    private CelExpr ParsePrimary()
    {
        var token = Advance();
        switch (token.Kind)
        {
            case CelTokenKind.Int or CelTokenKind.UInt or CelTokenKind.Double or CelTokenKind.String:
                return new CelLiteral(token.Value);
            case CelTokenKind.Identifier:
                return ParseIdentifier(token.Text);
            case CelTokenKind.Operator when token.Text == "(":
                var inner = ParseExpression();
                Expect(")");
                return inner;
            case CelTokenKind.Operator when token.Text == "[":
                return new CelListLiteral(ParseArguments("]"));
            case CelTokenKind.Operator when token.Text == "{":
                return ParseMapLiteral();
            case CelTokenKind.Operator when token.Text == ".":
                return ParseIdentifier(ExpectIdentifier());
            default:
                throw new CelException($"Syntax error: unexpected '{token.Text}' at {token.Position}");
        }
    }

    private CelExpr ParseIdentifier(string name)
    {
        switch (name)
        {
            case "true": return new CelLiteral(true);
            case "false": return new CelLiteral(false);
            case "null": return new CelLiteral(null);
        }

        if (!TryConsume("("))
        {
            return new CelIdent(name);
        }

        var args = ParseArguments(")");
        if (name != "has")
        {
            return new CelCall(null, name, args);
        }

        if (args is [CelSelect select])
        {
            return new CelHas(select.Operand, select.Field);
        }

        throw new CelException("Syntax error: invalid argument to has() macro");
    }

    private CelMapLiteral ParseMapLiteral()
    {
        var entries = new List<(CelExpr, CelExpr)>();
        if (!TryConsume("}"))
        {
            do
            {
                var key = ParseExpression();
                Expect(":");
                entries.Add((key, ParseExpression()));
            }
            while (TryConsume(",") && Current.Text != "}");

            Expect("}");
        }

        return new CelMapLiteral(entries);
    }

    private List<CelExpr> ParseArguments(string close)
    {
        var args = new List<CelExpr>();
        if (TryConsume(close))
        {
            return args;
        }

        do
        {
            if (Current.Text == close)
            {
                break; // trailing comma
            }

            args.Add(ParseExpression());
        }
        while (TryConsume(","));

        Expect(close);
        return args;
    }

    private static CelComprehension BuildComprehension(CelExpr range, string macro, List<CelExpr> args)
    {
        if (args.Count is < 2 or > 3 || args[0] is not CelIdent variable || (args.Count == 3 && macro != "map"))
        {
            throw new CelException($"Syntax error: invalid arguments to {macro}() macro");
        }

        return args.Count == 3
            ? new CelComprehension(macro, range, variable.Name, args[1], args[2])
            : new CelComprehension(macro, range, variable.Name, args[1], null);
    }

    private CelToken Advance() => _tokens[_position++];

    private bool TryConsume(string op)
    {
        if (Current.Kind == CelTokenKind.Operator && Current.Text == op)
        {
            _position++;
            return true;
        }

        return false;
    }

    private void Expect(string op)
    {
        if (!TryConsume(op))
        {
            throw new CelException($"Syntax error: expected '{op}' but found '{Current.Text}' at {Current.Position}");
        }
    }

    private string ExpectIdentifier()
    {
        if (Current.Kind != CelTokenKind.Identifier)
        {
            throw new CelException($"Syntax error: expected identifier but found '{Current.Text}' at {Current.Position}");
        }

        return Advance().Text;
    }
}
