using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Midori.Operator.Testing.E2E;

/// <summary>
/// The real operator (same wiring as Program: AddMidoriOperator + MapMidoriEndpoints) hosted in-process on a
/// loopback port, pointed at a given API server. Settings go in as configuration keys, exactly as env vars would.
/// </summary>
public sealed class OperatorTestHost : IOperatorUnderTest
{
    private readonly WebApplication _app;

    private OperatorTestHost(WebApplication app) => _app = app;

    public IServiceProvider Services => _app.Services;

    public Uri BaseAddress => new(_app.Urls.First());

    public static async Task<OperatorTestHost> StartAsync(
        KubernetesClientConfiguration kubernetes,
        IDictionary<string, string?> settings,
        Action<IServiceCollection>? configureServices = null,
        CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Urls"] = "http://127.0.0.1:0",
            ["LeaderElection:Enabled"] = "false",
            ["Logging:LogLevel:Default"] = Environment.GetEnvironmentVariable("MIDORI_TEST_LOGLEVEL") ?? "Warning",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Services.AddSingleton(kubernetes);
        builder.AddMidoriOperator();
        configureServices?.Invoke(builder.Services); // after the real wiring, so tests and benchmarks can replace seams
        var app = builder.Build();
        app.MapMidoriEndpoints();
        await app.StartAsync(cancellationToken);
        return new OperatorTestHost(app);
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TestWaits.Bound);
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
    }
}
