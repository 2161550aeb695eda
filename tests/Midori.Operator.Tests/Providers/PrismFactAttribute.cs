using Midori.Operator.Testing.Contracts;

namespace Midori.Operator.Tests.Providers;

/// <summary>A fact that needs Prism: skips with the reason when it is missing, but fails under CI (CI=true installs it).</summary>
public sealed class PrismFactAttribute : Xunit.FactAttribute
{
    public PrismFactAttribute()
    {
        if (PrismMock.FindPrism(out var reason) is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = reason;
        }
    }
}
