using System.Net.Http.Headers;
using System.Reflection;

namespace Midori.Operator.Runtime;

/// <summary>
/// Names the operator on every API-server request: <c>midori-operator/&lt;version&gt;</c>. The API server takes the part before
/// the slash as the field manager of writes that name none, so <c>managedFields</c>, audit logs and flow schemas show
/// <c>midori-operator</c> instead of the client library's name.
/// </summary>
public sealed class OperatorUserAgentHandler : DelegatingHandler
{
    public const string Product = "midori-operator";

    private static readonly ProductInfoHeaderValue UserAgent = new(Product, Version());

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.UserAgent.Clear();
        request.Headers.UserAgent.Add(UserAgent);
        return base.SendAsync(request, cancellationToken);
    }

    private static string Version()
    {
        var version = typeof(OperatorUserAgentHandler).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        var plus = version.IndexOf('+', StringComparison.Ordinal); // the release, without the source revision after '+'
        return plus > 0 ? version[..plus] : version;
    }
}
