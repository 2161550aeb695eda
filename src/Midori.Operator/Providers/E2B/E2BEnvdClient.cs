using System.Net.Http.Headers;
using System.Text;
using System.Net.Http.Json;
using System.Text.Json;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Files;

namespace Midori.Operator.Providers.E2B;

/// <summary>Where one sandbox's envd answers, and with which token (null when the sandbox is not <c>secure</c>).</summary>
internal sealed record EnvdTarget(string SandboxId, Uri BaseUrl, string? AccessToken);

/// <summary>
/// Typed client of envd, the in-sandbox daemon (port 49983): file upload over HTTP and the
/// <c>process.Process</c> / <c>filesystem.Filesystem</c> Connect RPCs (JSON codec). Every request carries the proxy's
/// routing headers and, for secure sandboxes, <c>X-Access-Token</c>.
/// </summary>
public sealed class E2BEnvdClient(HttpClient http)
{
    public const string HttpClientName = "e2b-envd";
    public const int EnvdPort = 49983;

    internal const string ProcessService = "process.Process";
    internal const string FilesystemService = "filesystem.Filesystem";

    /// <summary><c>POST /files</c> with one multipart <c>file</c> part per file; the part's filename is the destination path.</summary>
    internal async Task UploadAsync(EnvdTarget target, IReadOnlyList<SandboxFile> files, CancellationToken cancellationToken)
    {
        // Part headers in UTF-8 with a quoted filename: envd (Go's mime parser) reads the filename as the destination,
        // and '/' is not a token character, so the unquoted form .NET writes by default would not parse.
        using var form = new MultipartFormDataContent { HeaderEncodingSelector = static (_, _) => Encoding.UTF8 };
        foreach (var (path, content) in files)
        {
            var part = new ByteArrayContent(content);
            part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            // raw header: ContentDispositionHeaderValue would MIME-encode (RFC 2047) non-ASCII names, which envd does not decode
            var quoted = path.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
            part.Headers.TryAddWithoutValidation("Content-Disposition", $"form-data; name=\"file\"; filename=\"{quoted}\"");
            form.Add(part);
        }

        using var request = Request(target, HttpMethod.Post, "files", form);

        // Overwriting a file with the same bytes is harmless, so a lost answer may be retried.
        request.WithOperation("upload", idempotent: true);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, "upload files", cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await E2BErrors.FromResponseAsync(response, $"upload {files.Count} file(s)", cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary><c>filesystem.Filesystem/Remove</c>; a path that does not exist counts as removed.</summary>
    internal async Task RemoveAsync(EnvdTarget target, string path, CancellationToken cancellationToken)
    {
        var error = await UnaryAsync(target, FilesystemService, "Remove", new FilesystemRemoveRequest(path), "remove a file", idempotent: true, cancellationToken).ConfigureAwait(false);
        if (error.Error is { Code: not "not_found" } failure)
        {
            throw E2BErrors.FromConnect(failure, "remove a file");
        }
    }

    internal async Task<IReadOnlyList<ProcessInfo>> ListProcessesAsync(EnvdTarget target, CancellationToken cancellationToken)
    {
        var result = await UnaryAsync(target, ProcessService, "List", new { }, "list processes", idempotent: true, cancellationToken).ConfigureAwait(false);
        if (result.Error is { } error)
        {
            throw E2BErrors.FromConnect(error, "list processes");
        }

        return result.Body?.Deserialize<ProcessListResponse>(E2BJson.Options)?.Processes ?? [];
    }

    /// <summary><c>process.Process/SendSignal</c>; a process that already ended counts as signalled.</summary>
    internal async Task KillProcessAsync(EnvdTarget target, uint pid, CancellationToken cancellationToken)
    {
        var request = new ProcessSendSignalRequest(new ProcessSelector(pid, Tag: null), "SIGNAL_SIGKILL");
        var result = await UnaryAsync(target, ProcessService, "SendSignal", request, "stop the dev server", idempotent: true, cancellationToken).ConfigureAwait(false);
        if (result.Error is { Code: not "not_found" } error)
        {
            throw E2BErrors.FromConnect(error, "stop the dev server");
        }
    }

    /// <summary>
    /// <c>process.Process/Start</c> (server streaming). No <c>Connect-Timeout-Ms</c> is sent: envd runs the process under
    /// that deadline and kills it when it elapses, and a dev server must outlive this call. Closing the returned stream
    /// does not stop the process.
    /// </summary>
    internal async Task<ProcessEventStream> StartProcessAsync(EnvdTarget target, ProcessStartRequest start, CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(start, E2BJson.Options);
        var content = new ByteArrayContent(ConnectEnvelope.Frame(payload));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/connect+json");
        var request = Request(target, HttpMethod.Post, $"{ProcessService}/Start", content);
        request.Headers.TryAddWithoutValidation("Connect-Protocol-Version", "1");
        request.WithOperation("start-process"); // never retried: a second attempt could start a second server
        HttpResponseMessage response;
        try
        {
            response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, "start the dev server", cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            request.Dispose();
            throw;
        }

        if (!response.IsSuccessStatusCode)
        {
            using (request)
            using (response)
            {
                var connect = await TryReadConnectErrorAsync(response, cancellationToken).ConfigureAwait(false);
                throw connect is not null
                    ? E2BErrors.FromConnect(connect, "start the dev server")
                    : await E2BErrors.FromResponseAsync(response, "start the dev server", cancellationToken).ConfigureAwait(false);
            }
        }

        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        return new ProcessEventStream(request, response, stream);
    }

    private async Task<(JsonElement? Body, ConnectError? Error)> UnaryAsync<T>(EnvdTarget target, string service, string method, T message,
        string what, bool idempotent, CancellationToken cancellationToken)
    {
        using var request = Request(target, HttpMethod.Post, $"{service}/{method}", JsonContent.Create(message, options: E2BJson.Options));
        request.Content!.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("Connect-Protocol-Version", "1");
        request.WithOperation($"{service}.{method}", idempotent);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, what, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            try
            {
                return (await response.Content.ReadFromJsonAsync<JsonElement>(E2BJson.Options, cancellationToken).ConfigureAwait(false), null);
            }
            catch (JsonException ex)
            {
                throw new SandboxProviderException(ProviderNames.E2B, $"E2B envd sent an unreadable answer; could not {what}", isTransient: true, ex);
            }
        }

        if (await TryReadConnectErrorAsync(response, cancellationToken).ConfigureAwait(false) is { } connect)
        {
            return (null, connect);
        }

        throw await E2BErrors.FromResponseAsync(response, what, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A Connect error body (JSON with a string <c>code</c>); null for other bodies (e.g. the proxy's own errors).</summary>
    private static async Task<ConnectError?> TryReadConnectErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentType?.MediaType != "application/json")
        {
            return null;
        }

        await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            return json.RootElement.ValueKind == JsonValueKind.Object
                   && json.RootElement.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String
                ? json.RootElement.Deserialize<ConnectError>(E2BJson.Options)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static HttpRequestMessage Request(EnvdTarget target, HttpMethod method, string relative, HttpContent content)
    {
        var request = new HttpRequestMessage(method, new Uri(target.BaseUrl, relative)) { Content = content };
        request.Headers.TryAddWithoutValidation("E2b-Sandbox-Id", target.SandboxId);
        request.Headers.TryAddWithoutValidation("E2b-Sandbox-Port", EnvdPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (!string.IsNullOrEmpty(target.AccessToken))
        {
            request.Headers.TryAddWithoutValidation("X-Access-Token", target.AccessToken);
        }

        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, HttpCompletionOption completion, string what, CancellationToken cancellationToken)
    {
        try
        {
            return await http.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (E2BErrors.FromException(ex, what, cancellationToken) is { } mapped)
        {
            throw mapped;
        }
    }
}

/// <summary>The response stream of <c>process.Process/Start</c>: <c>StartResponse</c> envelopes, then an end-of-stream trailer.</summary>
internal sealed class ProcessEventStream(HttpRequestMessage request, HttpResponseMessage response, Stream stream) : IAsyncDisposable
{
    /// <summary>Next event; null when the stream ended cleanly. Throws for an error trailer.</summary>
    public async Task<ProcessEvent?> ReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            (byte Flags, byte[] Message)? envelope;
            try
            {
                envelope = await ConnectEnvelope.ReadAsync(stream, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidDataException && !cancellationToken.IsCancellationRequested)
            {
                throw new SandboxProviderException(ProviderNames.E2B, $"E2B envd closed the process stream unexpectedly: {E2BErrors.Printable(ex.Message)}", isTransient: true, ex);
            }

            if (envelope is not { } frame)
            {
                return null;
            }

            var (flags, message) = frame;

            if ((flags & ConnectEnvelope.CompressedFlag) != 0)
            {
                throw new SandboxProviderException(ProviderNames.E2B, "E2B envd sent a compressed message although none was requested", isTransient: false);
            }

            if ((flags & ConnectEnvelope.EndStreamFlag) != 0)
            {
                var end = message.Length == 0 ? null : JsonSerializer.Deserialize<ConnectEndStream>(message, E2BJson.Options);
                if (end?.Error is { } error)
                {
                    throw E2BErrors.FromConnect(error, "run the dev server");
                }

                return null;
            }

            var item = JsonSerializer.Deserialize<ProcessStartResponse>(message, E2BJson.Options);
            if (item?.Event is { } processEvent)
            {
                return processEvent;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Closing our side ends the HTTP exchange only; envd keeps the process (it has no deadline).
        await stream.DisposeAsync().ConfigureAwait(false);
        response.Dispose();
        request.Dispose();
    }
}
