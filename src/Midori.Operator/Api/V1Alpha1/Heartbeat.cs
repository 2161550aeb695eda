using System.Globalization;

namespace Midori.Operator.Api.V1Alpha1;

/// <summary>The value of <see cref="GroupVersion.HeartbeatAnnotation"/>: an RFC 3339 time (no offset means UTC).</summary>
public static class Heartbeat
{
    public static bool TryParse(string? raw, out DateTimeOffset time) =>
        DateTimeOffset.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);

    /// <summary>The annotation's raw value; null when absent.</summary>
    public static string? Raw(V1Alpha1PreviewSandbox resource) =>
        resource.Metadata.Annotations?.TryGetValue(GroupVersion.HeartbeatAnnotation, out var raw) == true ? raw : null;

    /// <summary>The annotation's time; null when absent or not a time.</summary>
    public static DateTimeOffset? Read(V1Alpha1PreviewSandbox resource) => TryParse(Raw(resource), out var time) ? time : null;

    /// <summary>
    /// RFC 3339 UTC with milliseconds. Whole seconds would not do: a heartbeat just after an expiry would be written as
    /// a time before status.endedAt and would not wake the preview.
    /// </summary>
    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
