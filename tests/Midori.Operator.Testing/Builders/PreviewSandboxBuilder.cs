using k8s.Models;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Testing.Builders;

/// <summary>Fluent test data for PreviewSandbox (eShop Builders.cs style).</summary>
public sealed class PreviewSandboxBuilder
{
    private readonly V1Alpha1PreviewSandbox _resource = new()
    {
        Metadata = new V1ObjectMeta { Name = "demo", NamespaceProperty = "default" },
        Spec = new PreviewSandboxSpec
        {
            ProjectId = "project-1",
            Source = new PreviewSandboxSource { Inline = [new InlineFile { Path = "index.html", Content = "<h1>hello</h1>" }] },
            TtlSeconds = 1800,
            IdleTimeoutSeconds = 300,
            Port = 3000,
        },
    };

    public PreviewSandboxBuilder Named(string name, string @namespace = "default")
    {
        _resource.Metadata.Name = name;
        _resource.Metadata.NamespaceProperty = @namespace;
        return this;
    }

    public PreviewSandboxBuilder WithProvider(string provider)
    {
        _resource.Spec.Provider = provider;
        return this;
    }

    public PreviewSandboxBuilder WithTtl(int seconds)
    {
        _resource.Spec.TtlSeconds = seconds;
        return this;
    }

    public PreviewSandboxBuilder WithIdleTimeout(int seconds)
    {
        _resource.Spec.IdleTimeoutSeconds = seconds;
        return this;
    }

    public PreviewSandboxBuilder WithFile(string path, string content)
    {
        _resource.Spec.Source = new PreviewSandboxSource
        {
            Inline = [.. _resource.Spec.Source.Inline ?? [], new InlineFile { Path = path, Content = content }],
        };
        return this;
    }

    public PreviewSandboxBuilder WithConfigMap(string name, params (string Key, string Path)[] items)
    {
        _resource.Spec.Source = new PreviewSandboxSource
        {
            ConfigMapRef = new ConfigMapFilesReference { Name = name, Items = items.Length == 0 ? null : [.. items.Select(i => new KeyToPath { Key = i.Key, Path = i.Path })] },
        };
        return this;
    }

    public PreviewSandboxBuilder WithRecreate(bool enabled = true, int maxAttempts = 5, int cooldownSeconds = 30)
    {
        _resource.Spec.Recreate = new PreviewSandboxRecreatePolicy { Enabled = enabled, MaxAttempts = maxAttempts, CooldownSeconds = cooldownSeconds };
        return this;
    }

    public PreviewSandboxBuilder Suspended(bool suspend = true)
    {
        _resource.Spec.Suspend = suspend;
        return this;
    }

    public PreviewSandboxBuilder WithCommand(string command)
    {
        _resource.Spec.Command = command;
        return this;
    }

    public PreviewSandboxBuilder WithAnnotation(string key, string value)
    {
        _resource.Metadata.Annotations ??= new Dictionary<string, string>();
        _resource.Metadata.Annotations[key] = value;
        return this;
    }

    public V1Alpha1PreviewSandbox Build() =>
        k8s.KubernetesJson.Deserialize<V1Alpha1PreviewSandbox>(k8s.KubernetesJson.Serialize(_resource));
}
