using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Persistence;

/// <summary>One history write: a session transition or a recreation row.</summary>
internal abstract record HistoryRecord(PreviewKey Preview)
{
    public sealed record Session(SessionUpdate Update) : HistoryRecord(Update.Preview);

    public sealed record Recreation(RecreationRow Row) : HistoryRecord(Row.Preview);

    public string Kind => this is Session ? "session" : "recreation";
}

/// <summary>The bounded hand-off between the reconciler's inline notifications and <see cref="StoreHistoryWriter"/>.</summary>
internal sealed class StoreHistoryQueue(IOptions<StoreOptions> options)
{
    private readonly Channel<HistoryRecord> _channel = Channel.CreateBounded<HistoryRecord>(
        new BoundedChannelOptions(options.Value.HistoryQueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    public ChannelReader<HistoryRecord> Reader => _channel.Reader;

    /// <summary>Never blocks: false when the queue is full (the caller logs the drop).</summary>
    public bool TryEnqueue(HistoryRecord record) => _channel.Writer.TryWrite(record);
}
