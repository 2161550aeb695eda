namespace Midori.Operator.Files;

/// <summary>A file relative to the project root. Content is raw bytes so binary files survive.</summary>
public sealed record SandboxFile(string Path, byte[] Content);
