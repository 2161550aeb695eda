namespace Midori.Operator.Providers;

/// <summary>Seam for the health probe of a preview URL (the seeds' monitor: 404/502/503 or no answer means trouble).</summary>
public interface IPreviewProbe
{
    /// <summary>True when the preview answers like a live dev server.</summary>
    Task<bool> IsHealthyAsync(Uri previewUrl, string? token, CancellationToken cancellationToken);
}
