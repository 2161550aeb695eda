using System.Security.Cryptography;
using System.Text;
using Midori.Operator.Providers;

namespace Midori.Operator.Files;

/// <summary>Content hash of a whole file set, independent of order: what status.filesHash reports.</summary>
public static class FileSetHash
{
    public static string Compute(IEnumerable<SandboxFile> files)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[8];
        foreach (var file in files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            var path = Encoding.UTF8.GetBytes(file.Path);
            BitConverter.TryWriteBytes(length, (long)path.Length);
            hash.AppendData(length);
            hash.AppendData(path);
            BitConverter.TryWriteBytes(length, (long)file.Content.Length);
            hash.AppendData(length);
            hash.AppendData(file.Content);
        }

        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
