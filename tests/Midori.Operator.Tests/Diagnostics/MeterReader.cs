using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Midori.Operator.Tests.Diagnostics;

/// <summary>
/// Listens to one <see cref="Meter"/> instance only (several operator hosts in one test process each have their own
/// meter of the same name, and OpenTelemetry's exporters listen by name), summing counter/histogram measurements and
/// reading observable gauges on demand. Values are keyed by instrument name plus sorted tags ("name{k=v,...}").
/// </summary>
internal sealed class MeterReader : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, double> _sums = new();
    private readonly ConcurrentDictionary<string, long> _counts = new();
    private readonly ConcurrentDictionary<string, double> _lastValues = new();

    public MeterReader(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Record(i, value, tags));
        _listener.SetMeasurementEventCallback<int>((i, value, tags, _) => Record(i, value, tags));
        _listener.SetMeasurementEventCallback<double>((i, value, tags, _) => Record(i, value, tags));
        _listener.Start();
    }

    /// <summary>Sum of all measurements of a counter or histogram with these tags.</summary>
    public double Sum(string instrument, params (string Key, string Value)[] tags) => _sums.GetValueOrDefault(Key(instrument, tags));

    /// <summary>Number of measurements (histogram samples) with these tags.</summary>
    public long Samples(string instrument, params (string Key, string Value)[] tags) => _counts.GetValueOrDefault(Key(instrument, tags));

    /// <summary>Current value of an observable gauge with these tags (null: not reported).</summary>
    public double? Gauge(string instrument, params (string Key, string Value)[] tags)
    {
        _lastValues.Clear();
        _listener.RecordObservableInstruments();
        return _lastValues.TryGetValue(Key(instrument, tags), out var value) ? value : null;
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var pairs = new (string, string)[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            pairs[i] = (tags[i].Key, tags[i].Value?.ToString() ?? string.Empty);
        }

        var key = Key(instrument.Name, pairs);
        if (instrument.IsObservable)
        {
            _lastValues[key] = value;
            return;
        }

        _sums.AddOrUpdate(key, value, (_, sum) => sum + value);
        _counts.AddOrUpdate(key, 1, (_, n) => n + 1);
    }

    private static string Key(string instrument, (string Key, string Value)[] tags) =>
        $"{instrument}{{{string.Join(",", tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}"))}}}";
}
