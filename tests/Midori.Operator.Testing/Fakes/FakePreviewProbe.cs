using Midori.Operator.Providers;

namespace Midori.Operator.Testing.Fakes;

/// <summary>Health probe whose answer the test decides (healthy unless told otherwise).</summary>
public sealed class FakePreviewProbe : IPreviewProbe
{
    public bool Healthy { get; set; } = true;

    public int Calls { get; private set; }

    public Task<bool> IsHealthyAsync(Uri previewUrl, string? token, CancellationToken cancellationToken)
    {
        Calls++;
        return Task.FromResult(Healthy);
    }
}
