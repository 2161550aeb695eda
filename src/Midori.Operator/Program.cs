using k8s.Exceptions;
using Midori.Operator;
using Microsoft.Extensions.Options;
using Midori.Operator.Options;

var builder = WebApplication.CreateBuilder(args);
builder.UseMidoriDefaultUrls();
builder.AddMidoriOperator();

var app = builder.Build();
app.MapMidoriEndpoints();
try
{
    // Settings first, before any hosted service starts: a bad value then ends in the lines below, not in a host failure log.
    app.Services.GetService<IStartupValidator>()?.Validate();
    app.Run();
}
catch (KubeConfigException ex)
{
    // The most common first-run mistake deserves one clear line rather than a stack trace.
    Console.Error.WriteLine($"midori-operator: no usable Kubernetes configuration ({ex.Message}). Point KUBECONFIG at a cluster or run in-cluster.");
    return 1;
}
catch (Exception ex) when (SettingsValidation.Describe(ex) is { } problems)
{
    // A setting out of range is a typo to fix, not a crash to debug: one line per setting, no stack trace.
    foreach (var problem in problems)
    {
        Console.Error.WriteLine($"midori-operator: invalid setting: {problem}");
    }

    return 2;
}

return 0;

/// <summary>Entry point; public so WebApplicationFactory-based tests can host it.</summary>
public partial class Program;
