using System.Collections.Concurrent;
using Midori.Operator.Runtime;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Tests.HighAvailability;

/// <summary>
/// Shared by every operator instance of one test: records who reconciled what and checks the HA invariants as it happens:
/// one object is never reconciled by two instances at once, two instances never reconcile at the same time, and an
/// instance reconciles only while it leads (a reconcile that starts in the instant leadership is being lost must see its
/// token cancelled at once).
/// </summary>
internal sealed class ReconcileRecorder
{
    private readonly object _lock = new(); // Monitor: re-entrant, so wait conditions may call KeysSeenBy
    private readonly Dictionary<PreviewKey, string> _activeByKey = [];
    private readonly Dictionary<string, int> _activeByInstance = [];
    private readonly Dictionary<string, ILeadership> _leadership = [];
    private readonly ConcurrentDictionary<string, int> _counts = new();
    private readonly ConcurrentQueue<string> _violations = new();
    private readonly List<(Func<bool> Condition, TaskCompletionSource Signal)> _waits = [];

    /// <summary>What a reconcile does between entering and leaving (default: nothing); may block until cancelled.</summary>
    public Func<string, PreviewKey, CancellationToken, Task> Behavior { get; set; } = (_, _, _) => Task.CompletedTask;

    public IReadOnlyCollection<string> Violations => [.. _violations];

    public int Count(string instance) => _counts.GetValueOrDefault(instance);

    public int Total => _counts.Values.Sum();

    public IReadOnlySet<PreviewKey> KeysSeenBy(string instance)
    {
        lock (_lock)
        {
            return _keysByInstance.TryGetValue(instance, out var keys) ? new HashSet<PreviewKey>(keys) : [];
        }
    }

    private readonly Dictionary<string, HashSet<PreviewKey>> _keysByInstance = [];

    public void Register(string instance, ILeadership leadership)
    {
        lock (_lock)
        {
            _leadership[instance] = leadership;
        }
    }

    /// <summary>Completes when <paramref name="condition"/> holds (checked after every reconcile), or at once if it already does.</summary>
    public Task WaitUntilAsync(Func<bool> condition)
    {
        lock (_lock)
        {
            if (condition())
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waits.Add((condition, signal));
            return signal.Task;
        }
    }

    public async Task<ReconcileResult> ReconcileAsync(string instance, PreviewKey key, CancellationToken cancellationToken)
    {
        Enter(instance, key, cancellationToken);
        try
        {
            // Yield so reconciles overlap in time the way real ones (API and provider calls) do.
            await Task.Yield();
            await Behavior(instance, key, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
            return ReconcileResult.After(TimeSpan.FromMilliseconds(100));
        }
        finally
        {
            Exit(instance, key);
        }
    }

    private void Enter(string instance, PreviewKey key, CancellationToken cancellationToken)
    {
        ILeadership? leadership;
        lock (_lock)
        {
            _leadership.TryGetValue(instance, out leadership);
        }

        // Leadership flips IsLeader before it cancels the term: allow that instant, nothing longer.
        if (leadership is { IsLeader: false } && !cancellationToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(1)))
        {
            _violations.Enqueue($"{instance} reconciled {key} while not leading");
        }

        lock (_lock)
        {
            if (_activeByKey.TryGetValue(key, out var other))
            {
                _violations.Enqueue($"{key} reconciled by {instance} while {other} was reconciling it");
            }

            foreach (var (otherInstance, active) in _activeByInstance)
            {
                if (otherInstance != instance && active > 0)
                {
                    _violations.Enqueue($"{instance} reconciled {key} while {otherInstance} had {active} reconcile(s) in flight");
                }
            }

            _activeByKey[key] = instance;
            _activeByInstance[instance] = _activeByInstance.GetValueOrDefault(instance) + 1;
        }
    }

    private void Exit(string instance, PreviewKey key)
    {
        lock (_lock)
        {
            _activeByKey.Remove(key);
            _activeByInstance[instance]--;
            _counts.AddOrUpdate(instance, 1, static (_, n) => n + 1);
            if (!_keysByInstance.TryGetValue(instance, out var keys))
            {
                _keysByInstance[instance] = keys = [];
            }

            keys.Add(key);
            for (var i = _waits.Count - 1; i >= 0; i--)
            {
                if (_waits[i].Condition())
                {
                    _waits[i].Signal.TrySetResult();
                    _waits.RemoveAt(i);
                }
            }
        }
    }
}

/// <summary>The scoped <see cref="IReconciler"/> of one operator instance, reporting to the shared recorder.</summary>
internal sealed class RecordingReconciler(ReconcileRecorder recorder, InstanceName instance) : IReconciler
{
    public Task<ReconcileResult> ReconcileAsync(PreviewKey key, CancellationToken cancellationToken) =>
        recorder.ReconcileAsync(instance.Value, key, cancellationToken);
}

internal sealed record InstanceName(string Value);
