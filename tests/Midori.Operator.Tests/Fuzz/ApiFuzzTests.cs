using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using k8s;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;
using Midori.Operator.Testing.Fakes;
using Midori.Operator.Tests.Http;
using Xunit.Abstractions;
using static Midori.Operator.Tests.Http.ApiTestHost;

namespace Midori.Operator.Tests.Fuzz;

/// <summary>
/// Generated hostile requests over every HTTP route and PreviewSandbox objects over every spec field: paths (dot
/// segments, absolute, backslashes, NUL, controls, bidi, NFC/NFD, files under files, long), strings with NUL and lone
/// surrogates, numbers of the wrong type and range, patch ops, malformed and oversized JSON, other namespaces'
/// tokens. Asserts 0 × 5xx, no file outside a sandbox's directory, and an operator that still creates a preview
/// afterwards. The seed is fixed (reproducible); <c>MIDORI_FUZZ_SEED</c> picks another, <c>MIDORI_FUZZ_CASES</c> more cases.
/// </summary>
public sealed class ApiFuzzTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const ulong DefaultSeed = 20261202;
    private const int DefaultCases = 600;

    private readonly string _scratch = Path.Combine(Path.GetTempPath(), "midori-fuzz-" + Guid.NewGuid().ToString("N")[..12]);
    private ApiTestHost _host = null!;
    private DiskBackedProvider _disk = null!;

    private string SandboxRoot => Path.Combine(_scratch, "sandboxes");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(SandboxRoot);
        _host = await StartAsync(
            new Dictionary<string, string?>
            {
                ["Api:RateLimitPerSecond"] = "1000000",
                ["Api:RateLimitBurst"] = "10000000",
                ["Api:MaxFileBytes"] = "65536",
                ["Api:MaxRequestBodyBytes"] = "262144",
                ["Api:MaxFilesPerProject"] = "64",
                ["Api:MaxPatchOperations"] = "32",
            },
            services =>
            {
                services.RemoveAll<ISandboxProvider>();
                services.AddSingleton(sp =>
                {
                    var (provider, control) = DiskBackedProvider.Wrap(new FakeSandboxProvider(sp.GetRequiredService<TimeProvider>()), SandboxRoot);
                    _disk = control;
                    return provider;
                });
            });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_scratch, recursive: true);
    }

    [Fact]
    public async Task GeneratedRequestsAndResources_NeverAnswer5xx_NeverWriteOutsideASandbox_AndLeaveTheOperatorUp()
    {
        var seed = ulong.TryParse(Environment.GetEnvironmentVariable("MIDORI_FUZZ_SEED"), CultureInfo.InvariantCulture, out var s) ? s : DefaultSeed;
        var cases = int.TryParse(Environment.GetEnvironmentVariable("MIDORI_FUZZ_CASES"), CultureInfo.InvariantCulture, out var n) ? n : DefaultCases;
        var pcg = new PCG(1, seed);

        // A few real previews, so file, heartbeat and seed routes also hit existing objects and sandboxes.
        var names = new List<string>();
        var sandboxIds = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var created = await _host.CreateReadyAsync(TeamA, $"fuzz-{i}", TextFile("index.html", "<h1>fuzz</h1>"), TextFile("src/app.js", "a\nb\nc"));
            names.Add((string)created["name"]!);
            sandboxIds.Add((string)created["sandboxId"]!);
        }

        var gen = FuzzGen.Case(names, sandboxIds);
        var statusCounts = new SortedDictionary<int, int>();
        var failures = new List<string>();
        var crdCases = 0;
        using var admin = _host.Client();
        using var teamA = _host.Client(TokenA);
        using var teamB = _host.Client(TokenB);
        using var anonymous = _host.Client(token: null);
        for (var i = 0; i < cases; i++)
        {
            var fuzz = gen.Generate(pcg, null!, out _);
            int status;
            if (fuzz.Resource is { } resource)
            {
                crdCases++;
                status = await CreateResourceAsync(resource);
            }
            else
            {
                var client = fuzz.Caller switch { Caller.TeamA => teamA, Caller.TeamB => teamB, Caller.Anonymous => anonymous, _ => admin };
                using var request = new HttpRequestMessage(new HttpMethod(fuzz.Method), fuzz.Url);
                if (fuzz.Body is { } body)
                {
                    request.Content = new ByteArrayContent(body);
                    request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                }

                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                status = (int)response.StatusCode;
                if (status >= 500)
                {
                    failures.Add($"case {i}: {fuzz.Method} {fuzz.Url} → {status}: {await response.Content.ReadAsStringAsync()}\n  body: {Preview(fuzz.Body)}");
                }
            }

            statusCounts[status] = statusCounts.GetValueOrDefault(status) + 1;
        }

        // The operator is still up and still reconciles: a fresh preview becomes Ready, probes answer.
        var after = await _host.CreateReadyAsync(TeamA, "fuzz-after", TextFile("index.html", "still up"));
        Assert.True((bool)after["ready"]!);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/readyz")).StatusCode);

        var outside = Directory.EnumerateFileSystemEntries(_scratch, "*", SearchOption.AllDirectories)
            .Where(p => p != SandboxRoot && !p.StartsWith(SandboxRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal)).ToList();
        output.WriteLine($"seed {seed}, {cases} cases ({crdCases} PreviewSandbox objects), statuses {string.Join(", ", statusCounts.Select(e => $"{e.Key}×{e.Value}"))}; " +
            $"5xx {failures.Count}; files written by providers {_disk.FilesWritten}; outside a sandbox {outside.Count + _disk.Violations.Count}");
        Assert.True(failures.Count == 0, $"seed {seed} (set MIDORI_FUZZ_SEED={seed} to replay): {failures.Count} × 5xx\n{string.Join("\n", failures.Take(5))}");
        Assert.True(_disk.Violations.IsEmpty, $"seed {seed}: {string.Join("\n", _disk.Violations.Take(5))}");
        Assert.Empty(outside);
        Assert.True(statusCounts.Keys.Count(k => k is >= 200 and < 300) > 0 && statusCounts.Keys.Count(k => k is >= 400 and < 500) > 2,
            "the generator should produce accepted and refused requests alike");
    }

    /// <summary>Creates the object through the API server; its schema may refuse it (a 4xx), the operator must survive what it accepts.</summary>
    private async Task<int> CreateResourceAsync(JsonObject resource)
    {
        try
        {
            await _host.Kubernetes.CustomObjects.CreateNamespacedCustomObjectAsync(resource, GroupVersion.Group, GroupVersion.Version, TeamA, GroupVersion.Plural);
            return 201;
        }
        catch (k8s.Autorest.HttpOperationException ex)
        {
            Assert.True((int)ex.Response.StatusCode < 500, $"the API server answered {(int)ex.Response.StatusCode}: {ex.Response.Content}");
            return (int)ex.Response.StatusCode;
        }
    }

    private static string Preview(byte[]? body) =>
        body is null ? "(none)" : body.Length > 300 ? Encoding.UTF8.GetString(body, 0, 300) + $"… ({body.Length} bytes)" : Encoding.UTF8.GetString(body);
}

public enum Caller
{
    Admin,
    TeamA,
    TeamB,
    Anonymous,
}

/// <summary>One generated case: an HTTP request, or a PreviewSandbox object to create through the API server.</summary>
public sealed record FuzzCase(string Method, string Url, byte[]? Body, Caller Caller, JsonObject? Resource = null);

/// <summary>Generators for hostile input.</summary>
public static class FuzzGen
{
    private static readonly string[] NastyPaths =
    [
        "../etc/passwd", "a/../../x", "/etc/passwd", "C:/x", "c:x", "~/x", "a\\b", "a//b", "./a", "a/./b", "a/", "", " ", ".", "..",
        "a\u0000b", "a\u0001b", "evil\u202Etxt.js", "a\u200Bb", "caf\u00e9.txt", "cafe\u0301.txt", "js/app..min.js", "a..b/c",
        "seg. /x", "x.", "\uD83D\uDE00.txt", "\uE000.txt", "a\nb", "index.html/x", "index.html", "a", "a/b", "a/b/c",
        new string('x', 256), string.Join('/', Enumerable.Repeat("d", 300)), "CON", "nul", ".git/config", "node_modules/.bin/x",
    ];

    private static readonly string[] NastyStrings =
    [
        "", " ", "\u0000", "a\u0000b", "caf\u00e9", "cafe\u0301", "\u202E", "'; DROP TABLE projects; --", "$(id)", "`id`", "${HOME}",
        "%00", "\\u0000", "<script>", "\uD83D\uDE00", new string('z', 5000), "null", "true", "-1", "1e309",
    ];

    private static readonly Gen<char> AlphaNumeric = Gen.Char["abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"];

    private static Gen<string> PathGen =>
        Gen.Frequency(
            (4, Gen.OneOf(NastyPaths)),
            (3, Gen.String[Gen.Char["abz09._-/"], 1, 24]),
            (1, Gen.String[Gen.Char, 0, 12]));

    private static Gen<string> TextGen =>
        Gen.Frequency((3, Gen.OneOf(NastyStrings)), (3, Gen.String[AlphaNumeric, 0, 16]), (1, Gen.String[Gen.Char, 0, 16]));

    /// <summary>A JSON value of an arbitrary type: the right one sometimes, the wrong one often.</summary>
    private static Gen<JsonNode?> AnyValue(Gen<JsonNode?> right) =>
        Gen.Frequency(
            (5, right),
            (1, Gen.Const<JsonNode?>((JsonNode?)null)),
            (1, Gen.Int.Select(i => (JsonNode?)JsonValue.Create(i))),
            (1, Gen.Long.Select(i => (JsonNode?)JsonValue.Create(i))),
            // Fractions, not ±1e308: the in-process test API server cannot parse numbers beyond decimal's range.
            (1, Gen.Int.Select(i => (JsonNode?)JsonValue.Create(i / 7.0))),
            (1, Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b))),
            (1, TextGen.Select(t => (JsonNode?)JsonValue.Create(t))),
            (1, Gen.Const<JsonNode?>((JsonNode?)null).Select(_ => (JsonNode?)new JsonArray())),
            (1, Gen.Const<JsonNode?>((JsonNode?)null).Select(_ => (JsonNode?)new JsonObject { ["x"] = 1 })));

    private static Gen<JsonNode?> Str => AnyValue(TextGen.Select(t => (JsonNode?)JsonValue.Create(t)));

    private static Gen<JsonNode?> Num => AnyValue(Gen.Frequency(
        (3, Gen.Int[-5, 100_000].Select(i => (JsonNode?)JsonValue.Create(i))),
        (1, Gen.Int[1, 86_400].Select(i => (JsonNode?)JsonValue.Create(i.ToString(CultureInfo.InvariantCulture))))));

    private static Gen<JsonNode?> File =>
        Gen.Select(PathGen, TextGen, Gen.OneOf<string?>(null, "utf8", "base64", "hex"), Gen.Int[0, 9], (path, content, encoding, extra) =>
        {
            var file = new JsonObject { ["path"] = path, ["content"] = encoding == "base64" ? Convert.ToBase64String(Encoding.UTF8.GetBytes(content)) : content };
            if (encoding is not null)
            {
                file["encoding"] = encoding;
            }

            if (extra == 0)
            {
                file["mode"] = "0777"; // unknown member
            }

            return (JsonNode?)file;
        });

    private static Gen<JsonNode?> Files => AnyValue(File.Array[0, 6].Select(a => (JsonNode?)new JsonArray(a)));

    private static Gen<JsonNode?> Env => AnyValue(Gen.Select(Str, Str, (name, value) => (JsonNode?)new JsonObject { ["name"] = name, ["value"] = value })
        .Array[0, 3].Select(a => (JsonNode?)new JsonArray(a)));

    private static Gen<JsonNode?> Operation =>
        Gen.Select(AnyValue(Gen.OneOf("insert", "delete", "replace", "Replace", "move").Select(t => (JsonNode?)JsonValue.Create(t))), Num, Str, Str,
            (type, line, content, old) => (JsonNode?)new JsonObject { ["type"] = type, ["line"] = line, ["content"] = content, ["oldContent"] = old });

    private static Gen<JsonObject> Object(params (string Name, Gen<JsonNode?> Value)[] members) =>
        Gen.Select(Gen.Int[0, (1 << members.Length) - 1], Gen.Int[0, 19], All(members.Select(m => m.Value)), (mask, unknown, values) =>
        {
            var o = new JsonObject();
            for (var i = 0; i < members.Length; i++)
            {
                if ((mask & (1 << i)) != 0)
                {
                    o[members[i].Name] = values[i]?.DeepClone();
                }
            }

            if (unknown == 0)
            {
                o["unexpected"] = true;
            }

            return o;
        });

    /// <summary>One value from each generator, in order.</summary>
    private static Gen<JsonNode?[]> All(IEnumerable<Gen<JsonNode?>> gens) =>
        gens.Aggregate(Gen.Const(Array.Empty<JsonNode?>()), (acc, next) => acc.SelectMany(values => next.Select(v => (JsonNode?[])[.. values, v])));

    /// <summary>The body as bytes: mostly the JSON, sometimes truncated, not JSON at all, deeply nested or oversized.</summary>
    private static Gen<byte[]?> Body(Gen<JsonObject> json) =>
        Gen.Frequency(
            (12, json.Select(o => (byte[]?)Encoding.UTF8.GetBytes(o.ToJsonString()))),
            (1, json.Select(o => { var b = Encoding.UTF8.GetBytes(o.ToJsonString()); return (byte[]?)b[..(b.Length / 2)]; })),
            (1, Gen.Byte.Array[0, 64].Select(b => (byte[]?)b)),
            (1, Gen.OneOf("""{"files":[{"path":"\ud800","content":"x"}]}""", "[]", "null", "\"x\"", "{\"projectId\":", new string('[', 2000) + new string(']', 2000))
                .Select(t => (byte[]?)Encoding.UTF8.GetBytes(t))),
            (1, Gen.Const<byte[]?>((byte[]?)null)),
            (1, Gen.Int[300_000, 400_000].Select(size => (byte[]?)Encoding.UTF8.GetBytes($"{{\"files\":[{{\"path\":\"big.txt\",\"content\":\"{new string('x', size)}\"}}]}}"))));

    public static Gen<FuzzCase> Case(IReadOnlyList<string> names, IReadOnlyList<string> sandboxIds)
    {
        var name = Gen.Frequency((4, Gen.OneOf([.. names])), (1, Gen.OneOf("missing", "Bad_Name", "a.b", new string('n', 260), "x%20y", "%2e%2e", "%C3%A9")));
        var ns = Gen.Frequency((6, Gen.Const(TeamA)), (1, Gen.OneOf(TeamB, "Bad_NS", "kube-system", new string('q', 70))));
        var project = Gen.Frequency((4, Gen.OneOf("fuzz-0", "fuzz-p")), (1, Gen.OneOf("Bad%20Project", "p%2F..", "%F0%9F%98%80", new string('p', 300))));
        var sandbox = Gen.Frequency((4, Gen.OneOf([.. sandboxIds])), (1, Gen.OneOf("local-000000000000", "x", "", "a%00b", "%C0%AE")));
        var caller = Gen.Frequency((8, Gen.Const(Caller.Admin)), (3, Gen.Const(Caller.TeamA)), (1, Gen.Const(Caller.TeamB)), (1, Gen.Const(Caller.Anonymous)));
        var query = Gen.OneOf("", "?wait=false", "?wait=maybe", "?timeoutSeconds=0", "?timeoutSeconds=abc", "?purge=true", "?purge=1");

        var createBody = Object(("projectId", Str), ("name", Str), ("files", Files), ("provider", AnyValue(Gen.OneOf("local", "e2b", "daytona", "mars").Select(p => (JsonNode?)p))),
            ("ttlSeconds", Num), ("idleTimeoutSeconds", Num), ("template", Str), ("command", Str), ("port", Num), ("env", Env), ("fromGenerationId", Str));
        var putBody = Object(("files", Files), ("deleted", AnyValue(PathGen.Array[0, 3].Select(a => (JsonNode?)new JsonArray([.. a.Select(p => (JsonNode?)p)])))),
            ("replaceAll", AnyValue(Gen.Bool.Select(b => (JsonNode?)b))));
        var patchBody = Object(("files", AnyValue(Gen.Select(PathGen, Str, AnyValue(Operation.Array[0, 4].Select(a => (JsonNode?)new JsonArray(a))),
            (p, h, ops) => (JsonNode?)new JsonObject { ["path"] = p, ["baseHash"] = h, ["operations"] = ops }).Array[0, 3].Select(a => (JsonNode?)new JsonArray(a)))));
        var settings = Object(("ttlSeconds", Num), ("idleTimeoutSeconds", Num), ("command", Str), ("port", Num), ("template", Str), ("provider", Str),
            ("env", AnyValue(Gen.Select(TextGen, TextGen, (k, v) => (JsonNode?)new JsonObject { [k.Length == 0 ? "K" : k] = v }))));
        var projectBody = Object(("previewEnabled", AnyValue(Gen.Bool.Select(b => (JsonNode?)b))), ("previewAutoBuild", AnyValue(Gen.Bool.Select(b => (JsonNode?)b))),
            ("previewSettings", AnyValue(settings.Select(o => (JsonNode?)o))));
        var snapshotBody = Object(("files", Files), ("fromGenerationId", Str));
        var seedUpdateBody = Object(("files", Files), ("path", Str), ("content", Str), ("encoding", Str));
        var seedPartialBody = Object(("path", Str), ("operations", AnyValue(Operation.Array[0, 4].Select(a => (JsonNode?)new JsonArray(a)))),
            ("patches", AnyValue(Operation.Array[0, 2].Select(a => (JsonNode?)new JsonArray(a)))), ("baseHash", Str));
        var seedStartBody = Object(("projectId", Str), ("files", Files));

        Gen<FuzzCase> Http(string method, Gen<string> url, Gen<byte[]?>? body = null) =>
            Gen.Select(url, body ?? Gen.Const<byte[]?>((byte[]?)null), caller, (u, b, c) => new FuzzCase(method, u, b, c));

        var previews = ns.Select(n => $"/api/v1/namespaces/{n}/previews");
        var one = Gen.Select(previews, name, (p, n) => $"{p}/{n}");
        var projects = Gen.Select(ns, project, (n, p) => $"/api/v1/namespaces/{n}/projects/{p}");
        return Gen.Frequency(
            (8, Http("POST", Gen.Select(previews, query, (p, q) => p + q), Body(createBody))),
            (7, Http("PUT", one.Select(u => u + "/files"), Body(putBody))),
            (7, Http("PATCH", one.Select(u => u + "/files"), Body(patchBody))),
            (3, Http("POST", one.Select(u => u + "/heartbeat"))),
            (2, Http("GET", one)),
            (1, Http("DELETE", Gen.Select(one, query, (u, q) => u + q))),
            (1, Http("GET", one.Select(u => u + "/events"))),
            (2, Http("GET", projects)),
            (4, Http("PUT", projects, Body(projectBody))),
            (4, Http("POST", projects.Select(p => p + "/snapshots"), Body(snapshotBody))),
            (1, Http("GET", Gen.Select(projects, Gen.Frequency((3, Gen.String[AlphaNumeric, 0, 40]), (1, Gen.OneOf("%20", "..", "%C3%A9", "%FF"))),
                (p, id) => $"{p}/snapshots/{id}"))),
            (3, Http("POST", Gen.Const("/api/preview/daytona"), Body(seedStartBody))),
            (3, Http("PUT", sandbox.Select(id => $"/api/preview/daytona?sandboxId={id}"), Body(seedUpdateBody))),
            (3, Http("PATCH", sandbox.Select(id => $"/api/preview/daytona/partial?sandboxId={id}"), Body(seedPartialBody))),
            (1, Http("DELETE", sandbox.Select(id => $"/api/preview/daytona?sandboxId={id}"))),
            (2, Http("GET", sandbox.Select(id => $"/api/preview/daytona?sandboxId={id}"))),
            (6, Resource()));
    }

    /// <summary>A PreviewSandbox with every spec field drawn from good and hostile values.</summary>
    private static Gen<FuzzCase> Resource()
    {
        var inline = Gen.Select(PathGen, TextGen, (p, c) => (JsonNode?)new JsonObject { ["path"] = p, ["content"] = c }).Array[1, 5]
            .Select(a => (JsonNode?)new JsonObject { ["inline"] = new JsonArray(a) });
        var configMap = Gen.Select(Str, Gen.Select(Str, PathGen, (k, p) => (JsonNode?)new JsonObject { ["key"] = k, ["path"] = p }).Array[0, 3],
            (n, items) => (JsonNode?)new JsonObject { ["configMapRef"] = new JsonObject { ["name"] = n, ["items"] = new JsonArray(items) } });
        var source = AnyValue(Gen.Frequency((3, inline), (1, configMap), (1, Str.Select(id => (JsonNode?)new JsonObject { ["snapshotId"] = id }))));
        var recreate = AnyValue(Object(("enabled", AnyValue(Gen.Bool.Select(b => (JsonNode?)b))), ("maxAttempts", Num), ("cooldownSeconds", Num)).Select(o => (JsonNode?)o));
        var spec = Object(("projectId", Str), ("provider", AnyValue(Gen.OneOf("local", "e2b", "mars").Select(p => (JsonNode?)p))), ("source", source),
            ("ttlSeconds", Num), ("idleTimeoutSeconds", Num), ("port", Num), ("command", Str), ("template", Str), ("env", Env), ("recreate", recreate),
            ("suspend", AnyValue(Gen.Bool.Select(b => (JsonNode?)b))));
        return Gen.Select(spec, Gen.Int[0, int.MaxValue], (s, id) => new FuzzCase("CREATE", "previewsandboxes", null, Caller.Admin, new JsonObject
        {
            ["apiVersion"] = $"{GroupVersion.Group}/{GroupVersion.Version}",
            ["kind"] = "PreviewSandbox",
            ["metadata"] = new JsonObject { ["name"] = $"fuzz-crd-{id:x8}" },
            ["spec"] = s,
        }));
    }
}
