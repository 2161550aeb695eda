namespace Midori.DevApiServer;

/// <summary>Behaviour switches for <see cref="DevKubeApiServer"/>.</summary>
public sealed class DevKubeApiServerOptions
{
    /// <summary>
    /// With the watch cache on (the default, as in real clusters) a watch from an old resourceVersion that is still in
    /// the history window replays events; with it off, watches read "etcd" and a compacted version gets an ERROR 410.
    /// </summary>
    public bool WatchCacheEnabled { get; init; } = true;

    /// <summary>How many events the history (watch cache window) keeps.</summary>
    public int WatchCacheCapacity { get; init; } = 10_000;

    /// <summary>Interval of BOOKMARK events for watches with <c>allowWatchBookmarks=true</c>; one is also sent right after the watch starts.</summary>
    public TimeSpan BookmarkInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Closes watch streams after their <c>timeoutSeconds</c>, like the real server.</summary>
    public bool SimulateWatchTimeout { get; init; } = true;

    /// <summary>Events a watcher may have queued before it is dropped as too slow.</summary>
    public int WatcherBufferCapacity { get; init; } = 1_000;

    /// <summary>Clock for timestamps, bookmarks and watch timeouts.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Bearer token the server accepts; a random one when null.</summary>
    public string? Token { get; init; }

    /// <summary>
    /// Aggregated discovery versions answered when the client asks for them (kubectl 1.30+ asks for v2, then v2beta1); empty
    /// answers legacy discovery only, like a 1.26 server with default feature gates.
    /// </summary>
    public IReadOnlyList<string> AggregatedDiscoveryVersions { get; init; } = ["v2", "v2beta1"];

    /// <summary>Loopback port to listen on; 0 picks a free one.</summary>
    public int Port { get; init; }

    /// <summary>
    /// Serve HTTPS with this certificate (with its private key) instead of plain HTTP. kubectl sends its bearer token only over
    /// HTTPS, so a server kubectl talks to needs it (<see cref="DevCertificates"/> makes one).
    /// </summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ServerCertificate { get; init; }

    /// <summary>The CA that signed <see cref="ServerCertificate"/>, written into client configurations and kubeconfigs.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? CertificateAuthority { get; init; }
}
