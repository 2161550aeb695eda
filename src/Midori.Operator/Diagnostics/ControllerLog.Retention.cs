using Microsoft.Extensions.Logging;

namespace Midori.Operator.Diagnostics;

/// <summary>Retention log messages: 2900–2949, the end of the reconciler's range (<see cref="LogEventIds"/>).</summary>
internal static partial class ControllerLog
{
    [LoggerMessage(EventId = 2900, Level = LogLevel.Information, Message = "Deleting PreviewSandbox after its retention as {Phase}: {Message}")]
    public static partial void RetentionDeleting(this ILogger logger, string phase, string message);
}
