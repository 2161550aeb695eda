using System.Reflection;
using System.Reflection.Emit;

namespace Midori.Operator.Tests;

/// <summary>
/// The operator's top-level folders (namespaces) depend on each other one way only. Read from the compiled assembly:
/// for every type, the types in its signatures (base type, interfaces, fields, properties, method parameters and
/// returns, generic arguments) and every type, method and field its IL refers to, nested and compiler-generated types
/// counted with the type they belong to. The composition root (namespace <c>Midori.Operator</c>: Program,
/// HostingExtensions) may use everything.
/// </summary>
public sealed class NamespaceDirectionTests
{
    /// <summary>What each folder may use besides itself. Lower layers first.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        // The contract (CRD types, names) and the small leaves everything shares.
        ["Api"] = [],
        ["Options"] = ["Api"],
        ["Files"] = ["Api"],
        ["Diagnostics"] = ["Api", "Options"],

        // The two seams to the outside that must not know who uses them.
        ["Providers"] = ["Api", "Options", "Files", "Diagnostics"],
        ["Persistence"] = ["Api", "Options", "Files", "Diagnostics"],
        ["Kubernetes"] = ["Api", "Options", "Diagnostics"],

        // The controller runtime: informer, caches, queue, workers, leader election, fences.
        ["Runtime"] = ["Api", "Options", "Files", "Diagnostics", "Providers", "Persistence", "Kubernetes"],
        ["Controllers"] = ["Api", "Options", "Files", "Diagnostics", "Providers", "Persistence", "Kubernetes", "Runtime"],

        // The two front doors: the editor's HTTP API, and the preview gateway (which shares the API's auth and services).
        ["Http"] = ["Api", "Options", "Files", "Diagnostics", "Providers", "Persistence", "Kubernetes", "Runtime", "Controllers"],
        ["Gateway"] = ["Api", "Options", "Files", "Diagnostics", "Providers", "Persistence", "Kubernetes", "Runtime", "Controllers", "Http"],
    };

    private static readonly Assembly Operator = typeof(HostingExtensions).Assembly;

    [Fact]
    public void EveryTopLevelFolder_HasADeclaredPlace()
    {
        var folders = Operator.GetTypes().Select(t => Folder(t)).OfType<string>().Distinct().Order();

        Assert.Equal(Allowed.Keys.Order(), folders);
    }

    [Fact]
    public void References_PointOnlyDownTheLayers()
    {
        var violations = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in Operator.GetTypes())
        {
            if (Folder(type) is not { } from)
            {
                continue;
            }

            foreach (var used in ReferencedTypes(type))
            {
                if (Folder(used) is { } to && to != from && !Allowed[from].Contains(to))
                {
                    violations.Add($"{from} → {to}: {Outermost(type).FullName} uses {Outermost(used).FullName}");
                }
            }
        }

        Assert.True(violations.Count == 0, "References against the direction:\n" + string.Join('\n', violations));
    }

    [Fact]
    public void TheScanSeesReferencesInSignaturesAndInMethodBodies()
    {
        // Controllers' reconciler takes a Kubernetes seam in its constructor and calls a Runtime type in its body.
        var reconciler = Operator.GetType("Midori.Operator.Controllers.PreviewSandboxReconciler", throwOnError: true)!;
        var used = ReferencedTypes(reconciler).Select(t => t.FullName).ToHashSet();

        Assert.Contains("Midori.Operator.Kubernetes.IPreviewSandboxClient", used);
        Assert.Contains("Midori.Operator.Runtime.ReconcileResult", used);
    }

    /// <summary>First namespace segment under Midori.Operator; null for the composition root and for other assemblies' types.</summary>
    private static string? Folder(Type type)
    {
        type = Outermost(type);
        if (type.Assembly != Operator || type.Namespace is not { } ns || !ns.StartsWith("Midori.Operator.", StringComparison.Ordinal))
        {
            return null;
        }

        var rest = ns["Midori.Operator.".Length..];
        var dot = rest.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? rest : rest[..dot];
    }

    private static Type Outermost(Type type)
    {
        while (type.DeclaringType is { } outer)
        {
            type = outer;
        }

        return type;
    }

    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static HashSet<Type> ReferencedTypes(Type type)
    {
        var found = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t is null)
            {
                return;
            }

            if (t.HasElementType)
            {
                Add(t.GetElementType());
                return;
            }

            if (t.IsGenericParameter || !found.Add(t))
            {
                return;
            }

            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                Add(t.GetGenericTypeDefinition());
                foreach (var argument in t.GetGenericArguments())
                {
                    Add(argument);
                }
            }
        }

        foreach (var nested in new[] { type }.Concat(AllNested(type)))
        {
            Add(nested.BaseType);
            foreach (var i in nested.GetInterfaces())
            {
                Add(i);
            }

            foreach (var field in nested.GetFields(Declared))
            {
                Add(field.FieldType);
            }

            foreach (var property in nested.GetProperties(Declared))
            {
                Add(property.PropertyType);
            }

            foreach (var method in nested.GetMethods(Declared).Cast<MethodBase>().Concat(nested.GetConstructors(Declared)))
            {
                if (method is MethodInfo info)
                {
                    Add(info.ReturnType);
                }

                foreach (var parameter in method.GetParameters())
                {
                    Add(parameter.ParameterType);
                }

                foreach (var member in MembersInBody(method))
                {
                    switch (member)
                    {
                        case Type t:
                            Add(t);
                            break;
                        case FieldInfo f:
                            Add(f.DeclaringType);
                            Add(f.FieldType);
                            break;
                        case MethodBase m:
                            Add(m.DeclaringType);
                            if (m is MethodInfo mi)
                            {
                                Add(mi.ReturnType);
                            }

                            foreach (var p in m.GetParameters())
                            {
                                Add(p.ParameterType);
                            }

                            break;
                    }
                }
            }
        }

        found.Remove(type);
        return found;
    }

    private static IEnumerable<Type> AllNested(Type type) =>
        type.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic).SelectMany(n => new[] { n }.Concat(AllNested(n)));

    private static readonly OpCode[] OneByte = new OpCode[0x100];
    private static readonly OpCode[] TwoByte = new OpCode[0x100];

    static NamespaceDirectionTests()
    {
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var code = (OpCode)field.GetValue(null)!;
            var value = (ushort)code.Value;
            if (value < 0x100)
            {
                OneByte[value] = code;
            }
            else if ((value & 0xff00) == 0xfe00)
            {
                TwoByte[value & 0xff] = code;
            }
        }
    }

    /// <summary>The types, fields and methods a method body's IL refers to (call, newobj, ldfld, castclass, ldtoken, …).</summary>
    private static IEnumerable<MemberInfo> MembersInBody(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            yield break;
        }

        var typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var i = 0;
        while (i < il.Length)
        {
            OpCode code;
            if (il[i] == 0xfe)
            {
                code = TwoByte[il[i + 1]];
                i += 2;
            }
            else
            {
                code = OneByte[il[i]];
                i++;
            }

            switch (code.OperandType)
            {
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    i += 8;
                    break;
                case OperandType.InlineSwitch:
                    i += 4 + (4 * BitConverter.ToInt32(il, i));
                    break;
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    var token = BitConverter.ToInt32(il, i);
                    i += 4;
                    if (Resolve(method.Module, token, typeArguments, methodArguments) is { } member)
                    {
                        yield return member;
                    }

                    break;
                default: // InlineBrTarget, InlineI, ShortInlineR, InlineString, InlineSig
                    i += 4;
                    break;
            }
        }
    }

    private static MemberInfo? Resolve(Module module, int token, Type[]? typeArguments, Type[]? methodArguments)
    {
        try
        {
            return module.ResolveMember(token, typeArguments, methodArguments);
        }
        catch (ArgumentException)
        {
            // A member of a generic type instantiated over the method's own type parameters: resolved without context below.
        }

        try
        {
            return module.ResolveMember(token);
        }
        catch (Exception ex) when (ex is ArgumentException or TypeLoadException or FileNotFoundException or BadImageFormatException)
        {
            return null; // outside the operator's assembly and not loadable here: not a folder anyway
        }
    }
}
