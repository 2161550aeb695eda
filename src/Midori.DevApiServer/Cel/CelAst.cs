namespace Midori.DevApiServer.Cel;

/// <summary>CEL syntax tree. Macros (has, all, exists, ...) get their own nodes because they bind variables or do not evaluate their argument.</summary>
internal abstract record CelExpr;

internal sealed record CelLiteral(object? Value) : CelExpr;

internal sealed record CelIdent(string Name) : CelExpr;

internal sealed record CelSelect(CelExpr Operand, string Field) : CelExpr;

internal sealed record CelIndex(CelExpr Operand, CelExpr Index) : CelExpr;

/// <summary>A function call; <see cref="Target"/> is set for method-style calls (<c>x.size()</c>).</summary>
internal sealed record CelCall(CelExpr? Target, string Function, IReadOnlyList<CelExpr> Args) : CelExpr;

internal sealed record CelUnary(string Operator, CelExpr Operand) : CelExpr;

internal sealed record CelBinary(string Operator, CelExpr Left, CelExpr Right) : CelExpr;

internal sealed record CelConditional(CelExpr Condition, CelExpr WhenTrue, CelExpr WhenFalse) : CelExpr;

internal sealed record CelListLiteral(IReadOnlyList<CelExpr> Items) : CelExpr;

internal sealed record CelMapLiteral(IReadOnlyList<(CelExpr Key, CelExpr Value)> Entries) : CelExpr;

/// <summary><c>has(a.b)</c>: tests presence of field b without evaluating it.</summary>
internal sealed record CelHas(CelExpr Operand, string Field) : CelExpr;

/// <summary>Comprehension macros: all, exists, exists_one, filter, map (with optional filter).</summary>
internal sealed record CelComprehension(string Macro, CelExpr Range, string Variable, CelExpr Predicate, CelExpr? Transform) : CelExpr;
