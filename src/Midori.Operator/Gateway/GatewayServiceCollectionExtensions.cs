using Microsoft.Extensions.DependencyInjection.Extensions;
using Midori.Operator.Options;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Controllers;
using Midori.Operator.Http.Services;
using Midori.Operator.Persistence;

namespace Midori.Operator.Gateway;

public static class GatewayServiceCollectionExtensions
{
    /// <summary>
    /// The preview gateway (options <c>Gateway</c>, validated): stable addresses for the reconciler, keys and tokens,
    /// upstream credentials, activity, YARP's forwarder. With <c>Gateway:Enabled=false</c> nothing is registered and
    /// status.previewUrl stays the provider's URL.
    /// </summary>
    public static IServiceCollection AddPreviewGateway(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.SectionName).ValidateSettings(GatewayOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>());
        if (!configuration.GetValue(GatewayOptions.SectionName + ":" + nameof(GatewayOptions.Enabled), true))
        {
            return services;
        }

        services.TryAddSingleton<PreviewAddressing>();
        services.TryAddSingleton<IPreviewAddress>(sp => sp.GetRequiredService<PreviewAddressing>());
        services.TryAddSingleton<SigningKeyRing>();
        services.TryAddSingleton<GatewayTokens>();
        services.TryAddSingleton<UpstreamCredentials>();
        services.TryAddSingleton<GatewayActivity>();
        services.TryAddSingleton<IPreviewView, CachePreviewView>();
        services.TryAddSingleton<IPreviewLinks, GatewayLinks>();
        services.TryAddSingleton<GatewayHttpClient>();
        services.AddHttpForwarder();
        return services;
    }

    /// <summary>The gateway in front of everything else (its own auth; API limits and auth do not apply to preview traffic).</summary>
    public static WebApplication UsePreviewGateway(this WebApplication app)
    {
        if (app.Services.GetService<PreviewAddressing>() is not null)
        {
            app.UseMiddleware<PreviewGatewayMiddleware>();

            // Endpoint routing after the gateway (WebApplication would otherwise put it first): preview traffic
            // never pays for matching the API's routes.
            app.UseRouting();
        }

        return app;
    }
}
