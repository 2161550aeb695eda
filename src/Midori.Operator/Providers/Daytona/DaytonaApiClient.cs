using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Midori.Operator.Providers.Daytona;

/// <summary>
/// Typed client of the Daytona control plane, behind the provider's resilience pipeline.
/// Base address and Bearer key are set at registration. "Not found" is a value (null / false), everything else that
/// fails raises <see cref="Midori.Operator.Providers.SandboxProviderException"/>.
/// </summary>
internal sealed class DaytonaApiClient(HttpClient http)
{
    /// <summary>The spec's maximum page size (1–200).</summary>
    internal const int PageSize = 200;

    /// <summary>Creates a sandbox; returns null when the name is taken (409), so the caller can look that one up.</summary>
    public async Task<DaytonaSandbox?> CreateSandboxAsync(DaytonaCreateSandbox body, CancellationToken cancellationToken)
    {
        const string what = "create a sandbox";
        using var request = DaytonaHttp.Request(HttpMethod.Post, Relative("sandbox"), "create", json: body);
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return null;
        }

        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        return await DaytonaHttp.ReadAsync<DaytonaSandbox>(response, what, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A sandbox by id or name; null on 404 (destroyed, or never existed).</summary>
    public async Task<DaytonaSandbox?> GetSandboxAsync(string idOrName, CancellationToken cancellationToken)
    {
        var what = $"read sandbox {idOrName}";
        using var request = DaytonaHttp.Request(HttpMethod.Get, Relative($"sandbox/{Escape(idOrName)}"), "get");
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        return await DaytonaHttp.ReadAsync<DaytonaSandbox>(response, what, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Every sandbox carrying all <paramref name="labels"/> (the spec's JSON-encoded <c>labels</c> filter), following
    /// cursors. Stops on a missing, empty or repeated cursor, or an empty page, so a misbehaving server cannot loop us.
    /// </summary>
    public async Task<List<DaytonaSandbox>> ListSandboxesAsync(IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        const string what = "list sandboxes";
        var filter = JsonSerializer.Serialize(labels, DaytonaJson.Options);
        var all = new List<DaytonaSandbox>();
        var seenCursors = new HashSet<string>(StringComparer.Ordinal);
        string? cursor = null;
        for (var page = 0; page < 1000; page++)
        {
            var query = $"sandbox?labels={Uri.EscapeDataString(filter)}&limit={PageSize.ToString(CultureInfo.InvariantCulture)}";
            if (cursor is not null)
            {
                query += $"&cursor={Uri.EscapeDataString(cursor)}";
            }

            using var request = DaytonaHttp.Request(HttpMethod.Get, Relative(query), "list");
            using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
            await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
            var result = await DaytonaHttp.ReadAsync<DaytonaSandboxPage>(response, what, cancellationToken).ConfigureAwait(false);
            var items = result.Items ?? [];
            all.AddRange(items.Where(i => !string.IsNullOrEmpty(i.Id)));
            cursor = result.NextCursor;
            if (items.Count == 0 || string.IsNullOrEmpty(cursor) || !seenCursors.Add(cursor))
            {
                break;
            }
        }

        return all;
    }

    /// <summary>Asks Daytona to destroy the sandbox (asynchronous on its side).</summary>
    public async Task<DeleteOutcome> DeleteSandboxAsync(string id, CancellationToken cancellationToken)
    {
        var what = $"delete sandbox {id}";
        using var request = DaytonaHttp.Request(HttpMethod.Delete, Relative($"sandbox/{Escape(id)}"), "delete");
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        switch (response.StatusCode)
        {
            case HttpStatusCode.NotFound:
                return DeleteOutcome.NotFound;
            case HttpStatusCode.Conflict:
                return DeleteOutcome.StateChangeInProgress;
            default:
                await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
                return DeleteOutcome.Deleting;
        }
    }

    /// <summary>
    /// <c>POST /sandbox/{id}/stop</c> (keeps the disk, clears memory; does not wait), <c>/start</c> (starts a stopped or
    /// archived sandbox, waits up to 30 s for started) or <c>/archive</c> (moves a stopped sandbox's disk to object
    /// storage). Null when the sandbox is gone; a state change already under way (409) reads as the current sandbox.
    /// </summary>
    public async Task<DaytonaSandbox?> ChangeStateAsync(string id, string verb, CancellationToken cancellationToken)
    {
        var what = $"{verb} sandbox {id}";
        using var request = DaytonaHttp.Request(HttpMethod.Post, Relative($"sandbox/{Escape(id)}/{verb}"), verb, idempotent: true);
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return await GetSandboxAsync(id, cancellationToken).ConfigureAwait(false);
        }

        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        return await DaytonaHttp.ReadAsync<DaytonaSandbox>(response, what, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Resets the auto-stop timer (keep-alive). False when the sandbox is gone.</summary>
    public async Task<bool> UpdateLastActivityAsync(string id, CancellationToken cancellationToken)
    {
        var what = $"keep sandbox {id} alive";
        using var request = DaytonaHttp.Request(HttpMethod.Post, Relative($"sandbox/{Escape(id)}/last-activity"), "keep_alive", idempotent: true);
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Preview URL and token of a port; null when the sandbox is gone.</summary>
    public async Task<DaytonaPreviewUrl?> GetPreviewUrlAsync(string id, int port, CancellationToken cancellationToken)
    {
        var what = $"get the preview URL of sandbox {id} port {port}";
        using var request = DaytonaHttp.Request(HttpMethod.Get,
            Relative($"sandbox/{Escape(id)}/ports/{port.ToString(CultureInfo.InvariantCulture)}/preview-url"), "preview_url");
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        return await DaytonaHttp.ReadAsync<DaytonaPreviewUrl>(response, what, cancellationToken).ConfigureAwait(false);
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw await DaytonaHttp.ErrorAsync(response, what, cancellationToken).ConfigureAwait(false);
        }
    }

    private Uri Relative(string pathAndQuery) =>
        new(http.BaseAddress ?? throw new InvalidOperationException("The Daytona API client has no base address"), pathAndQuery);

    private static string Escape(string segment) => Uri.EscapeDataString(segment);
}

internal enum DeleteOutcome
{
    Deleting,
    NotFound,
    StateChangeInProgress,
}
