using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Midori.Operator.Testing;

/// <summary>Records every measurement of one long counter on one meter (a MeterListener), with its tags, for assertions.</summary>
public sealed class LongCounterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(long Value, IReadOnlyDictionary<string, string?> Tags)> _measurements = new();

    public LongCounterRecorder(Meter meter, string instrument)
    {
        _listener.InstrumentPublished = (i, listener) =>
        {
            if (ReferenceEquals(i.Meter, meter) && i.Name == instrument)
            {
                listener.EnableMeasurementEvents(i);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            _measurements.Enqueue((value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value?.ToString()))));
        _listener.Start();
    }

    public IReadOnlyList<(long Value, IReadOnlyDictionary<string, string?> Tags)> Measurements => [.. _measurements];

    /// <summary>Sum of measurements whose tags include every given pair.</summary>
    public long Sum(params (string Key, string Value)[] tags) =>
        Measurements.Where(m => tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && v == t.Value)).Sum(m => m.Value);

    public void Dispose() => _listener.Dispose();
}
