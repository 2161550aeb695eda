namespace Midori.DevApiServer.Cel;

/// <summary>A compiled CEL expression: parsed once (when its CRD is applied), evaluated many times.</summary>
public sealed class CelProgram
{
    private readonly CelExpr _expr;

    private CelProgram(string source, CelExpr expr)
    {
        Source = source;
        _expr = expr;
        ReferencesOldSelf = References(expr, "oldSelf");
    }

    public string Source { get; }

    /// <summary>True for transition rules, which the API server evaluates only on update when an old value exists.</summary>
    public bool ReferencesOldSelf { get; }

    /// <exception cref="CelException">The expression does not parse.</exception>
    public static CelProgram Compile(string source) => new(source, CelParser.Parse(source));

    /// <summary>Evaluates with the given variables (values in the shape of <see cref="CelValues"/>).</summary>
    /// <exception cref="CelException">Evaluation failed (e.g. "no such key").</exception>
    public object? Evaluate(IReadOnlyDictionary<string, object?> variables) => CelEvaluator.Evaluate(_expr, variables);

    private static bool References(CelExpr expr, string name) => expr switch
    {
        CelIdent ident => ident.Name == name,
        CelSelect s => References(s.Operand, name),
        CelIndex i => References(i.Operand, name) || References(i.Index, name),
        CelHas h => References(h.Operand, name),
        CelUnary u => References(u.Operand, name),
        CelBinary b => References(b.Left, name) || References(b.Right, name),
        CelConditional c => References(c.Condition, name) || References(c.WhenTrue, name) || References(c.WhenFalse, name),
        CelListLiteral l => l.Items.Any(i => References(i, name)),
        CelMapLiteral m => m.Entries.Any(e => References(e.Key, name) || References(e.Value, name)),
        CelComprehension c => References(c.Range, name) || (c.Variable != name && (References(c.Predicate, name) || (c.Transform is not null && References(c.Transform, name)))),
        CelCall call => (call.Target is not null && References(call.Target, name)) || call.Args.Any(a => References(a, name)),
        _ => false,
    };
}
