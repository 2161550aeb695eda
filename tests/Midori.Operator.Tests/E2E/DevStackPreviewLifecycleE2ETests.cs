using Midori.Operator.Testing.E2E;
using Midori.Operator.Tests.Packaging;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.E2E;

/// <summary>
/// The lifecycle scenario in its third environment, whatever the variables say: the shipped dev stack (development API
/// server, operator, HTTP API, local provider in one host) with every Kubernetes operation made by the kubectl binary
/// through the kubeconfig the stack wrote. Skipped off CI without kubectl; fails under CI=true.
/// </summary>
[Trait("Category", "E2E")]
[Trait("Category", "DevStack")]
public sealed class DevStackPreviewLifecycleE2ETests(ITestOutputHelper output) : PreviewLifecycleScenario(output)
{
    [KubectlFact]
    public Task Lifecycle_ThroughKubectlOnTheDevStack_ApplyServeKeepAliveExpireWakeSuspendResumeDelete() => RunLifecycleAsync();

    protected override E2ETarget Target(string? kubeconfig)
        => E2ETarget.DevStack(ExternalTool.Kubectl.Path ?? throw new InvalidOperationException(ExternalTool.Kubectl.MissingReason));
}
