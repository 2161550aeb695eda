using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Midori.Operator.Api.V1Alpha1;

namespace Midori.Operator.Gateway;

/// <summary>
/// HMAC-SHA256 keys by id. Keys come from <see cref="GatewayOptions.SigningKeys"/> and the files of
/// <see cref="GatewayOptions.SigningKeysDirectory"/> (a mounted Secret). Every key verifies; one signs, so a new key
/// can be added everywhere first and made active later without breaking live links. Without any key the ring makes
/// one random key for this process (development: links then die with the process and work on this replica only).
/// </summary>
public sealed class SigningKeyRing
{
    public const int MinKeyBytes = 32;

    private readonly Dictionary<string, byte[]> _keys;

    public SigningKeyRing(IOptions<GatewayOptions> options, ILogger<SigningKeyRing> logger)
    {
        var settings = options.Value;
        _keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var key in settings.SigningKeys)
        {
            if (TryDecode(key.Key, out var bytes))
            {
                _keys[key.Id] = bytes;
            }
        }

        if (!string.IsNullOrWhiteSpace(settings.SigningKeysDirectory) && Directory.Exists(settings.SigningKeysDirectory))
        {
            // A mounted Secret also holds ..data and timestamped directories: only plain files with a valid id and key count.
            foreach (var file in Directory.EnumerateFiles(settings.SigningKeysDirectory).Order(StringComparer.Ordinal))
            {
                var id = Path.GetFileName(file);
                if (id.StartsWith('.') || !System.Text.RegularExpressions.Regex.IsMatch(id, "^[A-Za-z0-9._-]{1,64}$"))
                {
                    continue;
                }

                if (TryDecode(File.ReadAllText(file).Trim(), out var bytes))
                {
                    _keys[id] = bytes;
                }
                else
                {
                    logger.GatewayKeyFileIgnored(id);
                }
            }
        }

        if (_keys.Count == 0)
        {
            _keys["ephemeral"] = RandomNumberGenerator.GetBytes(MinKeyBytes);
            logger.GatewayEphemeralKey();
        }

        ActiveKeyId = settings.ActiveKeyId is { Length: > 0 } active && _keys.ContainsKey(active)
            ? active
            : _keys.Keys.Order(StringComparer.Ordinal).Last();
    }

    public string ActiveKeyId { get; }

    public IReadOnlyCollection<string> KeyIds => _keys.Keys;

    internal byte[] Active => _keys[ActiveKeyId];

    internal bool TryGet(string id, out byte[] key) => _keys.TryGetValue(id, out key!);

    public static bool TryDecode(string? text, out byte[] key)
    {
        key = [];
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        try
        {
            key = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException)
        {
            return false;
        }

        return key.Length >= MinKeyBytes;
    }
}

/// <summary>What a valid token grants: one preview (namespace, name and the resource's UID), until <see cref="ExpiresAt"/>.</summary>
public sealed record PreviewGrant(string Namespace, string Name, string Uid, string Audience, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt);

public enum TokenRefusal
{
    None,
    Malformed,
    UnknownKey,
    BadSignature,
    WrongAudience,
    Expired,
    WrongPreview,
}

/// <summary>
/// Access tokens of the gateway: compact JWS (HS256) with the key id in the header and claims <c>aud</c>, <c>sub</c>
/// (the PreviewSandbox UID), <c>ns</c>, <c>name</c>, <c>iat</c>, <c>exp</c>. Links carry audience
/// <see cref="LinkAudience"/>; the cookie they are exchanged for carries <see cref="SessionAudience"/>, so a leaked
/// cookie value is no link and a link cannot be replayed as a long-lived session.
/// </summary>
public sealed class GatewayTokens(SigningKeyRing keys, TimeProvider time)
{
    public const string LinkAudience = "midori-preview-link";
    public const string SessionAudience = "midori-preview-session";

    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    /// <summary>Verified tokens (the cookie comes with every request of a page): signature and JSON are checked once per token.</summary>
    private const int VerifiedCapacity = 4096;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TokenClaims> _verified = new(StringComparer.Ordinal);
    private int _verifiedCount;

    public (string Token, DateTimeOffset ExpiresAt) Mint(V1Alpha1PreviewSandbox resource, string audience, TimeSpan lifetime) =>
        Mint(resource.Metadata.NamespaceProperty, resource.Metadata.Name, resource.Metadata.Uid, audience, lifetime);

    public (string Token, DateTimeOffset ExpiresAt) Mint(string @namespace, string name, string uid, string audience, TimeSpan lifetime)
    {
        var now = time.GetUtcNow();
        var expires = now + lifetime;
        var header = new TokenHeader("HS256", "JWT", keys.ActiveKeyId);
        var claims = new TokenClaims(audience, uid, @namespace, name, now.ToUnixTimeSeconds(), expires.ToUnixTimeSeconds());
        var signingInput = Encode(JsonSerializer.SerializeToUtf8Bytes(header, Json)) + "." + Encode(JsonSerializer.SerializeToUtf8Bytes(claims, Json));
        var signature = HMACSHA256.HashData(keys.Active, Encoding.ASCII.GetBytes(signingInput));
        return (signingInput + "." + Encode(signature), DateTimeOffset.FromUnixTimeSeconds(claims.Exp));
    }

    /// <summary>Checks signature, audience and expiry, then that the token names exactly this resource (namespace, name and UID).</summary>
    public TokenRefusal Validate(string? token, string audience, V1Alpha1PreviewSandbox resource, out PreviewGrant? grant)
    {
        grant = null;
        var refusal = TryRead(token, out var claims);
        if (refusal != TokenRefusal.None)
        {
            return refusal;
        }

        if (!string.Equals(claims!.Aud, audience, StringComparison.Ordinal))
        {
            return TokenRefusal.WrongAudience;
        }

        var now = time.GetUtcNow().ToUnixTimeSeconds();
        if (claims.Exp <= now)
        {
            return TokenRefusal.Expired;
        }

        if (!string.Equals(claims.Sub, resource.Metadata.Uid, StringComparison.Ordinal)
            || !string.Equals(claims.Ns, resource.Metadata.NamespaceProperty, StringComparison.Ordinal)
            || !string.Equals(claims.Name, resource.Metadata.Name, StringComparison.Ordinal))
        {
            return TokenRefusal.WrongPreview;
        }

        grant = new PreviewGrant(claims.Ns!, claims.Name!, claims.Sub!, claims.Aud!, DateTimeOffset.FromUnixTimeSeconds(claims.Iat),
            DateTimeOffset.FromUnixTimeSeconds(claims.Exp));
        return TokenRefusal.None;
    }

    /// <summary>The UID a genuine, unexpired token of <paramref name="audience"/> for this namespace/name claims; null otherwise.</summary>
    public string? Peek(string? token, string audience, Api.V1Alpha1.PreviewKey key) =>
        TryRead(token, out var claims) == TokenRefusal.None
        && claims!.Aud == audience && claims.Exp > time.GetUtcNow().ToUnixTimeSeconds()
        && claims.Ns == key.Namespace && claims.Name == key.Name
            ? claims.Sub
            : null;

    private TokenRefusal TryRead(string? token, out TokenClaims? claims)
    {
        claims = null;
        if (string.IsNullOrEmpty(token) || token.Length > 4096)
        {
            return TokenRefusal.Malformed;
        }

        if (_verified.TryGetValue(token, out claims))
        {
            return TokenRefusal.None;
        }

        var refusal = Verify(token, out claims);
        if (refusal == TokenRefusal.None)
        {
            if (Interlocked.Increment(ref _verifiedCount) > VerifiedCapacity)
            {
                // Bounded the simple way: start over (sessions re-verify once).
                _verified.Clear();
                Interlocked.Exchange(ref _verifiedCount, 1);
            }

            _verified.TryAdd(token, claims!);
        }

        return refusal;
    }

    private TokenRefusal Verify(string token, out TokenClaims? claims)
    {
        claims = null;
        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            return TokenRefusal.Malformed;
        }

        try
        {
            var header = JsonSerializer.Deserialize<TokenHeader>(Decode(parts[0]), Json);
            if (header is not { Alg: "HS256", Kid: { Length: > 0 } })
            {
                return TokenRefusal.Malformed;
            }

            if (!keys.TryGet(header.Kid, out var key))
            {
                return TokenRefusal.UnknownKey;
            }

            var expected = HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
            if (!CryptographicOperations.FixedTimeEquals(expected, Decode(parts[2])))
            {
                return TokenRefusal.BadSignature;
            }

            claims = JsonSerializer.Deserialize<TokenClaims>(Decode(parts[1]), Json);
            return claims is { Aud: not null, Sub: not null, Ns: not null, Name: not null } ? TokenRefusal.None : TokenRefusal.Malformed;
        }
        catch (Exception ex) when (ex is JsonException or FormatException)
        {
            return TokenRefusal.Malformed;
        }
    }

    private static string Encode(ReadOnlySpan<byte> bytes) => Base64Url.EncodeToString(bytes);

    private static byte[] Decode(string text) => Base64Url.DecodeFromChars(text);

    private sealed record TokenHeader(
        [property: JsonPropertyName("alg")] string Alg,
        [property: JsonPropertyName("typ")] string? Typ,
        [property: JsonPropertyName("kid")] string Kid);

    private sealed record TokenClaims(
        [property: JsonPropertyName("aud")] string? Aud,
        [property: JsonPropertyName("sub")] string? Sub,
        [property: JsonPropertyName("ns")] string? Ns,
        [property: JsonPropertyName("name")] string? Name,
        [property: JsonPropertyName("iat")] long Iat,
        [property: JsonPropertyName("exp")] long Exp);
}
