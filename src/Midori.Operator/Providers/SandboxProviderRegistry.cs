using Microsoft.Extensions.Options;
using Midori.Operator.Options;

namespace Midori.Operator.Providers;

internal sealed class SandboxProviderRegistry(IEnumerable<ISandboxProvider> providers, IOptions<OperatorOptions> options)
    : ISandboxProviderRegistry
{
    private readonly Dictionary<string, ISandboxProvider> _byName =
        providers.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);

    public string DefaultProvider => options.Value.DefaultProvider;

    public IReadOnlyCollection<ISandboxProvider> All => _byName.Values;

    public bool TryGet(string name, out ISandboxProvider provider) => _byName.TryGetValue(name, out provider!);
}
