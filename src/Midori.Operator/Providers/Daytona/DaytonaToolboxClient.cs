using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace Midori.Operator.Providers.Daytona;

/// <summary>
/// Typed client of the in-sandbox toolbox, reached through the toolbox proxy at
/// <c>{toolboxProxyUrl}/{sandboxId}/</c> with the same Bearer key. Every method takes that per-sandbox base.
/// </summary>
internal sealed class DaytonaToolboxClient(HttpClient http)
{
    /// <summary>
    /// One <c>POST /files/bulk-upload</c>: repeated <c>files[i].path</c> / <c>files[i].file</c> pairs (the SDK's shape).
    /// Idempotent by nature (same paths, same bytes), so the pipeline may retry it after a timeout.
    /// </summary>
    public async Task BulkUploadAsync(Uri toolbox, IReadOnlyList<(string Path, byte[] Content)> files, string sandboxId, CancellationToken cancellationToken)
    {
        var what = $"upload {files.Count} file(s) to sandbox {sandboxId}";
        using var form = new MultipartFormDataContent();
        for (var i = 0; i < files.Count; i++)
        {
            var index = i.ToString(CultureInfo.InvariantCulture);
            form.Add(Part(new StringContent(files[i].Path), $"files[{index}].path", fileName: null));
            var content = new ByteArrayContent(files[i].Content);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            form.Add(Part(content, $"files[{index}].file", FileName(files[i].Path)));
        }

        using var request = DaytonaHttp.Request(HttpMethod.Post, new Uri(toolbox, "files/bulk-upload"), "upload", idempotent: true);
        request.Content = form;
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>DELETE /files?path=</c>; a missing file counts as deleted.</summary>
    public async Task DeleteFileAsync(Uri toolbox, string path, string sandboxId, CancellationToken cancellationToken)
    {
        var what = $"delete a file in sandbox {sandboxId}";
        using var request = DaytonaHttp.Request(HttpMethod.Delete, new Uri(toolbox, $"files?path={Uri.EscapeDataString(path)}"), "delete_file");
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<List<DaytonaSession>> ListSessionsAsync(Uri toolbox, string sandboxId, CancellationToken cancellationToken)
    {
        var what = $"list sessions of sandbox {sandboxId}";
        using var request = DaytonaHttp.Request(HttpMethod.Get, new Uri(toolbox, "process/session"), "list_sessions");
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        return await DaytonaHttp.ReadAsync<List<DaytonaSession>>(response, what, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>POST /process/session</c>; an existing session (409) is fine, which makes the call idempotent.</summary>
    public async Task CreateSessionAsync(Uri toolbox, string sessionId, string sandboxId, CancellationToken cancellationToken)
    {
        var what = $"create session {sessionId} in sandbox {sandboxId}";
        using var request = DaytonaHttp.Request(HttpMethod.Post, new Uri(toolbox, "process/session"), "create_session", idempotent: true,
            json: new { sessionId });
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Conflict)
        {
            await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary><c>DELETE /process/session/{id}</c>: ends the session's shell and the processes it started.</summary>
    public async Task DeleteSessionAsync(Uri toolbox, string sessionId, string sandboxId, CancellationToken cancellationToken)
    {
        var what = $"delete session {sessionId} in sandbox {sandboxId}";
        using var request = DaytonaHttp.Request(HttpMethod.Delete, new Uri(toolbox, $"process/session/{Uri.EscapeDataString(sessionId)}"), "delete_session");
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// <c>POST /process/session/{id}/exec</c> with <c>runAsync</c>: returns at once (202) with the command id while the
    /// command keeps running in the session. Not idempotent (a retry would start a second server), so never retried.
    /// </summary>
    public async Task<string?> ExecuteAsyncCommandAsync(Uri toolbox, string sessionId, string command, string sandboxId, CancellationToken cancellationToken)
    {
        var what = $"start the dev server in sandbox {sandboxId}";
        using var request = DaytonaHttp.Request(HttpMethod.Post, new Uri(toolbox, $"process/session/{Uri.EscapeDataString(sessionId)}/exec"), "exec",
            json: new { command, runAsync = true });
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        var result = await DaytonaHttp.ReadAsync<DaytonaExecuteResponse>(response, what, cancellationToken).ConfigureAwait(false);
        return result.CmdId;
    }

    public async Task<DaytonaCommand?> GetCommandAsync(Uri toolbox, string sessionId, string commandId, string sandboxId, CancellationToken cancellationToken)
    {
        var what = $"read the dev-server command in sandbox {sandboxId}";
        using var request = DaytonaHttp.Request(HttpMethod.Get,
            new Uri(toolbox, $"process/session/{Uri.EscapeDataString(sessionId)}/command/{Uri.EscapeDataString(commandId)}"), "get_command");
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        return await DaytonaHttp.ReadAsync<DaytonaCommand>(response, what, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>POST /process/execute</c>: runs a short shell command and returns its output and exit code. Used only for
    /// read-only commands (the file manifest), so a retry is harmless.
    /// </summary>
    public async Task<DaytonaCommandResult> ExecuteAsync(Uri toolbox, string command, string? cwd, int timeoutSeconds, string sandboxId, CancellationToken cancellationToken)
    {
        var what = $"run a command in sandbox {sandboxId}";
        using var request = DaytonaHttp.Request(HttpMethod.Post, new Uri(toolbox, "process/execute"), "execute", idempotent: true,
            json: new { command, cwd, timeout = timeoutSeconds });
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        return await DaytonaHttp.ReadAsync<DaytonaCommandResult>(response, what, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>GET /port/{port}/in-use</c> (the spec documents ports 3000–9999).</summary>
    public async Task<bool> IsPortInUseAsync(Uri toolbox, int port, string sandboxId, CancellationToken cancellationToken)
    {
        var what = $"check port {port} in sandbox {sandboxId}";
        using var request = DaytonaHttp.Request(HttpMethod.Get, new Uri(toolbox, $"port/{port.ToString(CultureInfo.InvariantCulture)}/in-use"), "port_in_use");
        using var response = await DaytonaHttp.SendAsync(http, request, what, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, what, cancellationToken).ConfigureAwait(false);
        var result = await DaytonaHttp.ReadAsync<DaytonaPortInUse>(response, what, cancellationToken).ConfigureAwait(false);
        return result.IsInUse == true;
    }

    /// <summary>
    /// Quoted <c>name</c>/<c>filename</c> as browsers and curl send them (RFC 7578). .NET would write a bare
    /// <c>filename=x</c> plus <c>filename*</c>, which stricter multipart parsers reject.
    /// </summary>
    private static HttpContent Part(HttpContent content, string name, string? fileName)
    {
        content.Headers.ContentDisposition = new ContentDispositionHeaderValue("form-data")
        {
            Name = Quote(name),
            FileName = fileName is null ? null : Quote(fileName),
        };
        return content;
    }

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string FileName(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash < 0 ? path : path[(slash + 1)..];
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw await DaytonaHttp.ErrorAsync(response, what, cancellationToken).ConfigureAwait(false);
        }
    }
}
