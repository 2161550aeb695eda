using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Midori.Operator.Api.V1Alpha1;
using Midori.Operator.Gateway;
using Microsoft.Extensions.DependencyInjection;
using Midori.Operator.Persistence;

namespace Midori.Operator.Tests.Gateway;

public sealed class GatewayTokensTests
{
    private static readonly string KeyA = Convert.ToBase64String(Enumerable.Repeat((byte)7, 32).ToArray());
    private static readonly string KeyB = Convert.ToBase64String(Enumerable.Repeat((byte)9, 48).ToArray());
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Mint_ThenValidate_GrantsExactlyThatPreview()
    {
        // arrange
        var tokens = Tokens(("a", KeyA));
        var resource = Resource("uid-1");

        // act
        var (token, expires) = tokens.Mint(resource, GatewayTokens.LinkAudience, TimeSpan.FromMinutes(10));
        var refusal = tokens.Validate(token, GatewayTokens.LinkAudience, resource, out var grant);

        // assert
        Assert.Equal(TokenRefusal.None, refusal);
        Assert.Equal(("ns", "web", "uid-1"), (grant!.Namespace, grant.Name, grant.Uid));
        Assert.Equal(_time.GetUtcNow().AddMinutes(10), expires);
    }

    public static TheoryData<string, TokenRefusal> Refusals => new()
    {
        { "expired", TokenRefusal.Expired },
        { "audience", TokenRefusal.WrongAudience },
        { "other uid (same name, newer resource)", TokenRefusal.WrongPreview },
        { "other name", TokenRefusal.WrongPreview },
        { "tampered payload", TokenRefusal.BadSignature },
        { "unknown key", TokenRefusal.UnknownKey },
        { "garbage", TokenRefusal.Malformed },
        { "empty", TokenRefusal.Malformed },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Validate_Refuses(string what, TokenRefusal expected)
    {
        // arrange
        var tokens = Tokens(("a", KeyA));
        var resource = Resource("uid-1");
        var (token, _) = tokens.Mint(resource, GatewayTokens.LinkAudience, TimeSpan.FromMinutes(10));
        var presented = what switch
        {
            "expired" => Expire(token),
            "audience" => tokens.Mint(resource, GatewayTokens.SessionAudience, TimeSpan.FromMinutes(10)).Token,
            "other uid (same name, newer resource)" => tokens.Mint("ns", "web", "uid-0", GatewayTokens.LinkAudience, TimeSpan.FromMinutes(10)).Token,
            "other name" => tokens.Mint("ns", "web2", "uid-1", GatewayTokens.LinkAudience, TimeSpan.FromMinutes(10)).Token,
            "tampered payload" => Tamper(token),
            "unknown key" => Tokens(("z", KeyB)).Mint(resource, GatewayTokens.LinkAudience, TimeSpan.FromMinutes(10)).Token,
            "garbage" => "not.a.token",
            _ => string.Empty,
        };

        // act
        var refusal = tokens.Validate(presented, GatewayTokens.LinkAudience, resource, out var grant);

        // assert
        Assert.Equal(expected, refusal);
        Assert.Null(grant);

        string Expire(string t)
        {
            _time.Advance(TimeSpan.FromMinutes(10));
            return t;
        }
    }

    [Fact]
    public void Rotation_OldKeyStillVerifies_NewActiveKeySigns()
    {
        // arrange: links signed with key a; then key b is added and made active
        var before = Tokens(("a", KeyA));
        var resource = Resource("uid-1");
        var (old, _) = before.Mint(resource, GatewayTokens.LinkAudience, TimeSpan.FromMinutes(10));

        // act
        var after = Tokens([("a", KeyA), ("b", KeyB)], active: "b");
        var (fresh, _) = after.Mint(resource, GatewayTokens.LinkAudience, TimeSpan.FromMinutes(10));

        // assert
        Assert.Equal(TokenRefusal.None, after.Validate(old, GatewayTokens.LinkAudience, resource, out _));
        Assert.Equal(TokenRefusal.None, after.Validate(fresh, GatewayTokens.LinkAudience, resource, out _));
        Assert.Equal(TokenRefusal.UnknownKey, before.Validate(fresh, GatewayTokens.LinkAudience, resource, out _));
        Assert.Contains("\"kid\":\"b\"", System.Text.Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(fresh.Split('.')[0])), StringComparison.Ordinal);
    }

    [Fact]
    public void KeyRing_ReadsKeyFilesOfAMountedSecret_AndIgnoresItsHiddenEntries()
    {
        // arrange
        var directory = Directory.CreateTempSubdirectory("midori-keys-");
        try
        {
            File.WriteAllText(Path.Combine(directory.FullName, "k1"), KeyA + "\n");
            File.WriteAllText(Path.Combine(directory.FullName, "k2"), KeyB);
            File.WriteAllText(Path.Combine(directory.FullName, "..data"), "ignored");
            File.WriteAllText(Path.Combine(directory.FullName, "short"), Convert.ToBase64String(new byte[8]));

            // act
            var ring = new SigningKeyRing(Microsoft.Extensions.Options.Options.Create(new GatewayOptions { SigningKeysDirectory = directory.FullName }), NullLogger<SigningKeyRing>.Instance);

            // assert
            Assert.Equal(["k1", "k2"], ring.KeyIds.Order(StringComparer.Ordinal));
            Assert.Equal("k2", ring.ActiveKeyId);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void Options_BadKeysAndAddresses_AreRefusedWithEveryReason()
    {
        // act
        var result = new GatewayOptionsValidator().Validate(null, new GatewayOptions
        {
            PreviewDomain = "not a domain",
            PublicBaseUrl = "ftp://x",
            SigningKeys = [new() { Id = "a", Key = "c2hvcnQ=" }, new() { Id = "a", Key = KeyA }, new() { Id = "bad id!", Key = KeyA }],
            PageHoldTimeout = TimeSpan.FromMinutes(2),
            HoldTimeout = TimeSpan.FromMinutes(1),
        });

        // assert
        Assert.True(result.Failed);
        var failures = string.Join("\n", result.Failures!);
        foreach (var expected in new[] { "PreviewDomain", "PublicBaseUrl", "at least 32 bytes", "given twice", "bad id!", "PageHoldTimeout" })
        {
            Assert.Contains(expected, failures, StringComparison.Ordinal);
        }
    }

    private GatewayTokens Tokens(params (string Id, string Key)[] keys) => Tokens(keys, active: null);

    private GatewayTokens Tokens((string Id, string Key)[] keys, string? active)
    {
        var options = new GatewayOptions { ActiveKeyId = active, SigningKeys = [.. keys.Select(k => new GatewaySigningKey { Id = k.Id, Key = k.Key })] };
        return new GatewayTokens(new SigningKeyRing(Microsoft.Extensions.Options.Options.Create(options), NullLogger<SigningKeyRing>.Instance), _time);
    }

    private static string Tamper(string token)
    {
        var parts = token.Split('.');
        var claims = System.Text.Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(parts[1])).Replace("\"web\"", "\"wex\"", StringComparison.Ordinal);
        return $"{parts[0]}.{System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes(claims))}.{parts[2]}";
    }

    private static V1Alpha1PreviewSandbox Resource(string uid) => new()
    {
        Metadata = new V1ObjectMeta { Name = "web", NamespaceProperty = "ns", Uid = uid },
        Spec = new PreviewSandboxSpec { ProjectId = "p" },
    };
}

public sealed class PreviewAddressingTests
{
    [Theory]
    [InlineData("web--team-a.preview.test", "/x/y", "team-a", "web", "", "/x/y")]
    [InlineData("WEB--Team-A.Preview.Test", "/", "team-a", "web", "", "/")]
    [InlineData("my--app--team.preview.test", "/", "team", "my--app", "", "/")]
    [InlineData("127.0.0.1:8080", "/p/team-a/site.one/a/b?c", "team-a", "site.one", "/p/team-a/site.one", "/a/b?c")]
    [InlineData("127.0.0.1:8080", "/p/team-a/web", "team-a", "web", "/p/team-a/web", "")]
    public void TryMatch_HostAndPathForms(string host, string pathAndQuery, string ns, string name, string basePath, string remainder)
    {
        // arrange
        var addressing = Addressing("preview.test");
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.Host = new Microsoft.AspNetCore.Http.HostString(host);
        var path = pathAndQuery.Split('?')[0];
        context.Request.Path = path;

        // act
        var matched = addressing.TryMatch(context.Request, out var target);

        // assert
        Assert.True(matched);
        Assert.Equal(new PreviewKey(ns, name), target!.Key);
        Assert.Equal(basePath, target.BasePath);
        Assert.Equal(remainder.Split('?')[0], target.Remainder);
    }

    [Theory]
    [InlineData("preview.test", "/p/")]
    [InlineData("other.test", "/api/v1/namespaces/x/previews")]
    [InlineData("nohyphens.preview.test", "/healthz")]
    [InlineData("127.0.0.1", "/p/Bad_NS/x/")]
    public void TryMatch_OtherRequests_AreNotPreviewTraffic(string host, string path)
    {
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.Host = new Microsoft.AspNetCore.Http.HostString(host);
        context.Request.Path = path;
        Assert.False(Addressing("preview.test").TryMatch(context.Request, out _));
    }

    [Theory]
    [InlineData("web", "team-a", "https://web--team-a.preview.test/")]
    [InlineData("site.one", "team-a", "https://gw.example.com/p/team-a/site.one/")] // a dot cannot live in the host label
    [InlineData("web", "team--a", "https://gw.example.com/p/team--a/web/")] // "--" in the namespace would be ambiguous
    public async Task StableUrl_HostFormWhereUnambiguous_PathFormOtherwise(string name, string ns, string expected)
    {
        var resource = new V1Alpha1PreviewSandbox { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, Uid = "u" }, Spec = new PreviewSandboxSpec() };
        Assert.Equal(expected, await Addressing("preview.test").StableUrlAsync(resource, CancellationToken.None));
    }

    private static PreviewAddressing Addressing(string domain) =>
        new(Microsoft.Extensions.Options.Options.Create(new GatewayOptions { PreviewDomain = domain, PublicBaseUrl = "https://gw.example.com" }),
            new ServiceCollection().BuildServiceProvider());
}
