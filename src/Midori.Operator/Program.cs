using k8s.Exceptions;
using Midori.Operator;

var builder = WebApplication.CreateBuilder(args);
builder.AddMidoriOperator();

var app = builder.Build();
app.MapMidoriEndpoints();
try
{
    app.Run();
}
catch (KubeConfigException ex)
{
    // The most common first-run mistake deserves one clear line rather than a stack trace.
    Console.Error.WriteLine($"midori-operator: no usable Kubernetes configuration ({ex.Message}). Point KUBECONFIG at a cluster or run in-cluster.");
    return 1;
}

return 0;

/// <summary>Entry point; public so WebApplicationFactory-based tests can host it.</summary>
public partial class Program;
