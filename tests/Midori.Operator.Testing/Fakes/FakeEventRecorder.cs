using System.Collections.Concurrent;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Kubernetes;

namespace Midori.Operator.Testing.Fakes;

public sealed record RecordedEvent(string Namespace, string Name, string Type, string Reason, string Message);

/// <summary>Keeps recorded Kubernetes Events in memory for assertions.</summary>
public sealed class FakeEventRecorder : IEventRecorder
{
    private readonly ConcurrentQueue<RecordedEvent> _events = new();

    public IReadOnlyList<RecordedEvent> Events => [.. _events];

    public IEnumerable<string> Reasons => _events.Select(e => e.Reason);

    public void Normal(V1Alpha1PreviewSandbox resource, string reason, string message) =>
        _events.Enqueue(new(resource.Metadata.NamespaceProperty, resource.Metadata.Name, "Normal", reason, message));

    public void Warning(V1Alpha1PreviewSandbox resource, string reason, string message) =>
        _events.Enqueue(new(resource.Metadata.NamespaceProperty, resource.Metadata.Name, "Warning", reason, message));
}
