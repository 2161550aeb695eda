using System.Threading.Channels;
using Midori.Operator.Persistence;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Runtime;

/// <summary>A live feed of <see cref="PreviewSandboxCache"/> changes; dispose to stop receiving.</summary>
public sealed class PreviewSandboxSubscription : IDisposable
{
    private readonly PreviewSandboxCache _cache;
    private readonly Channel<PreviewSandboxChange> _channel;

    internal PreviewSandboxSubscription(PreviewSandboxCache cache, PreviewKey? key, Channel<PreviewSandboxChange> channel)
    {
        _cache = cache;
        Key = key;
        _channel = channel;
    }

    public PreviewKey? Key { get; }

    public ChannelReader<PreviewSandboxChange> Reader => _channel.Reader;

    public void Dispose() => _cache.Unsubscribe(this);

    internal void Offer(PreviewSandboxChange change) => _channel.Writer.TryWrite(change);

    internal void Complete() => _channel.Writer.TryComplete();
}
