using System.Net.Sockets;
using System.Reflection;
using Midori.Operator.Persistence;
using Npgsql;

namespace Midori.Operator.Tests.Http.Trust;

/// <summary>
/// An <see cref="IPreviewStore"/> that forwards to a real one until <see cref="Down"/> is set, then fails every call
/// the way Npgsql does when PostgreSQL refuses connections (a transient <see cref="NpgsqlException"/> over a
/// <see cref="SocketException"/>).
/// </summary>
public class OutageStore : DispatchProxy
{
    private IPreviewStore _inner = null!;

    public bool Down { get; set; }

    public int FailedCalls { get; private set; }

    public static (IPreviewStore Store, OutageStore Control) Wrap(IPreviewStore inner)
    {
        var proxy = Create<IPreviewStore, OutageStore>();
        var control = (OutageStore)(object)proxy;
        control._inner = inner;
        return (proxy, control);
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        if (Down)
        {
            FailedCalls++;
            throw new NpgsqlException("Failed to connect to 127.0.0.1:5432", new SocketException((int)SocketError.ConnectionRefused));
        }

        try
        {
            return targetMethod!.Invoke(_inner, args);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerException).Throw();
            throw;
        }
    }
}
