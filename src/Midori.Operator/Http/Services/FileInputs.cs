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
    public static ServiceResult<string> NormalizePath(string? path) =>
        ProjectPath.TryNormalize(path, out var normalized, out var error) ? normalized : ServiceError.InvalidPath(path, error);

    public static ServiceResult<List<IncomingFile>> Decode(IReadOnlyList<FileInput>? files, HttpApiOptions limits)
    {
        if (files is null)
        {
            return new List<IncomingFile>();
        }

        if (files.Count > limits.MaxFilesPerProject)
        {
            return ServiceError.Unprocessable($"{files.Count} files in one request; a project may hold at most {limits.MaxFilesPerProject}",
                new Dictionary<string, object?> { ["limit"] = limits.MaxFilesPerProject });
        }

        var seen = new Dictionary<string, string>(StringComparer.Ordinal); // normalized → as given
        var result = new List<IncomingFile>(files.Count);
        for (var i = 0; i < files.Count; i++)
        {
            if (files[i] is not { } file)
            {
                return ServiceError.Invalid($"files[{i}] is null");
            }

            if (!NormalizePath(file.Path).TryGetValue(out var path, out var invalid))
            {
                return invalid;
            }

            if (seen.TryGetValue(path, out var earlier))
            {
                return !string.Equals(earlier, file.Path, StringComparison.Ordinal)
                    ? ServiceError.FileSetConflict(FileSetConflictException.Normalization(earlier, file.Path!))
                    : ServiceError.Invalid($"path '{path}' appears more than once", new Dictionary<string, object?> { ["path"] = path });
            }

            seen[path] = file.Path!;

            if (file.Content is null)
            {
                return ServiceError.Invalid($"files[{i}] ('{path}') has no content", new Dictionary<string, object?> { ["path"] = path });
            }

            var content = (file.Encoding ?? Utf8).ToLowerInvariant() switch
            {
                Utf8 or "utf-8" or "text" => EncodeText(file.Content, path, limits),
                Base64 => DecodeBase64(file.Content, path, limits),
                var other => ServiceError.Invalid($"files[{i}] ('{path}') has encoding '{other}'; use 'utf8' or 'base64'",
                    new Dictionary<string, object?> { ["path"] = path }),
            };
            if (!content.TryGetValue(out var bytes, out var refused))
            {
                return refused;
            }

            result.Add(new IncomingFile(path, bytes, file.BaseHash));
        }

        if (FileSetRules.FindPrefixConflict(seen.Keys) is var (dir, below))
        {
            return ServiceError.FileSetConflict(FileSetConflictException.Prefix(dir, below));
        }

        return result;
    }

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

    /// <summary>413 naming the file when it is over the limit; null when it fits.</summary>
    public static ServiceError? CheckSize(string path, long size, HttpApiOptions limits) =>
        size > limits.MaxFileBytes
            ? ServiceError.TooLarge($"'{path}' is {size} bytes; the limit is {limits.MaxFileBytes}",
                new Dictionary<string, object?> { ["path"] = path, ["limit"] = limits.MaxFileBytes })
            : null;

    private static ServiceResult<byte[]> EncodeText(string content, string path, HttpApiOptions limits) =>
        CheckSize(path, Encoding.UTF8.GetByteCount(content), limits) ?? (ServiceResult<byte[]>)Encoding.UTF8.GetBytes(content);

    private static ServiceResult<byte[]> DecodeBase64(string content, string path, HttpApiOptions limits)
    {
        if (CheckSize(path, (long)content.Length / 4 * 3 - 2, limits) is { } tooLarge)
        {
            return tooLarge;
        }

        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(content);
        }
        catch (FormatException)
        {
            return ServiceError.Invalid($"'{path}' is not valid base64", new Dictionary<string, object?> { ["path"] = path });
        }

        return CheckSize(path, bytes.Length, limits) ?? (ServiceResult<byte[]>)bytes;
    }
}
