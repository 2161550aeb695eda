using Midori.Operator.Api.V1Alpha1;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Midori.Operator.Providers.Daytona;

// Wire shapes of Daytona's control-plane and toolbox APIs, reduced to the fields the provider reads or
// writes. Reading is tolerant (unknown fields ignored, enums and dates kept as strings and parsed leniently); writing
// omits nulls so optional fields the API does not require are never sent empty.

/// <summary><c>CreateSandbox</c> (components.schemas.CreateSandbox; all fields optional).</summary>
internal sealed record DaytonaCreateSandbox
{
    public string? Name { get; init; }

    public string? Snapshot { get; init; }

    public DaytonaBuildInfo? BuildInfo { get; init; }

    public string? Target { get; init; }

    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    public bool? Public { get; init; }

    public int? AutoStopInterval { get; init; }

    public int? AutoDeleteInterval { get; init; }
}

/// <summary><c>CreateBuildInfo</c>: a Dockerfile Daytona builds the sandbox image from.</summary>
internal sealed record DaytonaBuildInfo(string DockerfileContent);

/// <summary><c>Sandbox</c> and <c>SandboxListItem</c> (the fields both share and we use).</summary>
internal sealed record DaytonaSandbox
{
    public string Id { get; init; } = string.Empty;

    public string? Name { get; init; }

    public string? State { get; init; }

    public string? DesiredState { get; init; }

    public string? ErrorReason { get; init; }

    public Dictionary<string, string>? Labels { get; init; }

    public string? ToolboxProxyUrl { get; init; }

    public string? CreatedAt { get; init; }

    public string? AutoDestroyAt { get; init; }

    public DateTimeOffset? CreatedAtTime => ParseTime(CreatedAt);

    public DateTimeOffset? AutoDestroyAtTime => ParseTime(AutoDestroyAt);

    public string? OwnerUid => Labels is not null && Labels.TryGetValue(SandboxLabels.OwnerUid, out var uid) ? uid : null;

    private static DateTimeOffset? ParseTime(string? value) =>
        DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : null;
}

/// <summary><c>ListSandboxesResponse</c>: one page, cursor-paginated.</summary>
internal sealed record DaytonaSandboxPage(List<DaytonaSandbox>? Items, string? NextCursor);

/// <summary><c>PortPreviewUrl</c>.</summary>
internal sealed record DaytonaPreviewUrl(string? SandboxId, string? Url, string? Token);

/// <summary>Error body of the API (<c>all-exceptions.filter.ts</c>) and the toolbox (<c>ErrorResponse</c>).</summary>
internal sealed record DaytonaError(JsonElement? Message, string? Error, string? Code);

/// <summary>Toolbox <c>Session</c>.</summary>
internal sealed record DaytonaSession(string? SessionId, List<DaytonaCommand>? Commands);

/// <summary>Toolbox <c>Command</c>: <c>exitCode</c> is absent while it runs.</summary>
internal sealed record DaytonaCommand(string? Id, string? Command, int? ExitCode);

/// <summary>Toolbox <c>SessionExecuteResponse</c>.</summary>
internal sealed record DaytonaExecuteResponse(string? CmdId, int? ExitCode);

/// <summary>Toolbox <c>IsPortInUseResponse</c>.</summary>
internal sealed record DaytonaPortInUse(bool? IsInUse);

internal static class DaytonaJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };
}

/// <summary><c>ExecuteResponse</c> of the toolbox's <c>POST /process/execute</c>.</summary>
internal sealed record DaytonaCommandResult
{
    public int? ExitCode { get; init; }

    public string Result { get; init; } = string.Empty;
}
