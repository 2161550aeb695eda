using System.Text.Json;
using System.Text.Json.Serialization;

namespace Midori.Operator.Providers.Local;

/// <summary>Contents of <c>{root}/{id}/sandbox.json</c>: everything needed to list and delete after a restart. No secrets.</summary>
internal sealed record LocalSandboxMetadata
{
    public int SchemaVersion { get; init; } = 1;
    public required string Id { get; init; }
    public required string OwnerUid { get; init; }
    public required string Namespace { get; init; }
    public required string Name { get; init; }
    public string? ProjectId { get; init; }
    public string? Template { get; init; }
    public int Port { get; init; }
    public Dictionary<string, string> Labels { get; init; } = [];
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset EndAt { get; init; }
    public DateTimeOffset? LastStartedAt { get; init; }

    /// <summary>Process-group leader of a running dev-server command, so a restarted operator can reap an orphan.</summary>
    public int? ServerPid { get; init; }

    public static LocalSandboxMetadata? Read(string path) =>
        JsonSerializer.Deserialize(File.ReadAllBytes(path), LocalSandboxJsonContext.Default.LocalSandboxMetadata);

    /// <summary>Writes through a temp file and a rename, so a crash never leaves a torn <c>sandbox.json</c>.</summary>
    public void Write(string path, string tempDirectory)
    {
        Directory.CreateDirectory(tempDirectory);
        var temp = Path.Combine(tempDirectory, $"sandbox.json.{Guid.NewGuid():N}");
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(this, LocalSandboxJsonContext.Default.LocalSandboxMetadata));
        File.Move(temp, path, overwrite: true);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LocalSandboxMetadata))]
internal sealed partial class LocalSandboxJsonContext : JsonSerializerContext;
