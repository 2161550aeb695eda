using System.Collections.Concurrent;

namespace Midori.Operator.Providers;

/// <summary>
/// What the operator currently knows about a provider's API as a whole (circuit breaker open, credentials rejected or
/// missing). Providers report; the reconciler reads it into each resource's <c>ProviderAvailable</c> condition so an
/// outage is visible on every affected PreviewSandbox without a failed call per resource.
/// </summary>
public interface IProviderHealth
{
    ProviderHealthState Get(string provider);

    void Report(string provider, bool available, string reason, string message);
}

/// <summary><paramref name="Reason"/> is CamelCase (condition reason): Available, CircuitOpen, CredentialsMissing, CredentialsRejected…</summary>
public sealed record ProviderHealthState(bool Available, string Reason, string Message, DateTimeOffset Since);

internal sealed class ProviderHealth(TimeProvider time) : IProviderHealth
{
    private readonly ConcurrentDictionary<string, ProviderHealthState> _states = new(StringComparer.Ordinal);

    public ProviderHealthState Get(string provider) =>
        _states.TryGetValue(provider, out var state) ? state : new ProviderHealthState(true, "Available", $"No failures reported by {provider}", DateTimeOffset.MinValue);

    public void Report(string provider, bool available, string reason, string message) =>
        _states.AddOrUpdate(provider,
            _ => new ProviderHealthState(available, reason, message, time.GetUtcNow()),
            (_, current) => current.Available == available && current.Reason == reason && current.Message == message
                ? current
                : new ProviderHealthState(available, reason, message, time.GetUtcNow()));
}
