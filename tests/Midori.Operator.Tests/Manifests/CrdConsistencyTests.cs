using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.Manifests;

/// <summary>
/// Keeps the hand-written CRD honest (house rule 7): a property the schema lacks is silently pruned by a real API
/// server, and a schema property the C# types lack is dropped by the operator's own round trips.
/// </summary>
public sealed class CrdConsistencyTests
{
    private static readonly V1CustomResourceDefinition Crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(File.ReadAllText(RepositoryPaths.CrdFile));

    private static V1JSONSchemaProps Root => Crd.Spec.Versions.Single().Schema.OpenAPIV3Schema;

    [Fact]
    public void Crd_Names_MatchTheContract()
    {
        // assert
        Assert.Equal($"{GroupVersion.Plural}.{GroupVersion.Group}", Crd.Metadata.Name);
        Assert.Equal((GroupVersion.Group, "Namespaced"), (Crd.Spec.Group, Crd.Spec.Scope));
        Assert.Equal((GroupVersion.Kind, GroupVersion.ListKind, GroupVersion.Plural, GroupVersion.Singular),
            (Crd.Spec.Names.Kind, Crd.Spec.Names.ListKind, Crd.Spec.Names.Plural, Crd.Spec.Names.Singular));
        Assert.Equal([GroupVersion.ShortName], Crd.Spec.Names.ShortNames);
        var version = Crd.Spec.Versions.Single();
        Assert.Equal(GroupVersion.Version, version.Name);
        Assert.True(version.Served && version.Storage);
        Assert.NotNull(version.Subresources.Status);
        Assert.Equal(["Phase", "Ready", "Provider", "URL", "Expires", "Age"], version.AdditionalPrinterColumns.Where(c => (c.Priority ?? 0) == 0).Select(c => c.Name));
    }

    [Fact]
    public void PrinterColumns_ExpiresIsNoDateColumn_AndWideAddsProjectSandboxRecreationsIdleDeadline()
    {
        // arrange
        var columns = Crd.Spec.Versions.Single().AdditionalPrinterColumns;

        // assert: the server renders a future time in a date column as "<invalid>"
        Assert.Equal(("string", "date-time"), (columns.Single(c => c.Name == "Expires").Type, columns.Single(c => c.Name == "Expires").Format));
        Assert.Equal(
            [("Project", ".spec.projectId"), ("Sandbox", ".status.sandboxId"), ("Recreations", ".status.recreations"), ("Idle-Deadline", ".status.idleDeadline"),
             ("On-Idle", ".spec.lifecycle.onIdle"), ("Paused-At", ".status.pausedAt")],
            columns.Where(c => c.Priority == 1).Select(c => (c.Name, c.JsonPath)));
        Assert.Equal(("string", "date-time"), (columns.Single(c => c.Name == "Paused-At").Type, columns.Single(c => c.Name == "Paused-At").Format));
    }

    [Fact]
    public void Schema_Lifecycle_DefaultsKeepTodaysBehaviour_AndPhasePausedExists()
    {
        // arrange
        var lifecycle = Root.Properties["spec"].Properties["lifecycle"];
        string Default(string property) => KubernetesJson.Serialize(lifecycle.Properties[property].DefaultProperty);

        // assert: both cuts delete unless asked otherwise, and the C# defaults agree with the schema's
        Assert.Equal("{}", KubernetesJson.Serialize(lifecycle.DefaultProperty));
        Assert.Equal(("\"Delete\"", "\"Delete\""), (Default("onIdle"), Default("onExpire")));
        Assert.All(new[] { "onIdle", "onExpire" }, p => Assert.Equal(["Delete", "Pause"], lifecycle.Properties[p].EnumProperty.Select(e => e.ToString())));
        var effective = new PreviewSandboxLifecycle();
        Assert.Equal((LifecycleActions.Delete, LifecycleActions.Delete), (effective.EffectiveOnIdle(), effective.EffectiveOnExpire()));
        Assert.Equal(
            (Default("pausedRetentionSeconds"), Default("minRunningSeconds"), Default("expiryWarningSeconds")),
            (effective.EffectivePausedRetentionSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
             effective.EffectiveMinRunningSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
             effective.EffectiveExpiryWarningSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Contains(Phases.Paused, Root.Properties["status"].Properties["phase"].EnumProperty.Select(e => e.ToString()));
    }

    [Fact]
    public void Schema_EverySpecField_IsDescribed_WithItsDefaultAndBounds()
    {
        // arrange
        var problems = new List<string>();
        void Walk(string path, V1JSONSchemaProps node)
        {
            var description = node.Description ?? string.Empty;
            if (description.Length == 0)
            {
                problems.Add($"{path}: no description");
            }

            if (node.Type != "object" && node.DefaultProperty is { } value && value.ToString() is { Length: > 0 } text
                && !description.Contains($"Default {text}", StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"{path}: description does not state its default {text}");
            }

            var bounds = new List<string>();
            foreach (var rule in node.XKubernetesValidations ?? [])
            {
                if (System.Text.RegularExpressions.Regex.Match(rule.Rule, @"^self >= (\d+) && self <= (\d+)$") is { Success: true } range)
                {
                    bounds.Add($"{range.Groups[1].Value} to {range.Groups[2].Value}");
                }
            }

            if (node.Minimum is { } min && node.Maximum is { } max)
            {
                bounds.Add($"{min} to {max}");
            }

            problems.AddRange(bounds.Where(b => !description.Contains(b, StringComparison.Ordinal)).Select(b => $"{path}: description does not state the range {b}"));
            foreach (var (name, child) in node.Properties ?? new Dictionary<string, V1JSONSchemaProps>())
            {
                Walk($"{path}.{name}", child);
            }

            if (node.Items is V1JSONSchemaProps items)
            {
                foreach (var (name, child) in items.Properties ?? new Dictionary<string, V1JSONSchemaProps>())
                {
                    Walk($"{path}[].{name}", child);
                }
            }
        }

        // act
        Walk("spec", Root.Properties["spec"]);

        // assert
        Assert.Empty(problems);
    }

    [Theory]
    [InlineData("spec", typeof(PreviewSandboxSpec))]
    [InlineData("status", typeof(PreviewSandboxStatus))]
    public void Schema_AndCSharpTypes_HaveTheSameProperties(string root, Type type)
    {
        // arrange
        var problems = new List<string>();

        // act
        Compare(root, Root.Properties[root], type, problems);

        // assert
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Theory]
    [InlineData("ttlSeconds", 1800L)]
    [InlineData("idleTimeoutSeconds", 300L)]
    [InlineData("port", 3000L)]
    public void Schema_Defaults_MatchTheContract(string property, long expected)
    {
        // assert
        Assert.Equal(expected.ToString(System.Globalization.CultureInfo.InvariantCulture), KubernetesJson.Serialize(Root.Properties["spec"].Properties[property].DefaultProperty));
    }

    [Fact]
    public void Schema_CelRules_CoverImmutabilityBoundsAndSource()
    {
        // arrange
        var spec = Root.Properties["spec"];
        var rules = Flatten(spec).SelectMany(s => s.XKubernetesValidations ?? []).Select(v => v.Rule).ToList();

        // assert
        Assert.Contains("self == oldSelf", spec.Properties["projectId"].XKubernetesValidations.Select(v => v.Rule));
        Assert.Contains(rules, r => r.Contains("oldSelf.provider", StringComparison.Ordinal));
        Assert.Contains(rules, r => r.Contains("has(self.snapshotId)", StringComparison.Ordinal) && r.Contains("has(self.configMapRef)", StringComparison.Ordinal));
        Assert.All(new[] { "ttlSeconds", "idleTimeoutSeconds" }, p => Assert.NotEmpty(spec.Properties[p].XKubernetesValidations));
        Assert.All(new[] { "pausedRetentionSeconds", "minRunningSeconds", "expiryWarningSeconds" },
            p => Assert.NotEmpty(spec.Properties["lifecycle"].Properties[p].XKubernetesValidations));
        Assert.Contains(rules, r => r.Contains("self.lifecycle.minRunningSeconds < self.ttlSeconds", StringComparison.Ordinal));
    }

    public static TheoryData<string> Samples() => [.. Directory.GetFiles(RepositoryPaths.SamplesDirectory, "*.yaml").Where(f => !f.EndsWith("kustomization.yaml", StringComparison.Ordinal) && !f.Contains("previewsandboxpolicy", StringComparison.Ordinal) && !f.Contains("previewsandboxpool", StringComparison.Ordinal)).Select(f => Path.GetFileName(f))];

    [Theory]
    [MemberData(nameof(Samples))]
    public void Sample_DeserializesAndRoundTripsWithoutLosingFields(string file)
    {
        // arrange
        var yaml = File.ReadAllText(Path.Combine(RepositoryPaths.SamplesDirectory, file));
        var documents = KubernetesYaml.LoadAllFromString(yaml, new Dictionary<string, Type>
        {
            [$"{GroupVersion.ApiVersion}/{GroupVersion.Kind}"] = typeof(V1Alpha1PreviewSandbox),
            ["v1/ConfigMap"] = typeof(V1ConfigMap),
        });

        // act
        var sandboxes = documents.OfType<V1Alpha1PreviewSandbox>().ToList();

        // assert
        Assert.NotEmpty(sandboxes);
        foreach (var sandbox in sandboxes)
        {
            Assert.False(string.IsNullOrEmpty(sandbox.Spec.ProjectId));
            var roundTripped = Leaves(JsonNode.Parse(KubernetesJson.Serialize(sandbox)));
            var original = YamlLeaves(yaml, sandbox.Metadata.Name);
            Assert.Equal(original, roundTripped);
        }
    }

    /// <summary>Every scalar of the sample's YAML document, by JSON-pointer-like path.</summary>
    private static SortedDictionary<string, string> YamlLeaves(string yaml, string name)
    {
        var stream = new YamlDotNet.RepresentationModel.YamlStream();
        stream.Load(new StringReader(yaml));
        var document = stream.Documents.Select(d => (YamlDotNet.RepresentationModel.YamlMappingNode)d.RootNode)
            .Single(d => d.Children.TryGetValue("kind", out var kind) && kind.ToString() == GroupVersion.Kind
                && ((YamlDotNet.RepresentationModel.YamlMappingNode)d.Children["metadata"]).Children["name"].ToString() == name);
        var leaves = new SortedDictionary<string, string>(StringComparer.Ordinal);
        Walk(document, string.Empty);
        return leaves;

        void Walk(YamlDotNet.RepresentationModel.YamlNode node, string path)
        {
            switch (node)
            {
                case YamlDotNet.RepresentationModel.YamlMappingNode map:
                    foreach (var (key, value) in map.Children)
                    {
                        Walk(value, $"{path}/{key}");
                    }

                    break;
                case YamlDotNet.RepresentationModel.YamlSequenceNode list:
                    for (var i = 0; i < list.Children.Count; i++)
                    {
                        Walk(list.Children[i], $"{path}/{i}");
                    }

                    break;
                default:
                    leaves[path] = node.ToString();
                    break;
            }
        }
    }

    private static SortedDictionary<string, string> Leaves(JsonNode? root)
    {
        var leaves = new SortedDictionary<string, string>(StringComparer.Ordinal);
        Walk(root, string.Empty);
        return leaves;

        void Walk(JsonNode? node, string path)
        {
            switch (node)
            {
                case JsonObject obj:
                    foreach (var (key, value) in obj)
                    {
                        Walk(value, $"{path}/{key}");
                    }

                    break;
                case JsonArray array:
                    for (var i = 0; i < array.Count; i++)
                    {
                        Walk(array[i], $"{path}/{i}");
                    }

                    break;
                case JsonValue value:
                    leaves[path] = value.ToString();
                    break;
            }
        }
    }

    private static V1JSONSchemaProps? Items(V1JSONSchemaProps schema) =>
        schema.Items is null ? null : KubernetesJson.Deserialize<V1JSONSchemaProps>(KubernetesJson.Serialize(schema.Items));

    private static IEnumerable<V1JSONSchemaProps> Flatten(V1JSONSchemaProps schema)
    {
        yield return schema;
        foreach (var child in (schema.Properties?.Values ?? []).Concat(Items(schema) is { } items ? [items] : []))
        {
            foreach (var nested in Flatten(child))
            {
                yield return nested;
            }
        }
    }

    internal static void Compare(string path, V1JSONSchemaProps schema, Type type, List<string> problems)
    {
        if (schema.Type != "object" || schema.Properties is null)
        {
            problems.Add($"{path}: schema is not an object with properties");
            return;
        }

        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() is null)
            .ToDictionary(p => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? p.Name, p => p.PropertyType);

        foreach (var name in schema.Properties.Keys.Except(properties.Keys))
        {
            problems.Add($"{path}.{name}: in the schema but not in {type.Name}");
        }

        foreach (var (name, propertyType) in properties)
        {
            if (!schema.Properties.TryGetValue(name, out var child))
            {
                problems.Add($"{path}.{name}: in {type.Name} but not in the schema (a real API server would prune it)");
                continue;
            }

            var elementType = Nullable.GetUnderlyingType(propertyType) ?? propertyType;
            if (elementType != typeof(string) && typeof(IEnumerable).IsAssignableFrom(elementType) && elementType.IsGenericType)
            {
                if (child.Type != "array")
                {
                    problems.Add($"{path}.{name}: list in C#, '{child.Type}' in the schema");
                    continue;
                }

                elementType = elementType.GetGenericArguments()[0];
                child = Items(child)!;
            }

            var expected = ExpectedSchemaType(elementType);
            if (expected != child.Type)
            {
                problems.Add($"{path}.{name}: {elementType.Name} in C# expects '{expected}', schema says '{child.Type}'");
            }
            else if (expected == "object" && elementType != typeof(V1Condition))
            {
                Compare($"{path}.{name}", child, elementType, problems);
            }
        }
    }

    private static string ExpectedSchemaType(Type type) => type switch
    {
        _ when type == typeof(string) || type == typeof(DateTime) => "string",
        _ when type == typeof(int) || type == typeof(long) => "integer",
        _ when type == typeof(bool) => "boolean",
        _ => "object",
    };
}
