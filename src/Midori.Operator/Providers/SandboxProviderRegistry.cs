using Microsoft.Extensions.Options;
using Midori.Operator.Diagnostics;
using Midori.Operator.Options;

namespace Midori.Operator.Providers;

internal sealed class SandboxProviderRegistry(IEnumerable<ISandboxProvider> providers, IOptions<OperatorOptions> options)
    : ISandboxProviderRegistry
{
    // Every provider is wrapped once so each call is a trace span, whichever provider it is.
    private readonly Dictionary<string, ISandboxProvider> _byName =
        providers.ToDictionary(p => p.Name, p => p is TracedSandboxProvider ? p : new TracedSandboxProvider(p), StringComparer.OrdinalIgnoreCase);

    public string DefaultProvider => options.Value.DefaultProvider;

    public IReadOnlyCollection<ISandboxProvider> All => _byName.Values;

    public bool TryGet(string name, out ISandboxProvider provider) => _byName.TryGetValue(name, out provider!);
}
