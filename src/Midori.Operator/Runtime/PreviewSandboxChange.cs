using k8s;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Persistence;

namespace Midori.Operator.Runtime;

/// <summary>A change seen by the <see cref="PreviewSandboxCache"/>: the new object, or null when it was deleted.</summary>
public sealed record PreviewSandboxChange(PreviewKey Key, WatchEventType Type, V1Alpha1PreviewSandbox? Object);
