using System.Security.Cryptography;

namespace Midori.Operator.Files;

/// <summary>Hash of one file's content as the store reports it in <c>FileEntry.Hash</c>: "sha256:" + lowercase hex.</summary>
public static class ContentHash
{
    public const string Prefix = "sha256:";

    public static string Compute(ReadOnlySpan<byte> content) => Prefix + Convert.ToHexStringLower(SHA256.HashData(content));
}
