using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Midori.DevApiServer.Storage;

namespace Midori.DevApiServer.Http;

/// <summary>
/// Entry point for every request: request log, authentication, injected faults, then dispatch by path and verb.
/// Errors surface as <see cref="ApiException"/> and are written as Status bodies.
/// </summary>
public sealed class Routes(
    ResourceRegistry registry,
    ResourceStore store,
    ResourceOperations operations,
    WatchStream watches,
    FaultInjector faults,
    RequestLog log,
    string token,
    CancellationToken serverStopping,
    DevKubeApiServerOptions? options = null)
{
    private readonly DevKubeApiServerOptions _options = options ?? new DevKubeApiServerOptions();

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "/";
        log.Add(new RecordedRequest(request.Method, path, request.QueryString.Value ?? string.Empty, request.ContentType));
        try
        {
            var target = RequestTarget.Parse(path, registry);
            var watch = request.Query["watch"] is var w && (w == "true" || w == "1");
            // Like system:public-info-viewer on a real cluster: version and health need no credentials.
            if (request.Headers.Authorization.ToString() != $"Bearer {token}" && !DiscoveryRoutes.IsPublic(path))
            {
                throw StatusErrors.Forbidden(
                    target?.Group ?? string.Empty,
                    target?.Plural ?? path,
                    target?.Verb(request.Method, watch) ?? request.Method.ToLowerInvariant(),
                    target?.Namespace);
            }

            if (faults.TryTake(request.Method, path) is { } fault)
            {
                throw fault;
            }

            if (target is null && await DiscoveryRoutes.TryServeAsync(context, registry, _options))
            {
                return;
            }

            if (target is null || registry.Find(target.Group, target.Version, target.Plural) is not { } type)
            {
                throw StatusErrors.PathNotFound();
            }

            // Namespaced resources are only listed/watched across namespaces; everything else needs the namespace in the path.
            if (type.Namespaced && target.Namespace is null && !(request.Method == "GET" && target.Name is null))
            {
                throw StatusErrors.PathNotFound();
            }

            await DispatchAsync(context, type, target, watch);
        }
        catch (ApiException ex) when (!context.Response.HasStarted)
        {
            await WriteJsonAsync(context, ex.Code, ex.Status, []);
        }
        catch (Exception ex) when (!context.Response.HasStarted && ex is not OperationCanceledException)
        {
            // A bug in the test server itself: surface the details to the failing test instead of a bare 500.
            var error = StatusErrors.Generic(500, "InternalError", $"Internal error occurred: {ex}");
            await WriteJsonAsync(context, error.Code, error.Status, []);
        }
    }

    private async Task DispatchAsync(HttpContext context, ResourceType type, RequestTarget target, bool watch)
    {
        var request = context.Request;
        var fieldValidation = ParseFieldValidation(request.Query["fieldValidation"]);
        if (target.Subresource == "scale" && type.Scale is { } scale && target.Name is { } scaled)
        {
            await DispatchScaleAsync(context, type, scale, target.Namespace, scaled, fieldValidation);
            return;
        }

        if (target.Subresource is not null and not "status" || (target.Subresource == "status" && !type.HasStatusSubresource))
        {
            throw StatusErrors.PathNotFound();
        }

        WriteResult result;
        switch (request.Method, target.Name)
        {
            case ("GET", null) when watch:
                await watches.ServeAsync(context, type, target.Namespace, serverStopping);
                return;
            case ("GET", null):
                var list = List(type, target.Namespace, request.Query);
                await WriteJsonAsync(context, 200, TableConverter.Wants(request.Headers.Accept)
                    ? TableConverter.Render(type, ((JsonArray)list["items"]!).OfType<JsonObject>(), (string)list["metadata"]!["resourceVersion"]!, _options.TimeProvider.GetUtcNow())
                    : list, []);
                return;
            case ("GET", { } name):
                JsonObject found;
                lock (store.Sync)
                {
                    found = (JsonObject)(store.Get(type, target.Namespace, name) ?? throw StatusErrors.NotFound(type, name)).DeepClone();
                }

                found["apiVersion"] = type.ApiVersion;
                await WriteJsonAsync(context, 200, TableConverter.Wants(request.Headers.Accept)
                    ? TableConverter.Render(type, [found], ObjectMeta.ResourceVersion(found) ?? string.Empty, _options.TimeProvider.GetUtcNow())
                    : found, []);
                return;
            case ("POST", null):
                result = operations.Create(type, target.Namespace, await ReadObjectAsync(request), fieldValidation, Manager(request));
                break;
            case ("PUT", { } name):
                result = operations.Replace(type, target.Namespace, name, target.Subresource, await ReadObjectAsync(request), fieldValidation, Manager(request));
                break;
            case ("PATCH", { } name) when ServerSideApply.IsApply(request.ContentType):
                var applied = await new StreamReader(request.Body, Encoding.UTF8).ReadToEndAsync(context.RequestAborted);
                result = operations.Apply(type, target.Namespace, name, target.Subresource, applied, request.Query["fieldManager"], request.Query["force"] == "true", fieldValidation);
                break;
            case ("PATCH", { } name):
                var patch = await new StreamReader(request.Body, Encoding.UTF8).ReadToEndAsync(context.RequestAborted);
                result = operations.Patch(type, target.Namespace, name, target.Subresource, request.ContentType ?? string.Empty, patch, fieldValidation, Manager(request));
                break;
            case ("DELETE", { } name):
                var options = request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0 ? await ReadOptionalObjectAsync(request) : null;
                result = operations.Delete(type, target.Namespace, name, options);
                break;
            default:
                throw StatusErrors.MethodNotAllowed();
        }

        await WriteJsonAsync(context, result.Code, result.Body, result.Warnings);
    }

    /// <summary>/scale of a custom resource: GET, PUT and PATCH of an autoscaling/v1 Scale (what kubectl scale, an HPA or KEDA use).</summary>
    private async Task DispatchScaleAsync(HttpContext context, ResourceType type, Storage.ScaleSubresource scale, string? ns, string name, FieldValidation fieldValidation)
    {
        var request = context.Request;
        WriteResult result;
        switch (request.Method)
        {
            case "GET":
                await WriteJsonAsync(context, 200, operations.GetScale(type, scale, ns, name), []);
                return;
            case "PUT":
                result = operations.UpdateScale(type, scale, ns, name, await ReadObjectAsync(request), fieldValidation, Manager(request));
                break;
            case "PATCH" when ServerSideApply.IsApply(request.ContentType):
                throw StatusErrors.UnsupportedMediaType();
            case "PATCH":
                var patch = await new StreamReader(request.Body, Encoding.UTF8).ReadToEndAsync(context.RequestAborted);
                result = operations.PatchScale(type, scale, ns, name, request.ContentType ?? string.Empty, patch, fieldValidation, Manager(request));
                break;
            default:
                throw StatusErrors.MethodNotAllowed();
        }

        await WriteJsonAsync(context, result.Code, result.Body, result.Warnings);
    }

    private JsonObject List(ResourceType type, string? ns, IQueryCollection query)
    {
        var selector = WatchStream.ParseSelector(query["labelSelector"]);
        var fields = FieldSelector.Parse(query["fieldSelector"], type);
        var (continueRv, continueAfter) = DecodeContinue(query["continue"]);
        List<JsonObject> items;
        long listRv;
        lock (store.Sync)
        {
            if (query["resourceVersionMatch"] == "Exact" && long.TryParse(query["resourceVersion"], out var exact))
            {
                items = store.ListAt(type, ns, exact) ?? throw StatusErrors.Expired("The resourceVersion for the provided list is too old.");
                listRv = exact;
            }
            else
            {
                items = store.List(type, ns);
                listRv = continueRv ?? store.CurrentResourceVersion;
            }

            items = [.. items.Where(o => selector.Matches(ObjectMeta.Labels(o)) && fields.Matches(o)).Select(o => (JsonObject)o.DeepClone())];
        }

        if (continueAfter is not null)
        {
            items = [.. items.Where(o => string.CompareOrdinal(ItemKey(o), continueAfter) > 0)];
        }

        var metadata = new JsonObject();
        if (int.TryParse(query["limit"], out var limit) && limit > 0 && items.Count > limit)
        {
            var remaining = items.Count - limit;
            items = items[..limit];
            metadata["continue"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{listRv}|{ItemKey(items[^1])}"));
            metadata["remainingItemCount"] = remaining;
        }
        else if (type.IsCustomResource)
        {
            metadata["continue"] = string.Empty;
        }

        metadata["resourceVersion"] = listRv.ToString(CultureInfo.InvariantCulture);
        foreach (var item in items)
        {
            // Custom resource lists carry each item's type; built-in lists (typed Go lists) leave it out.
            if (type.IsCustomResource)
            {
                item["apiVersion"] = type.ApiVersion;
            }
            else
            {
                item.Remove("apiVersion");
                item.Remove("kind");
            }
        }

        return new JsonObject
        {
            ["apiVersion"] = type.ApiVersion,
            ["kind"] = type.ListKind,
            ["metadata"] = metadata,
            ["items"] = new JsonArray([.. items]),
        };
    }

    private static string Manager(HttpRequest request) => FieldManager.ManagerName(request.Query["fieldManager"], request.Headers.UserAgent);

    private static string ItemKey(JsonObject obj) => $"{ObjectMeta.Namespace(obj)}/{ObjectMeta.Name(obj)}";

    private static (long? Rv, string? After) DecodeContinue(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return (null, null);
        }

        try
        {
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(token)).Split('|', 2);
            return (long.Parse(parts[0], CultureInfo.InvariantCulture), parts[1]);
        }
        catch (Exception ex) when (ex is FormatException or IndexOutOfRangeException)
        {
            throw StatusErrors.BadRequest("continue key is not valid");
        }
    }

    private static FieldValidation ParseFieldValidation(string? value) => value?.ToLowerInvariant() switch
    {
        null or "" or "warn" => FieldValidation.Warn,
        "ignore" => FieldValidation.Ignore,
        "strict" => FieldValidation.Strict,
        _ => throw StatusErrors.BadRequest($"fieldValidation must be one of Ignore, Warn or Strict, got {value}"),
    };

    private static async Task<JsonObject> ReadObjectAsync(HttpRequest request)
        => await ReadOptionalObjectAsync(request) ?? throw StatusErrors.BadRequest("the body of the request is empty");

    private static async Task<JsonObject?> ReadOptionalObjectAsync(HttpRequest request)
    {
        var text = await new StreamReader(request.Body, Encoding.UTF8).ReadToEndAsync(request.HttpContext.RequestAborted);
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(text) as JsonObject ?? throw StatusErrors.BadRequest("the body of the request must be a JSON object");
        }
        catch (JsonException ex)
        {
            throw StatusErrors.BadRequest($"error decoding request body: {ex.Message}");
        }
    }

    internal static async Task WriteJsonAsync(HttpContext context, int code, JsonObject body, IReadOnlyList<string> warnings)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        foreach (var warning in warnings)
        {
            context.Response.Headers.Append("Warning", $"299 - \"{warning.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\"");
        }

        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}
