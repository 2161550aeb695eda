using System.Text.Json.Nodes;

namespace Midori.Operator.Tests.Http.Endpoints;

/// <summary>One server-sent event as read off the wire: fields of one block, or a comment line.</summary>
public sealed record SseMessage(string? Id, string? Event, string? Data, string? Comment, string? Retry)
{
    public JsonObject Body() => JsonNode.Parse(Data ?? "null")?.AsObject() ?? throw new InvalidOperationException("no data");
}

/// <summary>Reads <c>text/event-stream</c> blocks (fields separated by a blank line) from a live response stream.</summary>
public sealed class SseReader(Stream stream) : IDisposable
{
    private readonly StreamReader _reader = new(stream);

    /// <summary>The next block; bounded so a missing event fails the test instead of hanging it.</summary>
    public async Task<SseMessage> NextAsync(TimeSpan? timeout = null)
    {
        string? id = null, type = null, data = null, comment = null, retry = null;
        while (true)
        {
            var line = await _reader.ReadLineAsync().WaitAsync(timeout ?? TimeSpan.FromSeconds(30))
                ?? throw new EndOfStreamException("the event stream ended");
            if (line.Length == 0)
            {
                if (id is null && type is null && data is null && comment is null && retry is null)
                {
                    continue;
                }

                return new SseMessage(id, type, data, comment, retry);
            }

            if (line.StartsWith(':'))
            {
                comment = line[1..].Trim();
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? string.Empty : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id": id = value; break;
                case "event": type = value; break;
                case "data": data = data is null ? value : data + "\n" + value; break;
                case "retry": retry = value; break;
                default: break;
            }
        }
    }

    /// <summary>Next block that is an event (skips keep-alive comments and retry hints).</summary>
    public async Task<SseMessage> NextEventAsync(TimeSpan? timeout = null)
    {
        while (true)
        {
            var message = await NextAsync(timeout);
            if (message.Event is not null)
            {
                return message;
            }
        }
    }

    public void Dispose() => _reader.Dispose();
}
