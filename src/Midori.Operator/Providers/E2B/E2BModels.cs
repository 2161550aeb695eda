using System.Text.Json;
using System.Text.Json.Serialization;

namespace Midori.Operator.Providers.E2B;

// Wire shapes of the E2B control-plane API and of the envd Connect RPCs (process and filesystem services,
// proto3 JSON mapping). Only the fields the operator reads or writes; unknown fields are ignored.

internal static class E2BJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

/// <summary><c>NewSandbox</c>.</summary>
internal sealed record NewSandbox(
    [property: JsonPropertyName("templateID")] string TemplateId,
    [property: JsonPropertyName("timeout")] int Timeout,
    [property: JsonPropertyName("autoPause")] bool AutoPause,
    [property: JsonPropertyName("secure")] bool Secure,
    [property: JsonPropertyName("network")] SandboxNetworkConfig? Network,
    [property: JsonPropertyName("metadata")] IReadOnlyDictionary<string, string> Metadata);

/// <summary><c>SandboxNetworkConfig</c> (only the public-traffic switch).</summary>
internal sealed record SandboxNetworkConfig([property: JsonPropertyName("allowPublicTraffic")] bool AllowPublicTraffic);

/// <summary><c>Sandbox</c>: the create and connect response, the only place the traffic token is returned.</summary>
internal sealed record E2BSandbox(
    [property: JsonPropertyName("sandboxID")] string SandboxId,
    [property: JsonPropertyName("templateID")] string? TemplateId,
    [property: JsonPropertyName("envdVersion")] string? EnvdVersion,
    [property: JsonPropertyName("envdAccessToken")] string? EnvdAccessToken,
    [property: JsonPropertyName("trafficAccessToken")] string? TrafficAccessToken,
    [property: JsonPropertyName("domain")] string? Domain);

/// <summary><c>SandboxDetail</c> (GET) and <c>ListedSandbox</c> (list; no tokens, no domain).</summary>
internal sealed record E2BSandboxDetail(
    [property: JsonPropertyName("sandboxID")] string SandboxId,
    [property: JsonPropertyName("templateID")] string? TemplateId,
    [property: JsonPropertyName("startedAt")] DateTimeOffset? StartedAt,
    [property: JsonPropertyName("endAt")] DateTimeOffset? EndAt,
    [property: JsonPropertyName("state")] string? State,
    [property: JsonPropertyName("metadata")] Dictionary<string, string>? Metadata,
    [property: JsonPropertyName("envdAccessToken")] string? EnvdAccessToken,
    [property: JsonPropertyName("domain")] string? Domain);

internal sealed record SandboxTimeoutRequest([property: JsonPropertyName("timeout")] int Timeout);

internal sealed record SandboxRefreshRequest([property: JsonPropertyName("duration")] int Duration);

internal sealed record ConnectSandbox([property: JsonPropertyName("timeout")] int Timeout);

/// <summary><c>Error</c>: <c>{code, message, error_code?}</c>.</summary>
internal sealed record E2BError(
    [property: JsonPropertyName("code")] int? Code,
    [property: JsonPropertyName("message")] string? Message,
    [property: JsonPropertyName("error_code")] string? ErrorCode);

// ---- envd Connect RPC messages (proto3 JSON: lowerCamelCase names, enums by name, bytes as base64) ----

/// <summary><c>process.ProcessConfig</c>.</summary>
internal sealed record ProcessConfig(
    [property: JsonPropertyName("cmd")] string Cmd,
    [property: JsonPropertyName("args")] IReadOnlyList<string> Args,
    [property: JsonPropertyName("envs")] IReadOnlyDictionary<string, string> Envs,
    [property: JsonPropertyName("cwd")] string? Cwd);

/// <summary><c>process.StartRequest</c>.</summary>
internal sealed record ProcessStartRequest(
    [property: JsonPropertyName("process")] ProcessConfig Process,
    [property: JsonPropertyName("tag")] string? Tag,
    [property: JsonPropertyName("stdin")] bool Stdin);

/// <summary><c>process.StartResponse</c>.</summary>
internal sealed record ProcessStartResponse([property: JsonPropertyName("event")] ProcessEvent? Event);

/// <summary><c>process.ProcessEvent</c> (a oneof: exactly one member is set).</summary>
internal sealed record ProcessEvent(
    [property: JsonPropertyName("start")] ProcessStartEvent? Start,
    [property: JsonPropertyName("data")] ProcessDataEvent? Data,
    [property: JsonPropertyName("end")] ProcessEndEvent? End,
    [property: JsonPropertyName("keepalive")] JsonElement? Keepalive);

internal sealed record ProcessStartEvent([property: JsonPropertyName("pid")] uint Pid);

internal sealed record ProcessDataEvent(
    [property: JsonPropertyName("stdout")] byte[]? Stdout,
    [property: JsonPropertyName("stderr")] byte[]? Stderr,
    [property: JsonPropertyName("pty")] byte[]? Pty);

internal sealed record ProcessEndEvent(
    [property: JsonPropertyName("exitCode")] int ExitCode,
    [property: JsonPropertyName("exited")] bool Exited,
    [property: JsonPropertyName("status")] string? Status,
    [property: JsonPropertyName("error")] string? Error);

/// <summary><c>process.ListResponse</c>.</summary>
internal sealed record ProcessListResponse([property: JsonPropertyName("processes")] IReadOnlyList<ProcessInfo>? Processes);

internal sealed record ProcessInfo(
    [property: JsonPropertyName("config")] ProcessConfig? Config,
    [property: JsonPropertyName("pid")] uint Pid,
    [property: JsonPropertyName("tag")] string? Tag);

/// <summary><c>process.ProcessSelector</c> (oneof pid | tag).</summary>
internal sealed record ProcessSelector([property: JsonPropertyName("pid")] uint? Pid, [property: JsonPropertyName("tag")] string? Tag);

/// <summary><c>process.SendSignalRequest</c>; <c>signal</c> is the enum name, e.g. SIGNAL_SIGKILL.</summary>
internal sealed record ProcessSendSignalRequest(
    [property: JsonPropertyName("process")] ProcessSelector Process,
    [property: JsonPropertyName("signal")] string Signal);

/// <summary><c>filesystem.RemoveRequest</c>.</summary>
internal sealed record FilesystemRemoveRequest([property: JsonPropertyName("path")] string Path);

/// <summary>Connect error body (unary) or end-stream <c>error</c>: <c>{code, message}</c> with a Connect code name.</summary>
internal sealed record ConnectError([property: JsonPropertyName("code")] string? Code, [property: JsonPropertyName("message")] string? Message);

internal sealed record ConnectEndStream([property: JsonPropertyName("error")] ConnectError? Error);
