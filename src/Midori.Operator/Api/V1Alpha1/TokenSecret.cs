namespace Midori.Operator.Api.V1Alpha1;

/// <summary>The Secret holding a preview's access token, named in <c>status.tokenSecretRef</c>.</summary>
public static class TokenSecret
{
    public const string Key = "token";

    public static string NameFor(string resourceName) => $"{resourceName}-preview-token";
}
