using k8s;
using Midori.Operator.Api.V1Alpha1;
using Midori.DevApiServer;
using Midori.DevStack;

namespace Midori.Operator.Testing.E2E;

/// <summary>Which of the three places an e2e scenario runs in.</summary>
public enum E2ETargetKind
{
    /// <summary>The in-process development API server, through the .NET client; the operator hosted by the test.</summary>
    InProcess,

    /// <summary>A real cluster named by a kubeconfig, through the .NET client; the operator hosted by the test.</summary>
    Cluster,

    /// <summary>The shipped dev stack (API server, operator, HTTP API, local provider in one host), driven through kubectl.</summary>
    DevStack,
}

/// <summary>Where to run: <see cref="FromEnvironment"/> reads <c>MIDORI_E2E_KUBECONFIG</c> and <c>MIDORI_E2E_DEVSTACK</c>.</summary>
public sealed record E2ETarget(E2ETargetKind Kind, string? Kubeconfig = null, string? Kubectl = null)
{
    public const string DevStackVariable = "MIDORI_E2E_DEVSTACK";

    public static readonly E2ETarget InProcess = new(E2ETargetKind.InProcess);

    public static E2ETarget DevStack(string kubectl) => new(E2ETargetKind.DevStack, Kubectl: kubectl);

    /// <summary>An explicit kubeconfig, else <c>MIDORI_E2E_KUBECONFIG</c>, else the dev stack with <c>MIDORI_E2E_DEVSTACK=1</c>, else in-process.</summary>
    public static E2ETarget FromEnvironment(string? kubeconfig = null)
    {
        kubeconfig ??= Environment.GetEnvironmentVariable(E2EEnvironment.KubeconfigVariable);
        if (!string.IsNullOrWhiteSpace(kubeconfig))
        {
            return new E2ETarget(E2ETargetKind.Cluster, kubeconfig);
        }

        if (Environment.GetEnvironmentVariable(DevStackVariable) is "1" or "true")
        {
            return DevStack(KubectlClusterClient.Find() ?? throw new InvalidOperationException($"{DevStackVariable} is set but no kubectl was found (PATH or {KubectlClusterClient.KubectlVariable})"));
        }

        return InProcess;
    }
}

/// <summary>The operator a scenario runs against: hosted by the test, or the dev stack's own.</summary>
public interface IOperatorUnderTest : IAsyncDisposable
{
    IServiceProvider Services { get; }
}

/// <summary>
/// Where the e2e scenarios run: the in-process test API server by default, a real cluster when <c>MIDORI_E2E_KUBECONFIG</c>
/// names a kubeconfig, or the shipped dev stack through kubectl with <c>MIDORI_E2E_DEVSTACK=1</c>. The scenarios are the same
/// code: their Kubernetes operations go through <see cref="IE2EClusterClient"/> and the operator comes from <see cref="StartOperatorAsync"/>.
/// </summary>
public sealed class E2EEnvironment : IAsyncDisposable
{
    public const string KubeconfigVariable = "MIDORI_E2E_KUBECONFIG";

    private readonly E2ETarget _target;
    private readonly DevKubeApiServer? _server;
    private readonly string? _devStackData;
    private KubernetesClientConfiguration? _configuration;
    private IKubernetes? _client;
    private IE2EClusterClient? _cluster;
    private DevStackHost? _devStack;

    private E2EEnvironment(E2ETarget target, string @namespace, KubernetesClientConfiguration? configuration, DevKubeApiServer? server, string? devStackData)
    {
        _target = target;
        Namespace = @namespace;
        _server = server;
        _devStackData = devStackData;
        if (configuration is not null)
        {
            UseConfiguration(configuration);
            _cluster = new KubernetesClusterClient(_client!);
        }
    }

    public KubernetesClientConfiguration Configuration => _configuration ?? throw DevStackNotStarted();

    /// <summary>A .NET client for what the scenario operations do not cover (against the dev stack: once the operator started).</summary>
    public IKubernetes Client => _client ?? throw DevStackNotStarted();

    public string Namespace { get; }

    public E2ETargetKind Kind => _target.Kind;

    public bool IsRealCluster => _target.Kind == E2ETargetKind.Cluster;

    /// <summary>The in-process test API server (its request log, faults); null against a real cluster or the dev stack.</summary>
    public DevKubeApiServer? Server => _server;

    public string Description => _target.Kind switch
    {
        E2ETargetKind.Cluster => $"real cluster {_configuration?.Host}",
        E2ETargetKind.DevStack => $"dev stack through kubectl {_configuration?.Host ?? "(not started)"}",
        _ => $"test API server {_configuration?.Host}",
    };

    private IE2EClusterClient Cluster => _cluster ?? throw DevStackNotStarted();

    /// <summary>Starts against <paramref name="kubeconfig"/>, else <c>MIDORI_E2E_KUBECONFIG</c>, else the test API server (never the dev stack).</summary>
    public static Task<E2EEnvironment> StartAsync(string? kubeconfig = null, CancellationToken cancellationToken = default)
    {
        kubeconfig ??= Environment.GetEnvironmentVariable(KubeconfigVariable);
        return StartAsync(string.IsNullOrWhiteSpace(kubeconfig) ? E2ETarget.InProcess : new E2ETarget(E2ETargetKind.Cluster, kubeconfig), cancellationToken);
    }

    /// <summary>
    /// Starts in <paramref name="target"/>. The dev stack holds its own API server and operator, so there the cluster starts
    /// with <see cref="StartOperatorAsync"/> (which then gets the scenario's operator settings).
    /// </summary>
    public static async Task<E2EEnvironment> StartAsync(E2ETarget target, CancellationToken cancellationToken = default)
    {
        var @namespace = $"midori-e2e-{Guid.NewGuid().ToString("N")[..8]}";
        E2EEnvironment environment;
        switch (target.Kind)
        {
            case E2ETargetKind.Cluster:
                environment = new E2EEnvironment(target, @namespace, KubernetesClientConfiguration.BuildConfigFromConfigFile(target.Kubeconfig), server: null, devStackData: null);
                break;
            case E2ETargetKind.DevStack:
                return new E2EEnvironment(target, @namespace, configuration: null, server: null, Directory.CreateTempSubdirectory("midori-e2e-devstack-").FullName);
            default:
                var server = await DevKubeApiServer.StartAsync();
                environment = new E2EEnvironment(target, @namespace, server.CreateClientConfiguration(), server, devStackData: null);
                break;
        }

        await environment.PrepareClusterAsync(cancellationToken);
        return environment;
    }

    /// <summary>
    /// The operator with <paramref name="settings"/> (configuration keys, as env vars would give them): hosted in-process against
    /// the API server, or, for the dev stack, the stack itself started with them as command-line arguments.
    /// </summary>
    public async Task<IOperatorUnderTest> StartOperatorAsync(IDictionary<string, string?> settings, CancellationToken cancellationToken = default)
    {
        if (_target.Kind != E2ETargetKind.DevStack)
        {
            return await OperatorTestHost.StartAsync(Configuration, settings, cancellationToken: cancellationToken);
        }

        if (_devStack is not null)
        {
            throw new InvalidOperationException("the dev stack runs one operator");
        }

        // Free ports for all three listeners (the shipped layout: API + playground, and the previews' own origin).
        string[] args =
        [
            $"--DevStack:DataDirectory={_devStackData}",
            $"--DevStack:Namespace={Namespace}",
            "--DevStack:Port=0",
            "--DevStack:PreviewPort=0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Midori=Warning",
            .. settings.Where(s => s.Value is not null).Select(s => $"--{s.Key}={s.Value}"),
        ];
        _devStack = await DevStackHost.StartAsync(args);
        UseConfiguration(KubernetesClientConfiguration.BuildConfigFromConfigFile(_devStack.KubeconfigPath));
        _cluster = new KubectlClusterClient(_target.Kubectl!, _devStack.KubeconfigPath, Path.Combine(_devStackData!, "kube-cache"));
        await PrepareClusterAsync(cancellationToken);
        return new DevStackOperator(this);
    }

    public Task<V1Alpha1PreviewSandbox> CreateAsync(V1Alpha1PreviewSandbox resource, CancellationToken cancellationToken)
    {
        resource.Metadata.NamespaceProperty ??= Namespace;
        return Cluster.CreateAsync(resource, cancellationToken);
    }

    public Task<V1Alpha1PreviewSandbox?> GetAsync(string name, CancellationToken cancellationToken) => Cluster.GetAsync(Namespace, name, cancellationToken);

    public Task MergePatchAsync(string name, object patch, CancellationToken cancellationToken) =>
        Cluster.MergePatchAsync(Namespace, name, KubernetesJson.Serialize(patch), cancellationToken);

    /// <summary>What <c>kubectl annotate --overwrite psb/NAME preview.midori.dev/heartbeat=$(date -u +%FT%TZ)</c> does.</summary>
    public Task HeartbeatAsync(string name, DateTimeOffset at, CancellationToken cancellationToken) =>
        Cluster.AnnotateAsync(Namespace, name, GroupVersion.HeartbeatAnnotation, at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture), cancellationToken);

    public Task DeleteAsync(string name, CancellationToken cancellationToken) => Cluster.DeleteAsync(Namespace, name, cancellationToken);

    public Task<k8s.Models.V1Secret?> GetSecretAsync(string name, CancellationToken cancellationToken) => Cluster.GetSecretAsync(Namespace, name, cancellationToken);

    /// <summary>Polls until <paramref name="condition"/> holds: the bounded wait e2e scenarios are allowed.</summary>
    public async Task<V1Alpha1PreviewSandbox?> WaitForAsync(string name, Func<V1Alpha1PreviewSandbox?, bool> condition, TimeSpan timeout, string what)
    {
        using var cts = new CancellationTokenSource(timeout);
        V1Alpha1PreviewSandbox? last = null;
        try
        {
            while (true)
            {
                last = await GetAsync(name, cts.Token);
                if (condition(last))
                {
                    return last;
                }

                await Task.Delay(100, cts.Token);
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            string events;
            try
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                events = await Cluster.DescribeEventsAsync(Namespace, bound.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or k8s.Autorest.HttpOperationException or HttpRequestException)
            {
                events = $"(events unavailable: {ex.Message})";
            }

            throw new TimeoutException($"Timed out after {timeout} waiting for {what} on {Description}; last seen: {(last is null ? "<none>" : KubernetesJson.Serialize(last.Status))}\nevents:\n{events}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (IsRealCluster)
        {
            await Cluster.DeleteNamespaceAsync(Namespace);
        }

        _cluster?.Dispose();
        _client?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        await StopDevStackAsync();

        if (_devStackData is not null && Directory.Exists(_devStackData))
        {
            Directory.Delete(_devStackData, recursive: true);
        }
    }

    private async Task PrepareClusterAsync(CancellationToken cancellationToken)
    {
        await Cluster.InstallCrdAsync(RepositoryPaths.CrdFile, cancellationToken);
        await Cluster.CreateNamespaceAsync(Namespace, cancellationToken);
    }

    private void UseConfiguration(KubernetesClientConfiguration configuration)
    {
        _configuration = configuration;
        _client = new k8s.Kubernetes(configuration);
    }

    private static InvalidOperationException DevStackNotStarted() => new("against the dev stack, the cluster exists once StartOperatorAsync started the stack");

    // Normally the scenario's operator disposal stops the stack, before the environment is disposed.
    private async ValueTask StopDevStackAsync()
    {
        if (_devStack is { } stack)
        {
            _devStack = null;
            await stack.DisposeAsync();
        }
    }

    private sealed class DevStackOperator(E2EEnvironment environment) : IOperatorUnderTest
    {
        private readonly IServiceProvider _services = environment._devStack!.App.Services;

        public IServiceProvider Services => _services;

        public ValueTask DisposeAsync() => environment.StopDevStackAsync();
    }
}
