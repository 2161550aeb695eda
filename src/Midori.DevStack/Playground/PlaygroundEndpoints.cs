using System.Reflection;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Midori.Operator.Files;
using Midori.Operator.Http;
using Midori.Operator.Http.Auth;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;
using Midori.Operator.Runtime;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.DevStack.Playground;

/// <summary>
/// The playground page (<c>/ui</c>): plain HTML and JavaScript embedded in this assembly (no build step). The page talks
/// to the operator's own HTTP API with the bearer token the banner hands it in the URL fragment (never sent to a server,
/// never in a Referer); the two routes below only add what that API has no route for: the previews of a namespace and
/// one preview's files and recreation history. Both need the same token and namespace rights as the API.
/// </summary>
public static class PlaygroundEndpoints
{
    public const string Path = "/ui";

    private static readonly Dictionary<string, string> Assets = new(StringComparer.Ordinal)
    {
        ["index.html"] = "text/html; charset=utf-8",
        ["playground.js"] = "text/javascript; charset=utf-8",
        ["playground.css"] = "text/css; charset=utf-8",
    };

    public static WebApplication MapPlayground(this WebApplication app, string? previewOrigin)
    {
        var csp = ContentSecurityPolicy(previewOrigin);
        app.MapGet(Path, (HttpContext http) => Asset(http, "index.html", csp)).ExcludeFromDescription();
        app.MapGet(Path + "/{file}", (HttpContext http, string file) => Asset(http, file, csp)).ExcludeFromDescription();

        var api = app.MapGroup(Path + "/api/namespaces/{ns}").RequireAuthorization(HttpApiServiceCollectionExtensions.AuthorizationPolicy).ExcludeFromDescription();
        api.MapGet("/previews", ListAsync);
        api.MapGet("/previews/{name}", DetailAsync);
        return app;
    }

    /// <summary>The page and its scripts come from this origin only; the preview may be framed only from the gateway's origin.</summary>
    internal static string ContentSecurityPolicy(string? previewOrigin) =>
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        + $"frame-src {(string.IsNullOrEmpty(previewOrigin) ? "'self'" : previewOrigin)}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static IResult Asset(HttpContext http, string file, string csp)
    {
        if (!Assets.TryGetValue(file, out var contentType))
        {
            return TypedResults.NotFound();
        }

        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Midori.DevStack.Playground." + file);
        if (stream is null)
        {
            return TypedResults.NotFound();
        }

        using var reader = new StreamReader(stream, Encoding.UTF8);
        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = csp;
        headers["Referrer-Policy"] = "no-referrer";
        headers.XContentTypeOptions = "nosniff";
        headers.CacheControl = "no-store";
        return TypedResults.Text(reader.ReadToEnd(), contentType);
    }

    internal static async Task<Results<Ok<IReadOnlyList<PlaygroundPreview>>, ProblemHttpResult>> ListAsync(
        string ns, HttpContext http, NamespaceAccess access, PreviewSandboxCache cache, TimeProvider time, CancellationToken cancellationToken)
    {
        if (await RefuseAsync(ns, http, access, cancellationToken) is { } refusal)
        {
            return refusal;
        }

        var now = time.GetUtcNow();
        IReadOnlyList<PlaygroundPreview> previews = [.. cache.All
            .Where(r => string.Equals(r.Metadata.NamespaceProperty, ns, StringComparison.Ordinal))
            .OrderBy(r => r.Metadata.Name, StringComparer.Ordinal)
            .Select(r => new PlaygroundPreview(
                r.Metadata.Name,
                r.Spec?.ProjectId,
                r.Status?.Phase,
                PreviewStatusMapper.Map(r, now).Ready,
                r.Status?.PreviewUrl,
                Utc(r.Status?.IdleDeadline),
                Utc(r.Status?.ExpiresAt),
                r.Status?.Recreations ?? 0,
                r.Spec?.IdleTimeoutSeconds,
                r.Spec?.TtlSeconds))];
        return TypedResults.Ok(previews);
    }

    internal static async Task<Results<Ok<PlaygroundDetail>, ProblemHttpResult>> DetailAsync(
        string ns, string name, HttpContext http, NamespaceAccess access, IPreviewStore store, CancellationToken cancellationToken)
    {
        if (await RefuseAsync(ns, http, access, cancellationToken) is { } refusal)
        {
            return refusal;
        }

        var key = new PreviewKey(ns, name);
        var files = await store.ReadFilesAsync(key, null, cancellationToken);
        var recreations = await store.ListRecreationsAsync(key, 20, cancellationToken);
        var sessions = await store.ListSessionsAsync(key, 20, cancellationToken);
        return TypedResults.Ok(new PlaygroundDetail(
            files?.Revision,
            [.. (files?.Files ?? []).OrderBy(f => f.Path, StringComparer.Ordinal).Select(f => new PlaygroundFile(f.Path, DecodeOrNull(f.Content), ContentHash.Compute(f.Content)))],
            [.. recreations.Select(r => new PlaygroundRecreation(r.At, r.Reason, r.OldSandboxId, r.NewSandboxId, r.Success, r.Error, r.DurationMs))],
            [.. sessions.Select(s => new PlaygroundSession(s.CreatedAt, s.State, s.Kind, s.Meta?["sandboxId"]?.GetValue<string>(), s.BuildTimeMs))]));
    }

    private static async ValueTask<ProblemHttpResult?> RefuseAsync(string ns, HttpContext http, NamespaceAccess access, CancellationToken cancellationToken) =>
        await access.IsAllowedAsync(http.User, ns, "get", cancellationToken)
            ? null
            : TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: $"caller '{http.User.Identity?.Name}' may not get previews in namespace '{ns}'");

    private static DateTimeOffset? Utc(DateTime? value) => value is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;

    /// <summary>Text files are editable; binary ones are listed without content.</summary>
    private static string? DecodeOrNull(byte[] content)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(content);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}

public sealed record PlaygroundPreview(
    string Name, string? ProjectId, string? Phase, bool Ready, string? PreviewUrl, DateTimeOffset? IdleDeadline, DateTimeOffset? ExpiresAt,
    int Recreations, int? IdleTimeoutSeconds, int? TtlSeconds);

public sealed record PlaygroundFile(string Path, string? Content, string Hash);

public sealed record PlaygroundRecreation(DateTimeOffset At, string Reason, string? OldSandboxId, string? NewSandboxId, bool Success, string? Error, long DurationMs);

public sealed record PlaygroundDetail(long? Revision, IReadOnlyList<PlaygroundFile> Files, IReadOnlyList<PlaygroundRecreation> Recreations,
    IReadOnlyList<PlaygroundSession> Sessions);

/// <summary>One sandbox lifetime of the preview, newest first; <see cref="Kind"/>: create, claim, resume or recreate (null until Ready).</summary>
public sealed record PlaygroundSession(DateTimeOffset At, string State, string? Kind, string? SandboxId, long? BuildTimeMs);
