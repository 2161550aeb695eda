using System.Text.Encodings.Web;

namespace Midori.Operator.Gateway;

/// <summary>The two pages a browser may see from the gateway itself: "starting your preview" and "access refused".</summary>
internal static class GatewayPages
{
    /// <summary>
    /// Shown while a preview wakes or is recreated. It listens to the preview's status events (the same stream the
    /// editor API serves, authorized by the preview cookie) and reloads once the preview is ready; a timed reload
    /// covers browsers or proxies that cut the stream.
    /// </summary>
    public static string Starting(string eventsPath, string? phase, int retryAfterSeconds)
    {
        var events = JavaScriptEncoder.Default.Encode(eventsPath);
        var state = HtmlEncoder.Default.Encode(phase switch
        {
            "Expired" => "waking up",
            "Recreating" => "being replaced with a fresh sandbox",
            "Pending" or "Creating" or null => "starting",
            _ => "getting ready",
        });
        return $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Starting your preview…</title>
            <style>body{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;margin:0;color:#333}
            .box{text-align:center}.spin{width:32px;height:32px;margin:0 auto 16px;border:3px solid #ddd;border-top-color:#6a5;border-radius:50%;animation:s 1s linear infinite}
            @keyframes s{to{transform:rotate(360deg)} }</style></head>
            <body><div class="box"><div class="spin"></div><h1>Starting your preview…</h1><p>The preview is {{state}}. This page reloads when it is ready.</p></div>
            <script>
            (function(){
              var reload=function(){ location.reload(); };
              setTimeout(reload, {{retryAfterSeconds * 1000}} * 4);
              if (!window.EventSource) { setTimeout(reload, {{retryAfterSeconds * 1000}}); return; }
              var es=new EventSource("{{events}}");
              es.addEventListener("status", function(e){ try { if (JSON.parse(e.data).ready) { es.close(); reload(); } } catch(_){} });
              es.addEventListener("deleted", function(){ es.close(); reload(); });
            })();
            </script></body></html>
            """;
    }

    public static string Refused(string title, string detail) => $$"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{HtmlEncoder.Default.Encode(title)}}</title>
        <style>body{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;margin:0;color:#333}.box{max-width:36em;text-align:center}</style></head>
        <body><div class="box"><h1>{{HtmlEncoder.Default.Encode(title)}}</h1><p>{{HtmlEncoder.Default.Encode(detail)}}</p>
        <p>Open the preview again from the editor to get a fresh link.</p></div></body></html>
        """;
}
