using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Midori.Operator.Options;

namespace Midori.Operator.Runtime;

/// <summary>
/// Who this operator instance is: the Lease holder identity (also Events' <c>reportingInstance</c>) and the
/// namespace it runs in (the Lease's namespace). Resolved once per process.
/// </summary>
public sealed class OperatorIdentity
{
    public const string Component = "midori-operator";

    internal const string ServiceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

    public OperatorIdentity(string name, string @namespace)
    {
        Name = name;
        Namespace = @namespace;
    }

    public OperatorIdentity(IOptions<LeaderElectionOptions> options)
        : this(
            ResolveName(options.Value.Identity, Environment.GetEnvironmentVariable, Environment.MachineName),
            ResolveNamespace(options.Value.LeaseNamespace, Environment.GetEnvironmentVariable, ReadFileOrNull))
    {
    }

    /// <summary>Holder identity: unique per process.</summary>
    public string Name { get; }

    /// <summary>Namespace of the Lease.</summary>
    public string Namespace { get; }

    /// <summary>Option, then <c>POD_NAME</c>, then the machine name plus a short random suffix.</summary>
    internal static string ResolveName(string? configured, Func<string, string?> environment, string machineName)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured.Trim();
        }

        var podName = environment("POD_NAME");
        if (!string.IsNullOrWhiteSpace(podName))
        {
            return podName.Trim();
        }

        return $"{machineName.ToLowerInvariant()}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
    }

    /// <summary>Option, then <c>POD_NAMESPACE</c>, then the service-account namespace file, then <c>default</c>.</summary>
    internal static string ResolveNamespace(string? configured, Func<string, string?> environment, Func<string, string?> readFile)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured.Trim();
        }

        var podNamespace = environment("POD_NAMESPACE");
        if (!string.IsNullOrWhiteSpace(podNamespace))
        {
            return podNamespace.Trim();
        }

        var fromFile = readFile(ServiceAccountNamespaceFile);
        return string.IsNullOrWhiteSpace(fromFile) ? "default" : fromFile.Trim();
    }

    private static string? ReadFileOrNull(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
