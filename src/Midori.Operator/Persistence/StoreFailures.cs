using System.Net.Sockets;
using Npgsql;

namespace Midori.Operator.Persistence;

/// <summary>How a store failure should be reported: the store is out (retry later) or it refused a value.</summary>
public enum StoreFailureKind
{
    /// <summary>Not a store failure this classifier knows.</summary>
    None,

    /// <summary>PostgreSQL unreachable, restarting, out of connections, or the connection broke: retry later (503).</summary>
    Outage,

    /// <summary>PostgreSQL refused a value (SQLSTATE class 22, data exception): the caller's input (422).</summary>
    InvalidValue,

    /// <summary>A constraint refused the write (SQLSTATE class 23): a conflicting concurrent change (409).</summary>
    Conflict,
}

/// <summary>
/// The one place that reads Npgsql exceptions. Services let store exceptions travel; the HTTP API's exception
/// handler (and the reconciler's source resolution) ask here what they mean.
/// </summary>
public static class StoreFailures
{
    public static StoreFailureKind Classify(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                case StoreUnavailableException:
                    return StoreFailureKind.Outage;
                case PostgresException postgres:
                    return ClassifySqlState(postgres.SqlState, postgres.IsTransient);
                case NpgsqlException:
                    // No SQLSTATE: the client side failed (connect refused, stream broke, pool timeout, server gone).
                    return StoreFailureKind.Outage;
                case TimeoutException when IsFromNpgsql(current):
                    return StoreFailureKind.Outage;
                case InvalidOperationException when IsFromNpgsql(current):
                    // A connection broken in the middle of a transaction surfaces as "connection is not open"/"broken".
                    return StoreFailureKind.Outage;
            }
        }

        return StoreFailureKind.None;
    }

    public static bool IsOutage(Exception exception) => Classify(exception) == StoreFailureKind.Outage;

    private static StoreFailureKind ClassifySqlState(string sqlState, bool transient) => sqlState switch
    {
        _ when sqlState.StartsWith("22", StringComparison.Ordinal) => StoreFailureKind.InvalidValue,
        _ when sqlState.StartsWith("23", StringComparison.Ordinal) => StoreFailureKind.Conflict,
        // 08 connection, 53 resources, 57P admin shutdown / cannot connect now / crash shutdown, 58 system error,
        // 40001/40P01 serialization failure and deadlock: all end when retried later.
        _ when transient || sqlState.StartsWith("08", StringComparison.Ordinal) || sqlState.StartsWith("53", StringComparison.Ordinal)
            || sqlState.StartsWith("57P", StringComparison.Ordinal) || sqlState.StartsWith("58", StringComparison.Ordinal)
            || sqlState is "40001" or "40P01" => StoreFailureKind.Outage,
        _ => StoreFailureKind.None,
    };

    private static bool IsFromNpgsql(Exception exception) =>
        exception.TargetSite?.DeclaringType?.Namespace?.StartsWith("Npgsql", StringComparison.Ordinal) == true
        || exception.Source?.StartsWith("Npgsql", StringComparison.Ordinal) == true;
}
