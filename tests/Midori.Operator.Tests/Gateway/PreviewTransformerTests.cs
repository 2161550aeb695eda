using k8s.Models;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Gateway;
using Midori.Operator.Persistence;

namespace Midori.Operator.Tests.Gateway;

public sealed class PreviewTransformerTests
{
    private static readonly Uri Sandbox = new("https://3000-sbx.e2b.app/");

    [Theory]
    [InlineData("https://3000-sbx.e2b.app/login?next=%2F#top", "/p/ns/web/login?next=%2F#top")]
    [InlineData("/login", "/p/ns/web/login")]
    [InlineData("https://accounts.example.com/auth", null)] // elsewhere on the web: untouched
    [InlineData("//cdn.example.com/x", null)]
    [InlineData("relative/page", null)]
    public void RewriteLocation_PathForm(string location, string? expected) =>
        Assert.Equal(expected, Transformer(GatewayForm.Path).RewriteLocation(location));

    [Theory]
    [InlineData("https://3000-sbx.e2b.app/login", "/login")]
    [InlineData("/login", null)] // the host form keeps the sandbox's paths
    public void RewriteLocation_HostForm(string location, string? expected) =>
        Assert.Equal(expected, Transformer(GatewayForm.Host).RewriteLocation(location));

    [Theory]
    [InlineData("sid=1; Path=/; Domain=3000-sbx.e2b.app; HttpOnly", "sid=1; Path=/p/ns/web/; HttpOnly")]
    [InlineData("sid=1; path=/api", "sid=1; Path=/p/ns/web/api")]
    [InlineData("sid=1", "sid=1; Path=/p/ns/web/")]
    [InlineData("midori_preview=x; Path=/", null)] // the sandbox cannot replace the gateway's cookie
    public void RewriteSetCookie_PathForm(string setCookie, string? expected) =>
        Assert.Equal(expected, Transformer(GatewayForm.Path).RewriteSetCookie(setCookie));

    [Fact]
    public void RewriteSetCookie_HostForm_DropsOnlyTheDomain() =>
        Assert.Equal("sid=1; Path=/; Secure", Transformer(GatewayForm.Host).RewriteSetCookie("sid=1; Domain=.e2b.app; Path=/; Secure"));

    [Theory]
    [InlineData("midori_preview=abc", "")]
    [InlineData("a=1; midori_preview=abc; b=2", "a=1; b=2")]
    [InlineData("a=x%3Dy", "a=x%3Dy")] // passed as sent, not unescaped
    public void WithoutGatewayCookie_KeepsTheSandboxsCookiesAsSent(string header, string expected) =>
        Assert.Equal(expected, PreviewTransformer.WithoutGatewayCookie(header));

    [Theory]
    [InlineData(null, null, false)]
    [InlineData("r1", "r1", false)] // taken up already
    [InlineData("r2", "r1", true)] // asked for, not taken up: the current sandbox is about to go
    [InlineData("r1", null, true)]
    public void ReplacementPending_WhenTheRecreateRequestIsNotObservedYet(string? requested, string? observed, bool expected)
    {
        var resource = new V1Alpha1PreviewSandbox
        {
            Metadata = new V1ObjectMeta
            {
                Name = "web",
                Annotations = requested is null ? null : new Dictionary<string, string> { [GroupVersion.RecreateAnnotation] = requested },
            },
            Spec = new PreviewSandboxSpec(),
            Status = new PreviewSandboxStatus { ObservedRecreateRequest = observed },
        };

        Assert.Equal(expected, PreviewGatewayMiddleware.ReplacementPending(resource));
    }

    private static PreviewTransformer Transformer(GatewayForm form)
    {
        var target = form == GatewayForm.Path
            ? new GatewayTarget(new PreviewKey("ns", "web"), form, "/p/ns/web", "/")
            : new GatewayTarget(new PreviewKey("ns", "web"), form, string.Empty, "/");
        var resource = new V1Alpha1PreviewSandbox { Metadata = new V1ObjectMeta { Name = "web", NamespaceProperty = "ns", Uid = "u" }, Spec = new PreviewSandboxSpec() };
        return new PreviewTransformer(target, Sandbox, null, null, resource, new UpstreamCredentials(null!, TimeProvider.System));
    }
}
