using System.Reflection;

namespace Midori.DevStack.Playground;

/// <summary>
/// The playground at <c>/ui</c>: static files embedded in this assembly (no wwwroot on disk), talking to the same origin's
/// HTTP API with the token from the URL fragment (never sent to the server in a URL, never logged).
/// </summary>
public static class PlaygroundEndpoints
{
    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.Ordinal)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
    };

    public static WebApplication MapPlayground(this WebApplication app)
    {
        app.MapGet("/ui", () => Asset("index.html"));
        app.MapGet("/ui/{file}", (string file) => Asset(file));
        return app;
    }

    private static IResult Asset(string file)
    {
        var extension = Path.GetExtension(file);
        var stream = ContentTypes.TryGetValue(extension, out _)
            ? Assembly.GetExecutingAssembly().GetManifestResourceStream($"Midori.DevStack.Playground.{file}")
            : null;
        return stream is null
            ? TypedResults.NotFound()
            : TypedResults.Stream(stream, ContentTypes[extension]);
    }
}
