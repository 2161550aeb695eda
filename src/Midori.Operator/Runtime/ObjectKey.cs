namespace Midori.Operator.Runtime;

/// <summary>Queue key of a namespaced object: <c>namespace/name</c>.</summary>
public readonly record struct ObjectKey(string Namespace, string Name)
{
    public override string ToString() => $"{Namespace}/{Name}";
}
