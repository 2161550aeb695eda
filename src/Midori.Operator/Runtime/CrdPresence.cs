using System.Net;
using k8s.Autorest;
using Midori.Operator.Diagnostics;

namespace Midori.Operator.Runtime;

/// <summary>
/// Whether the PreviewSandbox CRD is served, as the list/watch loops find out. A missing CRD is a setup step rather
/// than a fault: it is said once, with how to install it, and the loops keep retrying quietly until it appears (so
/// installing the CRD after the operator needs no restart). Shared by every loop so the message appears once per process.
/// </summary>
public sealed class CrdPresence(ILogger<CrdPresence> logger)
{
    private int _missing;

    /// <summary>
    /// A 404 on a list or watch of a custom resource means the API server does not serve the type (a list in a
    /// namespace that does not exist is empty, not 404).
    /// </summary>
    public static bool IsMissing(Exception exception) =>
        exception is HttpOperationException { Response.StatusCode: HttpStatusCode.NotFound };

    /// <summary>A list or watch was answered 404; <paramref name="retryIn"/> is when the loop looks again.</summary>
    public void ReportMissing(TimeSpan retryIn)
    {
        if (Interlocked.Exchange(ref _missing, 1) == 0)
        {
            logger.CrdMissing(Rounded(retryIn));
        }
        else
        {
            logger.CrdStillMissing(Rounded(retryIn));
        }
    }

    /// <summary>A list succeeded: the CRD is served (said once if it had been missing).</summary>
    public void ReportPresent()
    {
        if (Interlocked.Exchange(ref _missing, 0) == 1)
        {
            logger.CrdInstalled();
        }
    }

    private static TimeSpan Rounded(TimeSpan delay) => TimeSpan.FromSeconds(Math.Ceiling(delay.TotalSeconds));
}
