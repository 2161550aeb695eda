using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;
using Midori.Operator.Runtime;
using Midori.Operator.Testing.Fakes;
using static Midori.Operator.Testing.Fakes.ScriptedPreviewSandboxClient;

namespace Midori.Operator.Tests.Runtime;

/// <summary>A provider's death report reconciles the owner at once, with no timer due (the clock never moves).</summary>
public sealed class SandboxDeathEnqueueTests : IDisposable
{
    private readonly ObservableTimeProvider _time = new();
    private readonly ScriptedPreviewSandboxClient _client = new();
    private readonly FakeLeadership _leadership = new();
    private readonly SandboxDeathNotifier _deaths = new();
    private readonly ReconcileQueue _queue;
    private readonly ServiceProvider _services;
    private readonly OperatorRuntimeHost _host;
    private readonly List<PreviewKey> _reconciled = [];
    private TaskCompletionSource<PreviewKey> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public SandboxDeathEnqueueTests()
    {
        _queue = new ReconcileQueue(_time);
        var options = TestSupport.Options();
        var informer = new PreviewSandboxInformer(_client, new PreviewSandboxCache(_client, _time), options, _time, NullLogger<PreviewSandboxInformer>.Instance, TestSupport.NoJitterWatchBackoff());
        var services = new ServiceCollection();
        services.AddScoped<IReconciler>(_ => new DelegateReconciler((key, _) =>
        {
            lock (_reconciled)
            {
                _reconciled.Add(key);
                _next.TrySetResult(key);
            }

            return Task.FromResult(ReconcileResult.Done());
        }));
        _services = services.BuildServiceProvider();
        var workers = new ReconcileWorkers(_queue, _services.GetRequiredService<IServiceScopeFactory>(), options, _time, NullLogger<ReconcileWorkers>.Instance, TestSupport.NoJitterReconcileBackoff());
        _host = new OperatorRuntimeHost(_leadership, informer, workers, _queue, _time, NullLogger<OperatorRuntimeHost>.Instance, deaths: _deaths);
    }

    public void Dispose()
    {
        _host.Dispose();
        _queue.Dispose();
        _services.Dispose();
    }

    [Theory]
    [InlineData("default", "a")] // the local provider knows the owner
    [InlineData(null, null)]     // E2B/Daytona know only the sandbox id: found through the informer's cache
    public async Task Report_WhileLeading_ReconcilesOwnerAtOnce(string? @namespace, string? name)
    {
        // arrange
        var owned = Sandbox("a");
        owned.Status = new PreviewSandboxStatus { SandboxId = "sbx-1", Phase = Phases.Running };
        _client.EnqueueList("10", [owned, Sandbox("b")]);
        await _host.StartAsync(CancellationToken.None); // the informer (every replica)
        _leadership.Become();
        await _client.WaitForWatchCallsAsync(1).WithTimeout();
        await WaitForReconcilesAsync(2); // the initial list
        var next = Arm();

        // act
        _deaths.Report(new SandboxDeath(ProviderNames.E2B, "sbx-1", @namespace, name, "the keep-alive answered 404"));
        var key = await next.WithTimeout();

        // assert
        Assert.Equal(new PreviewKey("default", "a"), key);
        _leadership.Lose();
        await _host.CurrentTermCompletion.WithTimeout();
    }

    [Fact]
    public async Task Report_NotLeading_Ignored()
    {
        // arrange
        await _host.StartAsync(CancellationToken.None).WithTimeout();

        // act
        _deaths.Report(new SandboxDeath(ProviderNames.Local, "local-000000000001", "default", "a", "the dev server exited with code 137"));

        // assert
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public async Task Report_UnknownSandbox_EnqueuesNothing()
    {
        // arrange
        _client.EnqueueList("10", []);
        await _host.StartAsync(CancellationToken.None); // the informer (every replica)
        _leadership.Become();

        // act
        _deaths.Report(new SandboxDeath(ProviderNames.Daytona, "not-cached", null, null, "the keep-alive answered 404"));

        // assert
        Assert.Equal(0, _queue.Count);
        _leadership.Lose();
    }

    private Task<PreviewKey> Arm()
    {
        lock (_reconciled)
        {
            _next = new TaskCompletionSource<PreviewKey>(TaskCreationOptions.RunContinuationsAsynchronously);
            return _next.Task;
        }
    }

    private async Task WaitForReconcilesAsync(int count)
    {
        while (true)
        {
            Task<PreviewKey> next;
            lock (_reconciled)
            {
                if (_reconciled.Count >= count)
                {
                    return;
                }

                next = _next.Task;
            }

            await next.WithTimeout();
            _ = Arm();
        }
    }
}
