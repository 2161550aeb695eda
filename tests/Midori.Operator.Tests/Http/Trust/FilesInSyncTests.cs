using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Providers;
using Midori.Operator.Testing.Fakes;
using static Midori.Operator.Tests.Http.ApiTestHost;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Http.Trust;

/// <summary>
/// FilesInSync tells the truth: a push the sandbox refuses shows in the API's answer (<c>pushed:false</c>,
/// <c>pushError</c>) and in the condition (False, with the provider's reason), and once the offending file is gone the
/// next push succeeds and the condition returns to True.
/// </summary>
public sealed class FilesInSyncTests : IAsyncLifetime
{
    private ApiTestHost _host = null!;
    private FakeSandboxProvider _fake = null!;

    public async Task InitializeAsync() => _host = await StartAsync(configureServices: services =>
    {
        services.RemoveAll<ISandboxProvider>();
        services.AddSingleton(sp =>
        {
            _fake = new FakeSandboxProvider(sp.GetRequiredService<TimeProvider>());
            return RefusingProvider.Wrap(_fake, "impossible.txt");
        });
    });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task AnImpossiblePush_IsReportedInTheAnswerAndTheCondition_AndDoesNotBlockLaterPushes()
    {
        var created = await _host.CreateReadyAsync(TeamA, "sync", TextFile("index.html", "v1"));
        var name = (string)created["name"]!;
        var sandboxId = (string)created["sandboxId"]!;
        using var client = _host.Client();
        var files = $"{Previews(TeamA)}/{name}/files";

        var bad = JsonNode.Parse(await (await client.PutAsJsonAsync(files, new { files = new[] { TextFile("impossible.txt", "x") } })).Content.ReadAsStringAsync())!;
        Assert.False((bool)bad["pushed"]!);
        Assert.Contains("refuses 'impossible.txt'", (string)bad["pushError"]!, StringComparison.Ordinal);
        var stale = await _host.WaitForAsync(TeamA, name, r => r?.Status?.Conditions?.Any(c => c is { Type: "FilesInSync", Status: "False" }) == true);
        var condition = stale!.Status!.Conditions!.Single(c => c.Type == "FilesInSync");
        Assert.Contains("refuses 'impossible.txt'", condition.Message, StringComparison.Ordinal);

        var fixedUp = await client.PutAsJsonAsync(files, new { files = new[] { TextFile("index.html", "v2") }, deleted = new[] { "impossible.txt" } });
        var body = JsonNode.Parse(await fixedUp.Content.ReadAsStringAsync())!;
        Assert.True((bool)body["pushed"]!, body.ToJsonString());
        Assert.Equal("v2", System.Text.Encoding.UTF8.GetString(_fake.Find(sandboxId)!.Files["index.html"]));
        await _host.WaitForAsync(TeamA, name, r => r?.Status?.Conditions?.Any(c => c is { Type: "FilesInSync", Status: "True" }) == true);
    }

    /// <summary>Forwards to the fake provider but refuses, every time, to upload a file with one name.</summary>
    public class RefusingProvider : DispatchProxy
    {
        private ISandboxProvider _inner = null!;
        private string _refused = null!;

        public static ISandboxProvider Wrap(ISandboxProvider inner, string refused)
        {
            var proxy = Create<ISandboxProvider, RefusingProvider>();
            ((RefusingProvider)(object)proxy)._inner = inner;
            ((RefusingProvider)(object)proxy)._refused = refused;
            return proxy;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod?.Name == nameof(ISandboxProvider.UploadFilesAsync) && ((IReadOnlyList<SandboxFile>)args![1]!).Any(f => f.Path == _refused))
            {
                return Task.FromException(new SandboxProviderException(_inner.Name, $"the sandbox refuses '{_refused}'", isTransient: false));
            }

            try
            {
                return targetMethod!.Invoke(_inner, args);
            }
            catch (TargetInvocationException ex) when (ex.InnerException is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerException).Throw();
                throw;
            }
        }
    }
}
