using System.Globalization;
using System.Text.RegularExpressions;

namespace Midori.DevApiServer.Cel;

/// <summary>
/// Tree-walking evaluator. Follows CEL's error semantics: errors are values that propagate, except that
/// <c>&amp;&amp;</c>/<c>||</c> are commutative and absorb an error when the other side decides the result.
/// </summary>
internal sealed class CelEvaluator
{
    private readonly IReadOnlyDictionary<string, object?> _variables;

    private CelEvaluator(IReadOnlyDictionary<string, object?> variables) => _variables = variables;

    public static object? Evaluate(CelExpr expr, IReadOnlyDictionary<string, object?> variables)
        => new CelEvaluator(variables).Eval(expr, Scope.Empty);

    private object? Eval(CelExpr expr, Scope scope) => expr switch
    {
        CelLiteral literal => literal.Value,
        CelIdent ident => Lookup(ident.Name, scope),
        CelSelect select => SelectField(Eval(select.Operand, scope), select.Field),
        CelIndex index => IndexInto(Eval(index.Operand, scope), Eval(index.Index, scope)),
        CelHas has => HasField(Eval(has.Operand, scope), has.Field),
        CelUnary unary => EvalUnary(unary.Operator, Eval(unary.Operand, scope)),
        CelBinary { Operator: "&&" or "||" } logical => EvalLogical(logical, scope),
        CelBinary binary => CelOperators.Binary(binary.Operator, Eval(binary.Left, scope), Eval(binary.Right, scope)),
        CelConditional conditional => AsBool(Eval(conditional.Condition, scope), "_?_:_")
            ? Eval(conditional.WhenTrue, scope)
            : Eval(conditional.WhenFalse, scope),
        CelListLiteral list => list.Items.Select(i => Eval(i, scope)).ToList(),
        CelMapLiteral map => EvalMap(map, scope),
        CelComprehension comprehension => EvalComprehension(comprehension, scope),
        CelCall call => EvalCall(call, scope),
        _ => throw new CelException($"unsupported expression {expr.GetType().Name}"),
    };

    private object? Lookup(string name, Scope scope)
    {
        if (scope.TryGet(name, out var local))
        {
            return local;
        }

        return _variables.TryGetValue(name, out var value) ? value : throw new CelException($"undeclared reference to '{name}'");
    }

    private static object? SelectField(object? operand, string field) => operand switch
    {
        IReadOnlyDictionary<string, object?> map => map.TryGetValue(field, out var value) ? value : throw new CelException($"no such key: {field}"),
        _ => throw new CelException($"no such key: {field}"),
    };

    private static bool HasField(object? operand, string field) => operand switch
    {
        IReadOnlyDictionary<string, object?> map => map.ContainsKey(field),
        _ => throw new CelException($"invalid type for field selection: {CelValues.TypeName(operand)}"),
    };

    private static object? IndexInto(object? operand, object? index)
    {
        switch (operand)
        {
            case IReadOnlyList<object?> list:
                if (!CelValues.IsNumber(index) || index is double d && d != Math.Floor(d))
                {
                    throw new CelException($"no such overload: list[{CelValues.TypeName(index)}]");
                }

                var i = Convert.ToInt64(index, CultureInfo.InvariantCulture);
                return i >= 0 && i < list.Count ? list[(int)i] : throw new CelException($"index out of bounds: {i}");
            case IReadOnlyDictionary<string, object?> map:
                return index is string key && map.TryGetValue(key, out var value)
                    ? value
                    : throw new CelException($"no such key: {index}");
            default:
                throw new CelException($"no such overload: {CelValues.TypeName(operand)}[{CelValues.TypeName(index)}]");
        }
    }

    private static object EvalUnary(string op, object? operand) => (op, operand) switch
    {
        ("!", bool b) => !b,
        ("-", long l) => checked(-l),
        ("-", double d) => -d,
        _ => throw new CelException($"no such overload: {op}{CelValues.TypeName(operand)}"),
    };

    private object EvalLogical(CelBinary binary, Scope scope)
    {
        var isAnd = binary.Operator == "&&";
        var (left, leftError) = TryEvalBool(binary.Left, scope, binary.Operator);

        // Short-circuit: false && x, true || x.
        if (leftError is null && left != isAnd)
        {
            return left;
        }

        var (right, rightError) = TryEvalBool(binary.Right, scope, binary.Operator);
        if (rightError is null && right != isAnd)
        {
            return right;
        }

        if (leftError is not null)
        {
            throw leftError;
        }

        if (rightError is not null)
        {
            throw rightError;
        }

        return isAnd;
    }

    private (bool Value, CelException? Error) TryEvalBool(CelExpr expr, Scope scope, string op)
    {
        try
        {
            return (AsBool(Eval(expr, scope), op), null);
        }
        catch (CelException ex)
        {
            return (false, ex);
        }
    }

    private Dictionary<string, object?> EvalMap(CelMapLiteral map, Scope scope)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (keyExpr, valueExpr) in map.Entries)
        {
            if (Eval(keyExpr, scope) is not string key)
            {
                throw new CelException("unsupported map key type: only string keys are supported");
            }

            if (!result.TryAdd(key, Eval(valueExpr, scope)))
            {
                throw new CelException($"Failed with repeated key: {key}");
            }
        }

        return result;
    }

    private object EvalComprehension(CelComprehension c, Scope scope)
    {
        var range = Eval(c.Range, scope) switch
        {
            IReadOnlyList<object?> list => list,
            IReadOnlyDictionary<string, object?> map => map.Keys.Cast<object?>().ToList(),
            var other => throw new CelException($"expression of type '{CelValues.TypeName(other)}' cannot be range of a comprehension"),
        };

        switch (c.Macro)
        {
            case "all":
                return EvalQuantifier(c, range, scope, universal: true);
            case "exists":
                return EvalQuantifier(c, range, scope, universal: false);
            case "exists_one":
                return range.Count(item => AsBool(Eval(c.Predicate, scope.With(c.Variable, item)), "exists_one")) == 1;
            case "filter":
                return range.Where(item => AsBool(Eval(c.Predicate, scope.With(c.Variable, item)), "filter")).ToList();
            default: // map, optionally with a filter predicate (three-argument form)
                var results = new List<object?>();
                foreach (var item in range)
                {
                    var itemScope = scope.With(c.Variable, item);
                    if (c.Transform is null)
                    {
                        results.Add(Eval(c.Predicate, itemScope));
                    }
                    else if (AsBool(Eval(c.Predicate, itemScope), "map"))
                    {
                        results.Add(Eval(c.Transform, itemScope));
                    }
                }

                return results;
        }
    }

    // all/exists use the same error absorption as &&/||: a decisive element wins over an error in another element.
    private bool EvalQuantifier(CelComprehension c, IReadOnlyList<object?> range, Scope scope, bool universal)
    {
        CelException? firstError = null;
        foreach (var item in range)
        {
            var (value, error) = TryEvalBool(c.Predicate, scope.With(c.Variable, item), c.Macro);
            if (error is not null)
            {
                firstError ??= error;
            }
            else if (value != universal)
            {
                return value;
            }
        }

        return firstError is null ? universal : throw firstError;
    }

    private object? EvalCall(CelCall call, Scope scope)
    {
        var args = call.Args.Select(a => Eval(a, scope)).ToList();
        if (call.Target is null)
        {
            return CelFunctions.Global(call.Function, args);
        }

        return CelFunctions.Member(Eval(call.Target, scope), call.Function, args);
    }

    internal static bool AsBool(object? value, string context)
        => value as bool? ?? throw new CelException($"no such overload: {context} applied to {CelValues.TypeName(value)}");

    /// <summary>Immutable linked scope for comprehension variables (shadowing outer names).</summary>
    private sealed class Scope
    {
        public static readonly Scope Empty = new(null, string.Empty, null);

        private readonly Scope? _parent;
        private readonly string _name;
        private readonly object? _value;

        private Scope(Scope? parent, string name, object? value)
        {
            _parent = parent;
            _name = name;
            _value = value;
        }

        public Scope With(string name, object? value) => new(this, name, value);

        public bool TryGet(string name, out object? value)
        {
            for (var s = this; s is { _parent: not null }; s = s._parent)
            {
                if (s._name == name)
                {
                    value = s._value;
                    return true;
                }
            }

            value = null;
            return false;
        }
    }
}

/// <summary>Arithmetic, comparison and membership operators.</summary>
internal static class CelOperators
{
    public static object Binary(string op, object? left, object? right)
    {
        switch (op)
        {
            case "==": return CelValues.ValueEquals(left, right);
            case "!=": return !CelValues.ValueEquals(left, right);
            case "<": return Compare(op, left, right) < 0;
            case "<=": return Compare(op, left, right) <= 0;
            case ">": return Compare(op, left, right) > 0;
            case ">=": return Compare(op, left, right) >= 0;
            case "in": return Contains(right, left);
        }

        try
        {
            return (op, left, right) switch
            {
                ("+", string a, string b) => a + b,
                ("+", IReadOnlyList<object?> a, IReadOnlyList<object?> b) => a.Concat(b).ToList(),
                ("+", long a, long b) => checked(a + b),
                ("-", long a, long b) => checked(a - b),
                ("*", long a, long b) => checked(a * b),
                ("/", long _, 0L) => throw new CelException("division by zero"),
                ("/", long a, long b) => checked(a / b),
                ("%", long _, 0L) => throw new CelException("modulus by zero"),
                ("%", long a, long b) => a % b,
                ("+", ulong a, ulong b) => checked(a + b),
                ("-", ulong a, ulong b) => checked(a - b),
                ("*", ulong a, ulong b) => checked(a * b),
                ("/", ulong _, 0UL) => throw new CelException("division by zero"),
                ("/", ulong a, ulong b) => a / b,
                ("%", ulong _, 0UL) => throw new CelException("modulus by zero"),
                ("%", ulong a, ulong b) => a % b,
                ("+", double a, double b) => a + b,
                ("-", double a, double b) => a - b,
                ("*", double a, double b) => a * b,
                ("/", double a, double b) => a / b,
                _ => throw new CelException($"no such overload: {CelValues.TypeName(left)} {op} {CelValues.TypeName(right)}"),
            };
        }
        catch (OverflowException)
        {
            throw new CelException("integer overflow");
        }
    }

    private static int Compare(string op, object? left, object? right)
    {
        if (CelValues.IsNumber(left) && CelValues.IsNumber(right))
        {
            return CelValues.CompareNumbers(left!, right!);
        }

        return (left, right) switch
        {
            (string a, string b) => string.CompareOrdinal(a, b),
            (bool a, bool b) => a.CompareTo(b),
            _ => throw new CelException($"no such overload: {CelValues.TypeName(left)} {op} {CelValues.TypeName(right)}"),
        };
    }

    private static bool Contains(object? container, object? element) => container switch
    {
        IReadOnlyList<object?> list => list.Any(item => CelValues.ValueEquals(item, element)),
        IReadOnlyDictionary<string, object?> map => element is string key && map.ContainsKey(key),
        _ => throw new CelException($"no such overload: {CelValues.TypeName(element)} in {CelValues.TypeName(container)}"),
    };
}

/// <summary>Standard and Kubernetes-extension functions used by CRD rules.</summary>
internal static class CelFunctions
{
    public static object? Global(string function, IReadOnlyList<object?> args) => (function, args.Count) switch
    {
        ("size", 1) => Size(args[0]),
        ("int", 1) => ToInt(args[0]),
        ("uint", 1) => ToUInt(args[0]),
        ("double", 1) => ToDouble(args[0]),
        ("string", 1) => ToCelString(args[0]),
        ("bool", 1) => args[0] switch
        {
            bool b => b,
            string s when bool.TryParse(s, out var parsed) => parsed,
            _ => throw NoOverload(function, args),
        },
        ("type", 1) => CelValues.TypeName(args[0]),
        ("matches", 2) => Member(args[0], "matches", [args[1]]),
        _ => throw NoOverload(function, args),
    };

    public static object? Member(object? target, string function, IReadOnlyList<object?> args)
    {
        switch (function, target, args.Count)
        {
            case ("size", _, 0): return Size(target);
            case ("startsWith", string s, 1) when args[0] is string p: return s.StartsWith(p, StringComparison.Ordinal);
            case ("endsWith", string s, 1) when args[0] is string p: return s.EndsWith(p, StringComparison.Ordinal);
            case ("contains", string s, 1) when args[0] is string p: return s.Contains(p, StringComparison.Ordinal);
            case ("matches", string s, 1) when args[0] is string p: return Matches(s, p);
            case ("lowerAscii", string s, 0): return s.ToLowerInvariant();
            case ("upperAscii", string s, 0): return s.ToUpperInvariant();
            case ("trim", string s, 0): return s.Trim();
            case ("replace", string s, 2) when args is [string a, string b]: return s.Replace(a, b, StringComparison.Ordinal);
            case ("split", string s, 1) when args[0] is string sep: return s.Split(sep).Cast<object?>().ToList();
            case ("indexOf", string s, 1) when args[0] is string p: return (long)s.IndexOf(p, StringComparison.Ordinal);
            case ("join", IReadOnlyList<object?> list, 0): return string.Concat(list.Select(i => i as string ?? throw NoOverload(function, args)));
            case ("join", IReadOnlyList<object?> list, 1) when args[0] is string sep:
                return string.Join(sep, list.Select(i => i as string ?? throw NoOverload(function, args)));
            default: throw new CelException($"no such overload: {CelValues.TypeName(target)}.{function}({string.Join(", ", args.Select(CelValues.TypeName))})");
        }
    }

    private static long Size(object? value) => value switch
    {
        string s => s.EnumerateRunes().Count(),
        IReadOnlyList<object?> list => list.Count,
        IReadOnlyDictionary<string, object?> map => map.Count,
        _ => throw new CelException($"no such overload: size({CelValues.TypeName(value)})"),
    };

    private static bool Matches(string input, string pattern)
    {
        try
        {
            return Regex.IsMatch(input, pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        }
        catch (ArgumentException ex)
        {
            throw new CelException($"invalid regular expression: {ex.Message}");
        }
    }

    private static long ToInt(object? value)
    {
        try
        {
            return value switch
            {
                long l => l,
                ulong u => checked((long)u),
                double d when !double.IsNaN(d) => checked((long)Math.Truncate(d)),
                string s when long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed) => parsed,
                _ => throw new CelException($"no such overload: int({CelValues.TypeName(value)})"),
            };
        }
        catch (OverflowException)
        {
            throw new CelException("integer overflow");
        }
    }

    private static ulong ToUInt(object? value)
    {
        try
        {
            return value switch
            {
                ulong u => u,
                long l => checked((ulong)l),
                double d when !double.IsNaN(d) => checked((ulong)Math.Truncate(d)),
                string s when ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) => parsed,
                _ => throw new CelException($"no such overload: uint({CelValues.TypeName(value)})"),
            };
        }
        catch (OverflowException)
        {
            throw new CelException("unsigned integer overflow");
        }
    }

    private static double ToDouble(object? value) => value switch
    {
        string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
        not null when CelValues.IsNumber(value) => CelValues.ToDouble(value),
        _ => throw new CelException($"no such overload: double({CelValues.TypeName(value)})"),
    };

    private static string ToCelString(object? value) => value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        long or ulong => Convert.ToString(value, CultureInfo.InvariantCulture)!,
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        _ => throw new CelException($"no such overload: string({CelValues.TypeName(value)})"),
    };

    private static CelException NoOverload(string function, IReadOnlyList<object?> args)
        => new($"no such overload: {function}({string.Join(", ", args.Select(CelValues.TypeName))})");
}
