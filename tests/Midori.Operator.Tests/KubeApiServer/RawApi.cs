using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Midori.DevApiServer;

namespace Midori.Operator.Tests.KubeApiServer;

/// <summary>A thin authenticated HTTP client for asserting on exact status codes and bodies.</summary>
internal sealed class RawApi(DevKubeApiServer server) : IDisposable
{
    public const string Sandboxes = "/apis/preview.midori.dev/v1alpha1/namespaces/default/previewsandboxes";
    public const string Widgets = "/apis/demo.example.com/v1/namespaces/default/widgets";

    public const string WidgetCrd = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.demo.example.com
        spec:
          group: demo.example.com
          scope: Namespaced
          names: {plural: widgets, singular: widget, kind: Widget}
          versions:
            - name: v1
              served: true
              storage: true
              subresources: {status: {}}
              schema:
                openAPIV3Schema:
                  type: object
                  properties:
                    spec:
                      type: object
                      required: [size]
                      properties:
                        size: {type: integer, minimum: 1}
                        owner: {type: string, default: nobody}
                        tags: {type: array, items: {type: string}}
                    status:
                      type: object
                      properties:
                        phase: {type: string}
        """;

    private readonly HttpClient _http = new() { BaseAddress = server.BaseAddress };

    public async Task<(int Code, JsonObject Body, HttpResponseMessage Response)> SendAsync(string method, string path, string? body = null, string contentType = "application/json", string? accept = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token);
        if (accept is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept", accept);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonNode.Parse(text)!.AsObject(), response);
    }

    public Task<(int Code, JsonObject Body, HttpResponseMessage Response)> CreateAsync(string collection, string body) => SendAsync("POST", collection, body);

    public Task<(int Code, JsonObject Body, HttpResponseMessage Response)> GetAsync(string path) => SendAsync("GET", path);

    public Task<(int Code, JsonObject Body, HttpResponseMessage Response)> MergePatchAsync(string path, string patch)
        => SendAsync("PATCH", path, patch, "application/merge-patch+json");

    public Task<(int Code, JsonObject Body, HttpResponseMessage Response)> JsonPatchAsync(string path, string patch)
        => SendAsync("PATCH", path, patch, "application/json-patch+json");

    public void Dispose() => _http.Dispose();
}
