using System.Text;
using Midori.Operator.Files;
using Midori.Operator.Http.Contracts;
using Midori.Operator.Providers;

namespace Midori.Operator.Http.Services;

/// <summary>A validated incoming file: normalized path, decoded bytes, optional compare-and-swap base.</summary>
public sealed record IncomingFile(string Path, byte[] Content, string? BaseHash)
{
    public SandboxFile ToSandboxFile() => new(Path, Content);
}

/// <summary>Validation and decoding shared by every route that accepts files (ours and the seed-compatible ones).</summary>
public static class FileInputs
{
    public const string Utf8 = "utf8";
    public const string Base64 = "base64";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Normalizes a path or refuses it with a 400 naming it.</summary>
    public static string NormalizePath(string? path)
    {
        if (!ProjectPath.TryNormalize(path, out var normalized, out var error))
        {
            throw ApiProblemException.InvalidPath(path, error);
        }

        return normalized;
    }

    public static List<IncomingFile> Decode(IReadOnlyList<FileInput>? files, HttpApiOptions limits)
    {
        if (files is null)
        {
            return [];
        }

        if (files.Count > limits.MaxFilesPerProject)
        {
            throw ApiProblemException.Unprocessable($"{files.Count} files in one request; a project may hold at most {limits.MaxFilesPerProject}",
                new Dictionary<string, object?> { ["limit"] = limits.MaxFilesPerProject });
        }

        var seen = new Dictionary<string, string>(StringComparer.Ordinal); // normalized → as given
        var result = new List<IncomingFile>(files.Count);
        for (var i = 0; i < files.Count; i++)
        {
            var file = files[i] ?? throw ApiProblemException.BadRequest($"files[{i}] is null");
            var path = NormalizePath(file.Path);
            if (seen.TryGetValue(path, out var earlier))
            {
                if (!string.Equals(earlier, file.Path, StringComparison.Ordinal))
                {
                    throw FileSetConflict(FileSetConflictException.Normalization(earlier, file.Path!));
                }

                throw ApiProblemException.BadRequest($"path '{path}' appears more than once", new Dictionary<string, object?> { ["path"] = path });
            }

            seen[path] = file.Path!;

            if (file.Content is null)
            {
                throw ApiProblemException.BadRequest($"files[{i}] ('{path}') has no content", new Dictionary<string, object?> { ["path"] = path });
            }

            var content = (file.Encoding ?? Utf8).ToLowerInvariant() switch
            {
                Utf8 or "utf-8" or "text" => EncodeText(file.Content, path, limits),
                Base64 => DecodeBase64(file.Content, path, limits),
                var other => throw ApiProblemException.BadRequest($"files[{i}] ('{path}') has encoding '{other}'; use 'utf8' or 'base64'",
                    new Dictionary<string, object?> { ["path"] = path }),
            };
            result.Add(new IncomingFile(path, content, file.BaseHash));
        }

        if (FileSetRules.FindPrefixConflict(seen.Keys) is var (dir, below))
        {
            throw FileSetConflict(FileSetConflictException.Prefix(dir, below));
        }

        return result;
    }

    /// <summary>422 naming both paths of a set no file system can hold.</summary>
    public static ApiProblemException FileSetConflict(FileSetConflictException conflict) =>
        ApiProblemException.Unprocessable(conflict.Message, new Dictionary<string, object?> { ["paths"] = new[] { conflict.First, conflict.Second } });

    /// <summary>The file as text for line patching, or null when it is not valid UTF-8 (binary).</summary>
    public static string? TryDecodeText(byte[] content)
    {
        try
        {
            return StrictUtf8.GetString(content);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    public static void CheckSize(string path, long size, HttpApiOptions limits)
    {
        if (size > limits.MaxFileBytes)
        {
            throw ApiProblemException.TooLarge($"'{path}' is {size} bytes; the limit is {limits.MaxFileBytes}",
                new Dictionary<string, object?> { ["path"] = path, ["limit"] = limits.MaxFileBytes });
        }
    }

    private static byte[] EncodeText(string content, string path, HttpApiOptions limits)
    {
        CheckSize(path, Encoding.UTF8.GetByteCount(content), limits);
        return Encoding.UTF8.GetBytes(content);
    }

    private static byte[] DecodeBase64(string content, string path, HttpApiOptions limits)
    {
        CheckSize(path, (long)content.Length / 4 * 3 - 2, limits);
        try
        {
            var bytes = Convert.FromBase64String(content);
            CheckSize(path, bytes.Length, limits);
            return bytes;
        }
        catch (FormatException)
        {
            throw ApiProblemException.BadRequest($"'{path}' is not valid base64", new Dictionary<string, object?> { ["path"] = path });
        }
    }
}
