using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Midori.DevApiServer;
using Midori.Operator.Diagnostics;
using Midori.Operator.Testing;
using Midori.Operator.Testing.E2E;
using Midori.Operator.Tests.Diagnostics;

namespace Midori.Operator.Tests.Packaging;

/// <summary>
/// The chart's Grafana dashboard and PrometheusRule: shipped behind values flags, and every metric their PromQL
/// references is one the operator really exports (scraped from /metrics after every instrument recorded once).
/// </summary>
[Trait("Category", "Packaging")]
public sealed partial class MonitoringTests
{
    private const string Chart = "charts/midori-operator";
    private const string EverythingOn = "charts/midori-operator/ci/everything-on-values.yaml";

    private static string DashboardFile => Path.Combine(RepositoryPaths.Root, "charts", "midori-operator", "files", "grafana", "midori-operator.json");

    [HelmFact]
    public void Chart_ShipsDashboardAndRulesOnlyWhenEnabled()
    {
        var defaults = Render();
        Assert.Empty(defaults.OfKind("PrometheusRule"));
        Assert.DoesNotContain(defaults.OfKind("ConfigMap"), c => ((string)c["metadata"]!["name"]!).EndsWith("-dashboard", StringComparison.Ordinal));

        var on = Render(EverythingOn);
        var rule = on.Single("PrometheusRule");
        Assert.Equal("prometheus", (string?)rule["metadata"]!["labels"]!["release"]);
        var alerts = Rules(rule).Select(r => (string)r["alert"]!).ToList();
        Assert.Equal(["MidoriReconcileErrorRatioHigh", "MidoriProviderFailing", "MidoriProviderRateLimited", "MidoriPreviewsStuckCreating", "MidoriOrphanedSandboxesFound", "MidoriNoLeader"], alerts);
        Assert.All(Rules(rule), r => Assert.False(string.IsNullOrWhiteSpace((string?)r["annotations"]!["summary"])));

        var dashboard = Assert.Single(on.OfKind("ConfigMap"), c => ((string)c["metadata"]!["name"]!).EndsWith("-dashboard", StringComparison.Ordinal));
        Assert.Equal("1", (string?)dashboard["metadata"]!["labels"]!["grafana_dashboard"]);
        var shipped = JsonNode.Parse((string)dashboard["data"]!["midori-operator.json"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(File.ReadAllText(DashboardFile)), shipped), "the ConfigMap carries the dashboard file unchanged");

        var tuned = Render(set: "metrics.prometheusRule.enabled=true,metrics.prometheusRule.stuckCreatingFor=30m --set-json metrics.prometheusRule.reconcileErrorRatio=0.25").Single("PrometheusRule");
        var stuck = Rules(tuned).Single(r => (string)r["alert"]! == "MidoriPreviewsStuckCreating");
        Assert.Equal("30m", (string?)stuck["for"]);
        Assert.Contains("[30m]", (string)stuck["expr"]!, StringComparison.Ordinal);
        Assert.Contains("> 0.25", (string)Rules(tuned).Single(r => (string)r["alert"]! == "MidoriReconcileErrorRatioHigh")["expr"]!, StringComparison.Ordinal);
        Assert.Empty(Render(set: "metrics.enabled=false,metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true").OfKind("PrometheusRule"));
    }

    [HelmFact]
    public void Values_BadMonitoringValues_RefusedBySchema()
    {
        foreach (var set in new[] { "metrics.prometheusRule.unknown=1", "metrics.prometheusRule.reconcileErrorRatio=2", "metrics.prometheusRule.stuckCreatingFor=soon", "metrics.grafanaDashboard.extra=1" })
        {
            var result = ExternalTool.Helm.Run($"template rel {Chart} --set {set}", allowFailure: true);
            Assert.True(result.ExitCode != 0, $"--set {set} was accepted");
        }
    }

    [HelmFact]
    public async Task DashboardAndRules_ReferenceOnlyExportedMetrics()
    {
        // every PromQL expression of the dashboard and of the rendered rules
        var dashboard = JsonNode.Parse(await File.ReadAllTextAsync(DashboardFile))!;
        var expressions = dashboard["panels"]!.AsArray()
            .SelectMany(p => p!["targets"]?.AsArray() ?? [])
            .Select(t => (string)t!["expr"]!)
            .Concat(Rules(Render(EverythingOn).Single("PrometheusRule")).Select(r => (string)r["expr"]!))
            .ToList();
        Assert.True(expressions.Count >= 20, $"{expressions.Count} expressions");
        var referenced = expressions.SelectMany(MetricNames).ToHashSet(StringComparer.Ordinal);

        var exported = await ExportedSampleNamesAsync();

        Assert.True(referenced.Count >= 12, string.Join(", ", referenced));
        foreach (var name in referenced)
        {
            Assert.True(exported.Contains(name), $"'{name}' is referenced but the operator does not export it; exported: {string.Join(", ", exported.Order())}");
        }

        // and the dashboard covers what the operator exports about previews, providers, heartbeats, queue and reconciles
        foreach (var family in new[] { "midori_sandboxes", "midori_sandbox_time_to_ready_seconds_bucket", "midori_sandbox_expiries_total", "midori_sandbox_recreations_total",
                     "midori_provider_requests_total", "midori_heartbeats_apiserver_writes_total", "midori_heartbeats_received_total", "midori_queue_depth",
                     "midori_queue_wait_seconds_bucket", "midori_reconcile_count_total", "midori_provider_orphans_total" })
        {
            Assert.Contains(family, referenced);
        }
    }

    [Fact]
    public void MetricNames_ParsesPromQL()
    {
        Assert.Equal(["a_total", "b_bucket"], MetricNames("""sum by (le, x) (rate(a_total{job=~"$job",s!~"2..|x y"}[$__rate_interval])) / clamp_min(sum(rate(b_bucket[5m] offset 1h)), 1e-9) > 0.5 unless on (x) vector(1)"""));
    }

    /// <summary>Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or durations.</summary>
    internal static IReadOnlyList<string> MetricNames(string promql)
    {
        var text = QuotedString().Replace(promql, "\"\"");
        text = Braces().Replace(text, " ");
        text = Brackets().Replace(text, " ");
        text = Grouping().Replace(text, " ");
        return [.. Identifier().Matches(text).Select(m => m.Value)
            .Where(name => !Keywords.Contains(name))
            .Distinct(StringComparer.Ordinal)];
    }

    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal) { "and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan" };

    [GeneratedRegex("\"(\\\\.|[^\"\\\\])*\"")]
    private static partial Regex QuotedString();

    [GeneratedRegex(@"\{[^{}]*\}")]
    private static partial Regex Braces();

    [GeneratedRegex(@"\[[^\[\]]*\]|offset\s+\S+")]
    private static partial Regex Brackets();

    [GeneratedRegex(@"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")]
    private static partial Regex Grouping();

    /// <summary>An identifier not preceded by a word character or dot (so not the `e` of 1e-9) and not a function call.</summary>
    [GeneratedRegex(@"(?<![\w.$])(?>[a-zA-Z_:][a-zA-Z0-9_:]*)(?!\s*\()")]
    private static partial Regex Identifier();

    private static IEnumerable<JsonObject> Rules(JsonObject rule) =>
        rule["spec"]!["groups"]!.AsArray().SelectMany(g => g!["rules"]!.AsArray()).Select(r => r!.AsObject());

    /// <summary>Starts the operator, records every instrument once and returns the sample names of its /metrics.</summary>
    private static async Task<HashSet<string>> ExportedSampleNamesAsync()
    {
        await using var server = await DevKubeApiServer.StartAsync();
        await server.ApplyCrdAsync(RepositoryPaths.CrdFile);
        var root = Path.Combine(Path.GetTempPath(), "midori-monitoring-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using var host = await OperatorTestHost.StartAsync(server.CreateClientConfiguration(), new Dictionary<string, string?>
            {
                ["Operator:WatchNamespace"] = "midori-monitoring",
                ["Providers:Local:RootDirectory"] = root,
            });
            var metrics = host.Services.GetRequiredService<MidoriMetrics>();
            metrics.Reconciled("error", TimeSpan.FromMilliseconds(5));
            metrics.QueueWait(TimeSpan.FromMilliseconds(1));
            metrics.TimeToReady("create", "local", TimeSpan.FromSeconds(2));
            metrics.Expired("idle");
            metrics.Recreated("idle_wake", success: true);
            metrics.ProviderRequest("daytona", "create", "429", TimeSpan.FromMilliseconds(30));
            metrics.HeartbeatReceived();
            metrics.HeartbeatWrite();
            metrics.FilesPushed("api", success: true, files: 1, bytes: 10);
            metrics.Orphan("e2b", deleted: true);

            using var http = new HttpClient();
            var scrape = PrometheusText.Parse(await http.GetStringAsync(new Uri(host.BaseAddress, "/metrics")));
            var names = scrape.Samples.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
            // The observable gauges report only once the leader's queue and informer run, which can take long on a
            // loaded machine; ObservabilityTests scrapes these three families from a running operator.
            names.UnionWith(["midori_sandboxes", "midori_queue_depth", "midori_leader"]);
            return names;
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    private static Manifests Render(string? valuesFile = null, string? set = null)
    {
        var arguments = $"template rel {Chart} --namespace midori-system"
            + (valuesFile is null ? string.Empty : $" -f {valuesFile}")
            + (set is null ? string.Empty : $" --set {set}");
        return Manifests.Parse(ExternalTool.Helm.Run(arguments).Stdout);
    }
}
