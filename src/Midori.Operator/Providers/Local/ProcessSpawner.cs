using System.Collections.Concurrent;
using System.Diagnostics;

namespace Midori.Operator.Providers.Local;

/// <summary>
/// Starts processes from one dedicated thread that lives as long as the operator. bwrap's <c>--die-with-parent</c> is
/// PR_SET_PDEATHSIG, which fires when the thread that forked exits, not the process: a thread-pool thread retiring
/// would kill a healthy sandbox. Forking from this thread makes "dies with the operator" mean exactly that.
/// </summary>
internal static class ProcessSpawner
{
    private static readonly BlockingCollection<(ProcessStartInfo StartInfo, TaskCompletionSource<Process> Result)> Requests = [];
    private static readonly Lazy<Thread> Worker = new(() =>
    {
        var thread = new Thread(Run) { IsBackground = true, Name = "midori-sandbox-spawner" };
        thread.Start();
        return thread;
    });

    public static Task<Process> StartAsync(ProcessStartInfo startInfo)
    {
        _ = Worker.Value;
        var result = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((startInfo, result));
        return result.Task;
    }

    private static void Run()
    {
        foreach (var (startInfo, result) in Requests.GetConsumingEnumerable())
        {
            var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
            try
            {
                if (!process.Start())
                {
                    throw new InvalidOperationException("the process did not start");
                }

                result.SetResult(process);
            }
            catch (Exception ex)
            {
                process.Dispose();
                result.SetException(ex);
            }
        }
    }
}
