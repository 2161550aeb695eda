using System.Collections.Concurrent;

namespace Midori.DevApiServer;

/// <summary>One request as the server saw it (so tests can count API writes).</summary>
public sealed record RecordedRequest(string Method, string Path, string Query, string? ContentType)
{
    public bool IsWrite => Method is "POST" or "PUT" or "PATCH" or "DELETE";
}

/// <summary>Thread-safe, append-only log of requests.</summary>
public sealed class RequestLog
{
    private readonly ConcurrentQueue<RecordedRequest> _entries = new();

    public IReadOnlyList<RecordedRequest> Entries => [.. _entries];

    public void Add(RecordedRequest request) => _entries.Enqueue(request);

    public void Clear() => _entries.Clear();
}
