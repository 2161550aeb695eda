using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Midori.Operator.Testing.Contracts;

/// <summary>
/// A Stoplight Prism mock of an official provider spec (<c>../shared/specs</c>) on a loopback port, started with
/// <c>--errors</c> so any request that breaks the spec is answered 4xx with an <c>sl-violations</c> header.
/// Route the provider's HttpClient through <see cref="CreateViolationRecorder"/> and assert <see cref="Violations"/> is empty.
/// Prism comes from <c>MIDORI_PRISM</c> (set by <c>.ci/setup.d/20-prism.sh</c>) or <c>.ci/.tools/prism</c>.
/// </summary>
public sealed class PrismMock : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly ConcurrentQueue<string> _violations = new();

    private PrismMock(Process process, Uri baseUri)
    {
        _process = process;
        BaseUri = baseUri;
    }

    public Uri BaseUri { get; }

    /// <summary>Every spec violation Prism reported, as "METHOD path: violations".</summary>
    public IReadOnlyCollection<string> Violations => [.. _violations];

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Path to the prism binary, or null (with the reason) when it is not installed.</summary>
    public static string? FindPrism(out string reason)
    {
        var candidates = new[]
        {
            Environment.GetEnvironmentVariable("MIDORI_PRISM"),
            Path.Combine(RepositoryPaths.Root, ".ci", ".tools", "prism", "node_modules", ".bin", "prism"),
        };
        foreach (var candidate in candidates)
        {
            if (!string.IsNullOrEmpty(candidate) && File.Exists(candidate))
            {
                reason = string.Empty;
                return candidate;
            }
        }

        reason = "Prism is not installed: run `source .ci/setup.d/20-prism.sh` (CI does) or set MIDORI_PRISM";
        return null;
    }

    /// <param name="specFile">File name under <c>../shared/specs</c>, e.g. <c>daytona-api.openapi.json</c>, or an absolute path (a derived copy).</param>
    public static async Task<PrismMock> StartAsync(string specFile, CancellationToken cancellationToken = default)
    {
        var prism = FindPrism(out var reason) ?? throw new InvalidOperationException(reason);
        var spec = Path.IsPathRooted(specFile) ? specFile : Path.Combine(RepositoryPaths.Shared, "specs", specFile);
        if (!File.Exists(spec))
        {
            throw new FileNotFoundException($"Spec {spec} not found (../shared must sit beside the repository)", spec);
        }

        var port = FreePort();
        var info = new ProcessStartInfo(prism)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "mock", "--errors", "-h", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), spec })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start prism");
        var mock = new PrismMock(process, new Uri($"http://127.0.0.1:{port}"));
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is null)
            {
                return;
            }

            lock (mock._output)
            {
                mock._output.AppendLine(e.Data);
            }

            if (e.Data.Contains("Prism is listening", StringComparison.Ordinal))
            {
                listening.TrySetResult();
            }
        }

        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"prism exited early:\n{mock.Output}"));

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(90)); // first start compiles the spec; large specs take a while on 2 cores
        try
        {
            await listening.Task.WaitAsync(timeout.Token);
        }
        catch
        {
            await mock.DisposeAsync();
            throw;
        }

        return mock;
    }

    /// <summary>A handler to put under the provider's HttpClient: records violations, passes responses through unchanged.</summary>
    public DelegatingHandler CreateViolationRecorder(HttpMessageHandler? inner = null) =>
        new ViolationRecorder(this) { InnerHandler = inner ?? new SocketsHttpHandler() };

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }

        _process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class ViolationRecorder(PrismMock mock) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (response.Headers.TryGetValues("sl-violations", out var values))
            {
                mock._violations.Enqueue($"{request.Method} {request.RequestUri?.PathAndQuery}: {string.Join(" ", values)}");
            }
            else if (response.StatusCode == HttpStatusCode.UnprocessableEntity
                && response.Content.Headers.ContentType?.MediaType == "application/problem+json")
            {
                // Prism's own "Invalid request" answer when the spec declares no 4xx for the operation.
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                mock._violations.Enqueue($"{request.Method} {request.RequestUri?.PathAndQuery}: {body}");
            }

            return response;
        }
    }
}
