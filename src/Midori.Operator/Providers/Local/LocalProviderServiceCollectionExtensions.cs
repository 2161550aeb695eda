using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Options;
using Microsoft.Extensions.Options;

namespace Midori.Operator.Providers.Local;

public static class LocalProviderServiceCollectionExtensions
{
    /// <summary>
    /// Registers the <c>local</c> provider as an <see cref="ISandboxProvider"/> singleton with options bound from
    /// <c>Providers:Local</c> (validated on start). Needs a <see cref="TimeProvider"/> (falls back to
    /// <see cref="TimeProvider.System"/>). The host disposes the provider, which stops every local sandbox server.
    /// </summary>
    public static IServiceCollection AddLocalSandboxProvider(
        this IServiceCollection services,
        Action<LocalProviderOptions>? configure = null)
    {
        if (services.Any(d => d.ServiceType == typeof(LocalSandboxProvider)))
        {
            return services; // already registered: a second ISandboxProvider "local" would break the registry
        }

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ISandboxDeathNotifier, SandboxDeathNotifier>();
        var options = services.AddOptions<LocalProviderOptions>().BindConfiguration(LocalProviderOptions.SectionName);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateSettings(LocalProviderOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LocalProviderOptions>, LocalProviderOptionsValidator>());
        services.AddSingleton<LocalSandboxProvider>();
        services.AddSingleton<ISandboxProvider>(sp => sp.GetRequiredService<LocalSandboxProvider>());
        return services;
    }

    /// <summary>
    /// Whether the operator offers the <c>local</c> provider: <c>Providers:Local:Enabled</c> when set, otherwise only
    /// outside a cluster. In-cluster means <c>KUBERNETES_SERVICE_HOST</c> is set and a service-account token is mounted
    /// (what <c>KubernetesClientConfiguration.IsInCluster</c> checks): there the provider would run tenants' previews
    /// inside the operator's pod, next to its credentials, so it takes an explicit decision.
    /// </summary>
    public static bool IsLocalProviderEnabled(IConfiguration configuration, Func<string, string?>? environment = null, Func<string, bool>? fileExists = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var explicitly = configuration[LocalProviderOptions.SectionName + ":Enabled"];
        if (!string.IsNullOrWhiteSpace(explicitly))
        {
            return bool.TryParse(explicitly, out var enabled)
                ? enabled
                : throw new InvalidOperationException($"Providers:Local:Enabled must be true or false; got '{explicitly}'.");
        }

        return !IsInCluster(environment ?? Environment.GetEnvironmentVariable, fileExists ?? File.Exists);
    }

    internal const string ServiceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    internal static bool IsInCluster(Func<string, string?> environment, Func<string, bool> fileExists) =>
        !string.IsNullOrEmpty(environment("KUBERNETES_SERVICE_HOST")) && fileExists(ServiceAccountTokenPath);
}
