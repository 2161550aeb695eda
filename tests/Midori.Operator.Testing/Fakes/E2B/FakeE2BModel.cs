namespace Midori.Operator.Testing.Fakes.E2B;

/// <summary>Settings of a <see cref="FakeE2BServer"/>.</summary>
public sealed class FakeE2BOptions
{
    /// <summary>The one API key the fake accepts in <c>X-API-Key</c>.</summary>
    public string ApiKey { get; set; } = "e2b_fake_test_key";

    /// <summary>Clock for end times, expiry and process deadlines (a FakeTimeProvider in behaviour tests).</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary><c>Sandbox.domain</c> in create/connect answers (nullable in the spec; clients fall back to their own).</summary>
    public string? Domain { get; set; }

    /// <summary>The team's maximum sandbox length (E2B: 1 h Hobby, 24 h Pro), counted from <c>startedAt</c>.</summary>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Largest page the list answers, whatever <c>limit</c> asks (exercises <c>X-Next-Token</c> paging).</summary>
    public int MaxPageSize { get; set; } = 100;

    /// <summary>Added before every answer (e.g. 2 ms) to make request counts visible in timings; zero on loopback.</summary>
    public TimeSpan Latency { get; set; }
}

/// <summary>A request the fake saw. <see cref="Surface"/> is api, envd or preview.</summary>
public sealed record FakeE2BRequest(string Surface, string Method, string Path, int Status, DateTimeOffset At, string? ConnectTimeoutMs, long? ContentLength);

/// <summary>One scripted failure: the next <see cref="Count"/> requests matching method and path prefix get it.</summary>
public sealed class FakeE2BFault
{
    public required string Method { get; init; }

    /// <summary>Path prefix, e.g. <c>/sandboxes</c> or <c>/files</c>.</summary>
    public required string PathPrefix { get; init; }

    public int Count { get; set; } = 1;

    /// <summary>Status to answer with (ignored when <see cref="Hold"/>).</summary>
    public int Status { get; init; } = 503;

    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Never answer: hold the request until the client gives up (a slow upload or a hung server).</summary>
    public bool Hold { get; init; }

    /// <summary>Signalled when a held request arrives.</summary>
    public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>A sandbox of the fake, with its files and processes.</summary>
public sealed class FakeE2BSandbox
{
    internal FakeE2BSandbox(string id) => Id = id;

    public string Id { get; }

    public required string TemplateId { get; init; }

    public required IReadOnlyDictionary<string, string> Metadata { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset EndAt { get; internal set; }

    public bool Secure { get; init; }

    public bool AllowPublicTraffic { get; init; } = true;

    public string? EnvdAccessToken { get; init; }

    public string? TrafficAccessToken { get; init; }

    public bool Killed { get; internal set; }

    /// <summary>Paused by <c>POST /pause</c>: kept past its end time, envd and previews unreachable until <c>/connect</c>.</summary>
    public bool Paused { get; internal set; }

    /// <summary>How often <c>/connect</c> resumed it.</summary>
    public int Resumes { get; internal set; }

    /// <summary>Absolute path → content.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);

    internal List<FakeE2BProcess> ProcessList { get; } = [];

    public IReadOnlyList<FakeE2BProcess> Processes
    {
        get
        {
            lock (ProcessList)
            {
                return [.. ProcessList];
            }
        }
    }
}

/// <summary>
/// A process envd started. It runs until it is signalled or, like envd's <c>exec.CommandContext</c>, until the
/// <c>Connect-Timeout-Ms</c> deadline of its Start call passes. It "listens" on the port in its <c>PORT</c>
/// environment variable and serves files from its working directory there (the fake runs no commands).
/// </summary>
public sealed class FakeE2BProcess
{
    public required uint Pid { get; init; }

    public string? Tag { get; init; }

    public required string Cmd { get; init; }

    public required IReadOnlyList<string> Args { get; init; }

    public required IReadOnlyDictionary<string, string> Envs { get; init; }

    public string? Cwd { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>From <c>Connect-Timeout-Ms</c>; envd kills the process when it passes.</summary>
    public DateTimeOffset? Deadline { get; init; }

    public bool Signalled { get; internal set; }

    public int? ExitCode { get; internal set; }

    internal TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsRunning(DateTimeOffset now) => !Signalled && ExitCode is null && (Deadline is not { } d || now < d);

    public int? Port => Envs.TryGetValue("PORT", out var p) && int.TryParse(p, out var port) ? port : null;
}
