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

/// <summary><paramref name="Reason"/> is CamelCase (condition reason): see <see cref="ProviderHealthReasons"/>.</summary>
public sealed record ProviderHealthState(bool Available, string Reason, string Message, DateTimeOffset Since);

/// <summary>The reasons providers report; they become the reason of the <c>ProviderAvailable</c> condition.</summary>
public static class ProviderHealthReasons
{
    public const string Available = Api.V1Alpha1.PreviewSandboxConditions.Reasons.Available;
    public const string CircuitOpen = Api.V1Alpha1.PreviewSandboxConditions.Reasons.CircuitOpen;
    public const string CredentialsMissing = Api.V1Alpha1.PreviewSandboxConditions.Reasons.CredentialsMissing;
    public const string CredentialsRejected = Api.V1Alpha1.PreviewSandboxConditions.Reasons.CredentialsRejected;
}

internal sealed class ProviderHealth(TimeProvider time) : IProviderHealth
{
    private readonly ConcurrentDictionary<string, ProviderHealthState> _states = new(StringComparer.Ordinal);

    public ProviderHealthState Get(string provider) =>
        _states.TryGetValue(provider, out var state) ? state : new ProviderHealthState(true, ProviderHealthReasons.Available, $"No failures reported by {provider}", DateTimeOffset.MinValue);

    public void Report(string provider, bool available, string reason, string message) =>
        _states.AddOrUpdate(provider,
            _ => new ProviderHealthState(available, reason, message, time.GetUtcNow()),
            (_, current) => current.Available == available && current.Reason == reason && current.Message == message
                ? current
                : new ProviderHealthState(available, reason, message, time.GetUtcNow()));
}
