using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Kubernetes;

/// <summary>Records Kubernetes Events for lifecycle transitions. Best effort: failures are logged, never thrown.</summary>
public interface IEventRecorder
{
    void Normal(V1Alpha1PreviewSandbox resource, string reason, string message);
    void Warning(V1Alpha1PreviewSandbox resource, string reason, string message);
}
