namespace Midori.DevApiServer.Http;

/// <summary>Server behaviour a test may flip while the server runs (like restarting kube-apiserver with other flags).</summary>
public sealed class RuntimeSwitches
{
    private volatile bool _watchCacheEnabled;

    public RuntimeSwitches(bool watchCacheEnabled) => _watchCacheEnabled = watchCacheEnabled;

    public bool WatchCacheEnabled
    {
        get => _watchCacheEnabled;
        set => _watchCacheEnabled = value;
    }
}
