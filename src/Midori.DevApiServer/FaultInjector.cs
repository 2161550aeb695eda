namespace Midori.DevApiServer;

/// <summary>
/// Makes the next N matching requests fail with a given status, answered with a Status body shaped like the real
/// server's for that code, before any other processing (nothing is stored).
/// </summary>
public sealed class FaultInjector
{
    private readonly object _sync = new();
    private readonly List<Rule> _rules = [];

    /// <summary>Fails the next <paramref name="count"/> requests whose path starts with <paramref name="pathPrefix"/> (and method matches, when given).</summary>
    public void FailNext(int count, int statusCode, string? method = null, string? pathPrefix = null)
    {
        lock (_sync)
        {
            _rules.Add(new Rule(method, pathPrefix, statusCode) { Remaining = count });
        }
    }

    public void Clear()
    {
        lock (_sync)
        {
            _rules.Clear();
        }
    }

    internal ApiException? TryTake(string method, string path)
    {
        lock (_sync)
        {
            var rule = _rules.FirstOrDefault(r =>
                r.Remaining > 0 && (r.Method is null || string.Equals(r.Method, method, StringComparison.OrdinalIgnoreCase)) &&
                (r.PathPrefix is null || path.StartsWith(r.PathPrefix, StringComparison.Ordinal)));
            if (rule is null)
            {
                return null;
            }

            rule.Remaining--;
            var (reason, message) = rule.StatusCode switch
            {
                409 => ("Conflict", "injected fault: conflict"),
                429 => ("TooManyRequests", "injected fault: too many requests, please try again later"),
                500 => ("InternalError", "injected fault: an error on the server has prevented the request from succeeding"),
                503 => ("ServiceUnavailable", "injected fault: the server is currently unable to handle the request"),
                504 => ("Timeout", "injected fault: the server was unable to return a response in the time allotted"),
                _ => ("Unknown", $"injected fault: status {rule.StatusCode}"),
            };
            return StatusErrors.Generic(rule.StatusCode, reason, message);
        }
    }

    private sealed record Rule(string? Method, string? PathPrefix, int StatusCode)
    {
        public int Remaining { get; set; }
    }
}
