using System.Reflection;
using Midori.Operator.Persistence;

namespace Midori.Operator.Tests.Persistence;

/// <summary>Only <c>Midori.Operator.Persistence</c> speaks to PostgreSQL: no other type of the operator names an Npgsql type.</summary>
public sealed class NpgsqlBoundaryTests
{
    private const BindingFlags Members = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    [Fact]
    public void NoTypeOutsidePersistence_ReferencesNpgsql()
    {
        // arrange
        var assembly = typeof(IPreviewStore).Assembly;
        var outside = assembly.GetTypes().Where(t => !(t.Namespace ?? string.Empty).StartsWith("Midori.Operator.Persistence", StringComparison.Ordinal)).ToList();

        // act: every type a signature, field, base, interface or local variable (async state machines included) names
        var offenders = outside
            .SelectMany(type => ReferencedTypes(type).Where(IsNpgsql).Select(used => $"{type.FullName} → {used.FullName}"))
            .Distinct(StringComparer.Ordinal)
            .ToList();

        // assert
        Assert.True(outside.Count > 100, $"only {outside.Count} types outside Persistence were inspected");
        Assert.Empty(offenders);
    }

    [Fact]
    public void TheCheck_SeesNpgsqlInsidePersistence()
    {
        // arrange: the check must not be blind; the PostgreSQL store does use Npgsql
        var store = typeof(PostgresStoreNotifications);

        // act
        var used = ReferencedTypes(store).Concat(store.GetNestedTypes(Members).SelectMany(ReferencedTypes)).Where(IsNpgsql).ToList();

        // assert
        Assert.Contains(used, t => t.Name == "NpgsqlDataSource");
    }

    private static bool IsNpgsql(Type type) =>
        type.Assembly.GetName().Name?.StartsWith("Npgsql", StringComparison.Ordinal) == true
        || type.IsGenericType && !type.IsGenericTypeDefinition && type.GetGenericArguments().Any(IsNpgsql)
        || type.HasElementType && IsNpgsql(type.GetElementType()!);

    private static IEnumerable<Type> ReferencedTypes(Type type)
    {
        if (type.BaseType is { } baseType)
        {
            yield return baseType;
        }

        foreach (var contract in type.GetInterfaces())
        {
            yield return contract;
        }

        foreach (var field in type.GetFields(Members))
        {
            yield return field.FieldType;
        }

        foreach (var property in type.GetProperties(Members))
        {
            yield return property.PropertyType;
        }

        foreach (var method in type.GetMethods(Members).Cast<MethodBase>().Concat(type.GetConstructors(Members)))
        {
            if (method is MethodInfo { ReturnType: var returns })
            {
                yield return returns;
            }

            foreach (var parameter in method.GetParameters())
            {
                yield return parameter.ParameterType;
            }

            foreach (var local in method.GetMethodBody()?.LocalVariables ?? [])
            {
                yield return local.LocalType;
            }
        }
    }
}
