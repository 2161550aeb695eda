namespace Midori.Operator.Gateway;

/// <summary>Log messages of the preview gateway (4700–4799, <see cref="Diagnostics.LogEventIds"/>).</summary>
internal static partial class GatewayLog
{
    [LoggerMessage(EventId = 4700, Level = LogLevel.Warning, Message = "No gateway signing key is configured; using a random key of this process (links stop working on restart and on other replicas)")]
    public static partial void GatewayEphemeralKey(this ILogger logger);

    [LoggerMessage(EventId = 4701, Level = LogLevel.Warning, Message = "Ignored gateway key file {KeyId}: not base64 of at least 32 bytes")]
    public static partial void GatewayKeyFileIgnored(this ILogger logger, string keyId);

    [LoggerMessage(EventId = 4702, Level = LogLevel.Debug, Message = "Refused a gateway request for {Namespace}/{Name}: {Reason}")]
    public static partial void GatewayRefused(this ILogger logger, string @namespace, string name, string reason);

    [LoggerMessage(EventId = 4703, Level = LogLevel.Information, Message = "Woke {Namespace}/{Name} on traffic")]
    public static partial void GatewayWoke(this ILogger logger, string @namespace, string name);

    [LoggerMessage(EventId = 4704, Level = LogLevel.Debug, Message = "Upstream of {Namespace}/{Name} failed ({Error}) on sandbox {SandboxId}; waiting for a serving sandbox")]
    public static partial void GatewayUpstreamRetry(this ILogger logger, string @namespace, string name, string error, string? sandboxId);

    [LoggerMessage(EventId = 4705, Level = LogLevel.Warning, Message = "Upstream of {Namespace}/{Name} failed ({Error}) after the response started")]
    public static partial void GatewayUpstreamFailed(this ILogger logger, Exception? exception, string @namespace, string name, string error);

    [LoggerMessage(EventId = 4706, Level = LogLevel.Warning, Message = "Recording traffic activity of {Namespace}/{Name} failed")]
    public static partial void GatewayActivityFailed(this ILogger logger, Exception exception, string @namespace, string name);

    [LoggerMessage(EventId = 4709, Level = LogLevel.Warning, Message = "Traffic activity of {Namespace}/{Name} was not recorded: {Reason}")]
    public static partial void GatewayActivityRefused(this ILogger logger, string @namespace, string name, string reason);

    [LoggerMessage(EventId = 4707, Level = LogLevel.Information, Message = "Held a request for {Namespace}/{Name} past {Hold}: {Phase}")]
    public static partial void GatewayHoldExpired(this ILogger logger, string @namespace, string name, TimeSpan hold, string? phase);

    [LoggerMessage(EventId = 4708, Level = LogLevel.Information, Message = "Upstream of {Namespace}/{Name} did not take the request ({Error}; could be sent again: {Resendable}); answered 503 with Retry-After")]
    public static partial void GatewayUpstreamUnavailable(this ILogger logger, string @namespace, string name, string error, bool resendable);
}
