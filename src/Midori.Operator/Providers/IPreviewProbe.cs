namespace Midori.Operator.Providers;

/// <summary>Seam for the health probe of a preview URL (404/502/503 or no answer means trouble: a dead or broken dev server as seen from outside).</summary>
public interface IPreviewProbe
{
    /// <summary>True when the preview answers like a live dev server.</summary>
    Task<bool> IsHealthyAsync(Uri previewUrl, string? token, CancellationToken cancellationToken);
}
