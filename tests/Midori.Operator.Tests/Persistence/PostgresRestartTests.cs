using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Controllers;
using Midori.Operator.Persistence;
using Midori.Operator.Tests.Http;
using Xunit.Abstractions;
using static Midori.Operator.Tests.Http.ApiTestHost;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.Persistence;

/// <summary>A fact that needs PostgreSQL server binaries to start a private cluster (see <see cref="PrivatePostgresCluster"/>).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PrivatePostgresFactAttribute : FactAttribute
{
    public PrivatePostgresFactAttribute()
    {
        if (PrivatePostgresCluster.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>
/// The store going away under load: PostgreSQL stopped, then restarted twice while concurrent writers PUT files,
/// heartbeat, PUT project settings and POST snapshots. Every answer is a 2xx or a 503 with Retry-After, /readyz
/// says 503 while the store is down, and every write that was acknowledged is in the store afterwards.
/// </summary>
public sealed class PostgresRestartTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Writers = 4;
    private const int AcksBetweenRestarts = 40;
    private const int Restarts = 2;

    private PrivatePostgresCluster _cluster = null!;
    private ApiTestHost _host = null!;

    public async Task InitializeAsync()
    {
        if (PrivatePostgresCluster.SkipReason is not null)
        {
            return;
        }

        _cluster = await PrivatePostgresCluster.StartAsync();
        _host = await StartAsync(settings: null, services => ApiTestHost.UsePostgresStore(services, _cluster.ConnectionString));
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [PrivatePostgresFact]
    public async Task StoreStoppedAndRestartedMidStream_Only503s_ReadyzReportsIt_AndNoAcknowledgedWriteIsLost()
    {
        var created = await _host.CreateReadyAsync(TeamA, "restart", TextFile("index.html", "<h1>0</h1>"));
        var name = (string)created["name"]!;
        var key = new PreviewKey(TeamA, name);
        using var client = _host.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);

        // 1. Stopped: /readyz and a write both say 503 (Retry-After on the write); back up: both recover.
        await _cluster.StopAsync();
        var readyDown = await client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyDown.StatusCode);
        Assert.Contains("store unreachable", await readyDown.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var refused = await client.PutAsJsonAsync($"{Previews(TeamA)}/{name}/files", new { files = new[] { TextFile("down.txt", "x") } });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        await _cluster.StartAgainAsync();
        await UntilAsync(async () => (await client.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "readyz to recover");

        // 2. Concurrent writers while the server restarts twice.
        var statuses = new ConcurrentDictionary<int, int>();
        var others = new ConcurrentQueue<string>();
        var ackedFiles = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var ackedSnapshots = new ConcurrentBag<string>();
        var ackedProjectValue = new ConcurrentDictionary<int, int>();
        var acks = 0;
        var outages = new ConcurrentQueue<(long FirstFailure, long Recovered)>();
        long firstFailure = 0;
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();

        async Task<bool> SendAsync(Func<Task<HttpResponseMessage>> send)
        {
            using var response = await send();
            statuses.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
            if (response.IsSuccessStatusCode)
            {
                if (Interlocked.Exchange(ref firstFailure, 0) is var failedAt and > 0)
                {
                    outages.Enqueue((failedAt, clock.ElapsedMilliseconds));
                }

                Interlocked.Increment(ref acks);
                return true;
            }

            if (response.StatusCode == HttpStatusCode.ServiceUnavailable && response.Headers.RetryAfter is not null)
            {
                Interlocked.CompareExchange(ref firstFailure, Math.Max(1, clock.ElapsedMilliseconds), 0);
                return false;
            }

            others.Enqueue($"{(int)response.StatusCode} {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery}: {await response.Content.ReadAsStringAsync()}");
            return false;
        }

        async Task WriteAsync(int writer)
        {
            using var own = _host.Client();
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var path = $"w{writer}/f{i}.txt";
                var content = $"writer {writer} write {i}";
                if (await SendAsync(() => own.PutAsJsonAsync($"{Previews(TeamA)}/{name}/files", new { files = new[] { TextFile(path, content) } })))
                {
                    ackedFiles[path] = content;
                }

                await SendAsync(() => own.PostAsync($"{Previews(TeamA)}/{name}/heartbeat", null));
                var value = i;
                if (await SendAsync(() => own.PutAsJsonAsync($"/api/v1/namespaces/{TeamA}/projects/writer-{writer}",
                        new { previewEnabled = true, previewSettings = new { env = new Dictionary<string, string> { ["I"] = value.ToString(System.Globalization.CultureInfo.InvariantCulture) } } })))
                {
                    ackedProjectValue.AddOrUpdate(writer, value, (_, old) => Math.Max(old, value));
                }

                using var snapshot = await own.PostAsJsonAsync($"/api/v1/namespaces/{TeamA}/projects/writer-{writer}/snapshots",
                    new { files = new[] { TextFile("s.txt", content) }, fromGenerationId = $"g{i}" });
                statuses.AddOrUpdate((int)snapshot.StatusCode, 1, (_, n) => n + 1);
                if (snapshot.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref acks);
                    ackedSnapshots.Add((string)JsonNode.Parse(await snapshot.Content.ReadAsStringAsync())!["snapshotId"]!);
                }
                else if (snapshot.StatusCode != HttpStatusCode.ServiceUnavailable || snapshot.Headers.RetryAfter is null)
                {
                    others.Enqueue($"{(int)snapshot.StatusCode} snapshot: {await snapshot.Content.ReadAsStringAsync()}");
                }
            }
        }

        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(() => WriteAsync(w))).ToArray();
        for (var restart = 0; restart < Restarts; restart++)
        {
            var target = Volatile.Read(ref acks) + AcksBetweenRestarts;
            await UntilAsync(() => Task.FromResult(Volatile.Read(ref acks) >= target || writers.Any(w => w.IsCompleted)), "writers to make progress");
            await _cluster.RestartAsync();
        }

        var final = Volatile.Read(ref acks) + AcksBetweenRestarts;
        await UntilAsync(() => Task.FromResult(Volatile.Read(ref acks) >= final || writers.Any(w => w.IsCompleted)), "writers to make progress after the last restart");
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        // 3. Nothing acknowledged is missing.
        var store = _host.Services.GetRequiredService<IPreviewStore>();
        var head = await store.ReadFilesAsync(key, null, CancellationToken.None);
        var stored = head!.Files.ToDictionary(f => f.Path, f => Encoding.UTF8.GetString(f.Content), StringComparer.Ordinal);
        var lostFiles = ackedFiles.Where(e => !stored.TryGetValue(e.Key, out var c) || c != e.Value).Select(e => e.Key).ToList();
        var lostSnapshots = new List<string>();
        foreach (var snapshotId in ackedSnapshots)
        {
            if (await store.GetSnapshotAsync(TeamA, snapshotId, CancellationToken.None) is null)
            {
                lostSnapshots.Add(snapshotId);
            }
        }

        var lostProjects = new List<int>();
        foreach (var (writer, value) in ackedProjectValue)
        {
            var project = await store.GetProjectAsync(TeamA, $"writer-{writer}", CancellationToken.None);
            if (project?.PreviewSettings?.Env?.GetValueOrDefault("I") is not { } text || int.Parse(text, System.Globalization.CultureInfo.InvariantCulture) < value)
            {
                lostProjects.Add(writer);
            }
        }

        var total = statuses.Values.Sum();
        var unavailable = statuses.GetValueOrDefault(503);
        var recoveries = outages.Select(o => o.Recovered - o.FirstFailure).ToList();
        output.WriteLine($"requests {total}, 2xx {statuses.Where(e => e.Key is >= 200 and < 300).Sum(e => e.Value)}, 503 {unavailable}, other {others.Count}; " +
            $"acknowledged writes: {ackedFiles.Count} files, {ackedSnapshots.Count} snapshots, {ackedProjectValue.Count} projects; " +
            $"lost: {lostFiles.Count + lostSnapshots.Count + lostProjects.Count}; outages seen {recoveries.Count}, recovery (first 503 → next 2xx) " +
            (recoveries.Count > 0 ? $"{recoveries.Min()}–{recoveries.Max()} ms" : "n/a"));

        Assert.True(others.IsEmpty, $"answers other than 2xx/503: {string.Join("\n", others.Take(10))}");
        Assert.Empty(lostFiles);
        Assert.Empty(lostSnapshots);
        Assert.Empty(lostProjects);
        Assert.True(ackedFiles.Count > 0 && ackedSnapshots.Count > 0);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);
    }

    /// <summary>Bounded poll on real time (PostgreSQL restarts on the wall clock), generous for a loaded machine.</summary>
    private static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(120))
            {
                Assert.Fail($"timed out waiting for {what}");
            }

            await Task.Yield();
            await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System);
        }
    }
}
