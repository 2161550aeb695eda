using System.Buffers.Binary;

namespace Midori.Operator.Providers.E2B;

/// <summary>
/// Connect protocol envelope used by streaming RPCs: one flag byte (0x01 compressed, 0x02 end of stream), a 4-byte
/// big-endian length, then the message. Unary Connect calls carry a bare JSON body instead.
/// </summary>
public static class ConnectEnvelope
{
    public const byte CompressedFlag = 0x01;
    public const byte EndStreamFlag = 0x02;

    /// <summary>Largest message we accept (envd sends process output in small chunks).</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    public static byte[] Frame(ReadOnlySpan<byte> message, byte flags = 0)
    {
        var framed = new byte[5 + message.Length];
        framed[0] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1, 4), (uint)message.Length);
        message.CopyTo(framed.AsSpan(5));
        return framed;
    }

    /// <summary>Next envelope from <paramref name="stream"/>; null at a clean end of the stream (between envelopes).</summary>
    public static async Task<(byte Flags, byte[] Message)?> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[5];
        var read = await ReadFullyAsync(stream, header, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            return null;
        }

        if (read < header.Length)
        {
            throw new InvalidDataException("Connect stream ended inside an envelope header");
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1, 4));
        if (length > MaxMessageBytes)
        {
            throw new InvalidDataException($"Connect envelope of {length} bytes exceeds the {MaxMessageBytes}-byte limit");
        }

        var message = new byte[length];
        if (await ReadFullyAsync(stream, message, cancellationToken).ConfigureAwait(false) < message.Length)
        {
            throw new InvalidDataException("Connect stream ended inside an envelope");
        }

        return (header[0], message);
    }

    private static async Task<int> ReadFullyAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }
}
