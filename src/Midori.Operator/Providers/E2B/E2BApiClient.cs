using System.Net;
using System.Net.Http.Json;
using System.Text;

namespace Midori.Operator.Providers.E2B;

/// <summary>
/// Typed client of the E2B control plane, behind the provider's resilience pipeline.
/// Auth is <c>X-API-Key</c> (set as a default header at registration). Idempotent POSTs (timeout, refresh, connect)
/// are marked so the pipeline retries them; create is not (a lost answer is healed by the owner-UID lookup).
/// </summary>
public sealed class E2BApiClient(HttpClient http)
{
    /// <summary>Name of the HttpClient (tests add handlers under it).</summary>
    public const string HttpClientName = "e2b-api";

    /// <summary>Page size of the list call (the spec's maximum).</summary>
    internal const int ListPageSize = 100;

    /// <summary>Guards against a server that keeps returning a next token (a mock does).</summary>
    private const int MaxListPages = 100;

    internal async Task<E2BSandbox> CreateAsync(NewSandbox body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "sandboxes") { Content = JsonContent.Create(body, options: E2BJson.Options) };
        request.WithOperation("create");
        using var response = await SendAsync(request, "create a sandbox", cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, "create a sandbox", cancellationToken).ConfigureAwait(false);
        return await ReadAsync<E2BSandbox>(response, "create a sandbox", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Null when E2B answers 404 (killed, expired, never existed).</summary>
    internal async Task<E2BSandboxDetail?> GetAsync(string sandboxId, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"sandboxes/{Uri.EscapeDataString(sandboxId)}");
        request.WithOperation("get");
        using var response = await SendAsync(request, "read the sandbox", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, "read the sandbox", cancellationToken).ConfigureAwait(false);
        return await ReadAsync<E2BSandboxDetail>(response, "read the sandbox", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>GET /v2/sandboxes?metadata=…</c> (running and paused), every page. The metadata filter is a query string of
    /// its own ("k=v&amp;k2=v2", keys and values URL-encoded) sent as one, again encoded, parameter.
    /// </summary>
    internal async Task<IReadOnlyList<E2BSandboxDetail>> ListAsync(IReadOnlyDictionary<string, string> metadata, CancellationToken cancellationToken)
    {
        var filter = string.Join('&', metadata.Select(kv => $"{Uri.EscapeDataString(kv.Key)}={Uri.EscapeDataString(kv.Value)}"));
        var all = new List<E2BSandboxDetail>();
        var seenTokens = new HashSet<string>(StringComparer.Ordinal);
        string? next = null;
        for (var page = 0; page < MaxListPages; page++)
        {
            var query = new StringBuilder("v2/sandboxes?metadata=").Append(Uri.EscapeDataString(filter)).Append("&limit=").Append(ListPageSize);
            if (next is not null)
            {
                query.Append("&nextToken=").Append(Uri.EscapeDataString(next));
            }

            using var request = new HttpRequestMessage(HttpMethod.Get, query.ToString());
            request.WithOperation("list");
            using var response = await SendAsync(request, "list sandboxes", cancellationToken).ConfigureAwait(false);
            await EnsureSuccessAsync(response, "list sandboxes", cancellationToken).ConfigureAwait(false);
            var items = await ReadAsync<List<E2BSandboxDetail>>(response, "list sandboxes", cancellationToken).ConfigureAwait(false);
            all.AddRange(items);
            next = response.Headers.TryGetValues("X-Next-Token", out var values) ? values.FirstOrDefault() : null;
            if (string.IsNullOrEmpty(next) || items.Count == 0 || !seenTokens.Add(next))
            {
                break;
            }
        }

        return all;
    }

    /// <summary>False when the sandbox was already gone (404).</summary>
    internal async Task<bool> KillAsync(string sandboxId, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, $"sandboxes/{Uri.EscapeDataString(sandboxId)}");
        request.WithOperation("kill");
        using var response = await SendAsync(request, "kill the sandbox", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await EnsureSuccessAsync(response, "kill the sandbox", cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary><c>POST /timeout</c>: end time = now + seconds; overwrites (can shorten), so callers use it only to lengthen.</summary>
    internal Task<bool> SetTimeoutAsync(string sandboxId, int seconds, CancellationToken cancellationToken) =>
        PostNoContentAsync($"sandboxes/{Uri.EscapeDataString(sandboxId)}/timeout", new SandboxTimeoutRequest(seconds), "set-timeout", "set the sandbox timeout", cancellationToken);

    /// <summary><c>POST /refreshes</c>: extends only, never shortens; at most 3600 s per call.</summary>
    internal Task<bool> RefreshAsync(string sandboxId, int seconds, CancellationToken cancellationToken) =>
        PostNoContentAsync($"sandboxes/{Uri.EscapeDataString(sandboxId)}/refreshes", new SandboxRefreshRequest(seconds), "refresh", "refresh the sandbox", cancellationToken);

    /// <summary><c>POST /connect</c>: returns the tokens again (and only extends the TTL). Null on 404.</summary>
    internal async Task<E2BSandbox?> ConnectAsync(string sandboxId, int seconds, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"sandboxes/{Uri.EscapeDataString(sandboxId)}/connect")
        {
            Content = JsonContent.Create(new ConnectSandbox(seconds), options: E2BJson.Options),
        };
        request.WithOperation("connect", idempotent: true);
        using var response = await SendAsync(request, "connect to the sandbox", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, "connect to the sandbox", cancellationToken).ConfigureAwait(false);
        return await ReadAsync<E2BSandbox>(response, "connect to the sandbox", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>POST /pause</c> (keeps memory and filesystem): 204 paused, 409 already paused or pausing (done, as the SDK reads
    /// it). False on 404.
    /// </summary>
    internal async Task<bool> PauseAsync(string sandboxId, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"sandboxes/{Uri.EscapeDataString(sandboxId)}/pause");
        request.WithOperation("pause", idempotent: true);
        using var response = await SendAsync(request, "pause the sandbox", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        if (response.StatusCode != HttpStatusCode.Conflict)
        {
            await EnsureSuccessAsync(response, "pause the sandbox", cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>False on 404.</summary>
    private async Task<bool> PostNoContentAsync<T>(string path, T body, string operation, string what, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: E2BJson.Options) };
        request.WithOperation(operation, idempotent: true);
        using var response = await SendAsync(request, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string what, CancellationToken cancellationToken)
    {
        try
        {
            return await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (E2BErrors.FromException(ex, what, cancellationToken) is { } mapped)
        {
            throw mapped;
        }
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw await E2BErrors.FromResponseAsync(response, what, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(E2BJson.Options, cancellationToken).ConfigureAwait(false)
                   ?? throw new SandboxProviderException(Api.V1Alpha1.ProviderNames.E2B, $"E2B sent an empty answer; could not {what}", isTransient: true);
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new SandboxProviderException(Api.V1Alpha1.ProviderNames.E2B, $"E2B sent an unreadable answer; could not {what}: {E2BErrors.Printable(ex.Message)}", isTransient: true, ex);
        }
        catch (Exception ex) when (E2BErrors.FromException(ex, what, cancellationToken) is { } mapped)
        {
            throw mapped;
        }
    }
}
