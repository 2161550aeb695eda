using System.ComponentModel.DataAnnotations;

namespace Midori.Operator.Http;

/// <summary>Server-sent events of previews, bound from <c>Api:Events</c>.</summary>
public sealed class PreviewEventsOptions
{
    public const string SectionName = "Api:Events";

    /// <summary>A comment line is written this often on an idle stream so proxies and load balancers keep it open.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Events queued per client; a client that falls this far behind is disconnected (it reconnects and resumes).</summary>
    [Range(4, 100_000)]
    public int ClientBufferSize { get; set; } = 256;

    /// <summary>Reconnect delay suggested to EventSource clients (<c>retry:</c>).</summary>
    [Range(100, 600_000)]
    public int RetryMilliseconds { get; set; } = 3_000;

    /// <summary>PostgreSQL NOTIFY channel carrying the leader's progress events to every replica (when the store is configured).</summary>
    [Required]
    [RegularExpression("^[a-z_][a-z0-9_]{0,62}$", ErrorMessage = "Api:Events:NotifyChannel must be a lowercase SQL identifier")]
    public string NotifyChannel { get; set; } = "midori_preview_events";
}
