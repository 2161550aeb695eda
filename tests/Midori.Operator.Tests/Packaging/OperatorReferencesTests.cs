using System.Xml.Linq;
using Midori.Operator.Testing;

namespace Midori.Operator.Tests.Packaging;

/// <summary>The shipped operator must not carry the development control plane or test support, neither compiled in nor as a project reference.</summary>
[Trait("Category", "Packaging")]
public sealed class OperatorReferencesTests
{
    private static readonly string[] DevelopmentOnly = ["Midori.DevApiServer", "Midori.DevStack", "Midori.Operator.Testing"];

    [Fact]
    public void OperatorAssembly_ReferencesNoDevelopmentOrTestAssembly()
    {
        // arrange
        var operatorAssembly = typeof(Program).Assembly;

        // act
        var references = operatorAssembly.GetReferencedAssemblies().Select(r => r.Name!).ToList();

        // assert: it does reference its real dependencies (so the check reads real metadata), and none of the development ones
        Assert.Equal("Midori.Operator", operatorAssembly.GetName().Name);
        Assert.Contains("KubernetesClient", references);
        Assert.All(DevelopmentOnly, name => Assert.DoesNotContain(name, references));
        Assert.All(references, name => Assert.DoesNotMatch("Xunit|TimeProvider.Testing|Mvc.Testing", name));
    }

    [Fact]
    public void OperatorProject_HasNoProjectReferences()
    {
        // arrange
        var project = XDocument.Load(Path.Combine(RepositoryPaths.Root, "src", "Midori.Operator", "Midori.Operator.csproj"));

        // act
        var projectReferences = project.Descendants("ProjectReference").Select(r => (string?)r.Attribute("Include")).ToList();

        // assert
        Assert.Empty(projectReferences);
    }

    [Fact]
    public void OperatorAssembly_ContainsNoDevelopmentApiServerTypes()
    {
        // act
        var namespaces = typeof(Program).Assembly.GetTypes().Select(t => t.Namespace ?? "").Distinct().ToList();

        // assert
        Assert.DoesNotContain(namespaces, n => n.StartsWith("Midori.DevApiServer", StringComparison.Ordinal) || n.StartsWith("Midori.Operator.Testing", StringComparison.Ordinal));
        Assert.Contains(namespaces, n => n.StartsWith("Midori.Operator.Controllers", StringComparison.Ordinal));
    }
}
