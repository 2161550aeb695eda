using System.Security.Cryptography;
using System.Text;

namespace Midori.Operator.Files;

/// <summary>
/// Content hashes. A file's hash is <c>sha256:&lt;hex&gt;</c> of its bytes; a file set's hash (status.filesHash) is
/// the SHA-256 of its manifest: <c>path \n fileHash \n</c> per file, ordered by the UTF-8 bytes of the path. Being
/// defined over the manifest, the set hash can be computed without the contents (the store does it in SQL).
/// </summary>
public static class FileSetHash
{
    public const string Prefix = ContentHash.Prefix;

    public static string Compute(IEnumerable<SandboxFile> files) =>
        FromManifest(files.Select(f => (f.Path, ContentHash.Compute(f.Content))));

    public static string FromManifest(IEnumerable<(string Path, string Hash)> entries)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var newline = "\n"u8;
        foreach (var (path, fileHash) in entries
            .Select(e => (Path: Encoding.UTF8.GetBytes(e.Path), Hash: Encoding.UTF8.GetBytes(e.Hash)))
            .OrderBy(e => e.Path, Utf8Order.Instance))
        {
            hash.AppendData(path);
            hash.AppendData(newline);
            hash.AppendData(fileHash);
            hash.AppendData(newline);
        }

        return Prefix + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Byte order of UTF-8, which is PostgreSQL's <c>COLLATE "C"</c> (UTF-16 ordinal differs above U+FFFF).</summary>
    private sealed class Utf8Order : IComparer<byte[]>
    {
        public static readonly Utf8Order Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
