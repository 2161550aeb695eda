using System.Diagnostics;
using Midori.Operator.Diagnostics;
using Midori.Operator.Files;

namespace Midori.Operator.Providers;

/// <summary>
/// Wraps a provider so every call is a span (<see cref="MidoriTracing.StartProviderCall"/>) whatever the provider.
/// Counting requests by HTTP status stays with the providers (<see cref="MidoriMetrics.ProviderRequest"/>): only they see statuses.
/// </summary>
internal sealed class TracedSandboxProvider(ISandboxProvider inner) : ISandboxProvider
{
    public ISandboxProvider Inner => inner;

    public string Name => inner.Name;

    public Task<SandboxInfo> CreateAsync(SandboxCreateRequest request, CancellationToken cancellationToken) =>
        TraceAsync("create", null, () => inner.CreateAsync(request, cancellationToken));

    public Task<SandboxInfo?> GetAsync(string sandboxId, CancellationToken cancellationToken) =>
        TraceAsync("get", sandboxId, () => inner.GetAsync(sandboxId, cancellationToken));

    public Task<IReadOnlyList<SandboxInfo>> ListAsync(string? ownerUid, CancellationToken cancellationToken) =>
        TraceAsync("list", null, () => inner.ListAsync(ownerUid, cancellationToken));

    public Task UploadFilesAsync(string sandboxId, IReadOnlyList<SandboxFile> files, CancellationToken cancellationToken) =>
        TraceAsync("upload_files", sandboxId, async () =>
        {
            Activity.Current?.SetTag("midori.files.count", files.Count);
            await inner.UploadFilesAsync(sandboxId, files, cancellationToken).ConfigureAwait(false);
            return true;
        });

    public Task DeleteFilesAsync(string sandboxId, IReadOnlyList<string> paths, CancellationToken cancellationToken) =>
        TraceAsync("delete_files", sandboxId, async () =>
        {
            await inner.DeleteFilesAsync(sandboxId, paths, cancellationToken).ConfigureAwait(false);
            return true;
        });

    public Task StartAsync(string sandboxId, SandboxStartRequest request, CancellationToken cancellationToken) =>
        TraceAsync("start", sandboxId, async () =>
        {
            await inner.StartAsync(sandboxId, request, cancellationToken).ConfigureAwait(false);
            return true;
        });

    public Task<PreviewEndpoint> GetPreviewAsync(string sandboxId, int port, CancellationToken cancellationToken) =>
        TraceAsync("get_preview", sandboxId, () => inner.GetPreviewAsync(sandboxId, port, cancellationToken));

    public Task<DateTimeOffset?> ExtendAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken) =>
        TraceAsync("extend", sandboxId, () => inner.ExtendAsync(sandboxId, until, cancellationToken));

    public Task DeleteAsync(string sandboxId, CancellationToken cancellationToken) =>
        TraceAsync("delete", sandboxId, async () =>
        {
            await inner.DeleteAsync(sandboxId, cancellationToken).ConfigureAwait(false);
            return true;
        });

    public SandboxCapabilities Capabilities => inner.Capabilities;

    public Task<bool> PauseAsync(string sandboxId, CancellationToken cancellationToken) =>
        TraceAsync("pause", sandboxId, () => inner.PauseAsync(sandboxId, cancellationToken));

    public Task<SandboxInfo?> ResumeAsync(string sandboxId, DateTimeOffset until, CancellationToken cancellationToken) =>
        TraceAsync("resume", sandboxId, () => inner.ResumeAsync(sandboxId, until, cancellationToken));

    public Task<bool> ArchiveAsync(string sandboxId, CancellationToken cancellationToken) =>
        TraceAsync("archive", sandboxId, () => inner.ArchiveAsync(sandboxId, cancellationToken));

    public Task<IReadOnlyDictionary<string, string>?> GetFileManifestAsync(string sandboxId, CancellationToken cancellationToken) =>
        TraceAsync("file_manifest", sandboxId, () => inner.GetFileManifestAsync(sandboxId, cancellationToken));

    private async Task<T> TraceAsync<T>(string operation, string? sandboxId, Func<Task<T>> call)
    {
        using var activity = MidoriTracing.StartProviderCall(inner.Name, operation, sandboxId);
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (activity is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity.AddException(ex);
            throw;
        }
    }
}
