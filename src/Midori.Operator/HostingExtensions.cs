using Midori.Operator.Options;

namespace Midori.Operator;

/// <summary>All DI wiring lives here so Program stays a handful of lines (eShop style).</summary>
public static class HostingExtensions
{
    public static IHostApplicationBuilder AddMidoriOperator(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddOptions<OperatorOptions>().BindConfiguration(OperatorOptions.SectionName)
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<LeaderElectionOptions>().BindConfiguration(LeaderElectionOptions.SectionName)
            .ValidateDataAnnotations().ValidateOnStart();
        return builder;
    }

    public static WebApplication MapMidoriEndpoints(this WebApplication app)
    {
        app.MapGet("/healthz", () => TypedResults.Ok("ok"));
        return app;
    }
}
