using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Midori.Operator.Providers.Local;

/// <summary>Linux process-table helpers over <c>/proc</c>: descendants of a pid, processes carrying a marker, signals.</summary>
internal static class ProcessTree
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    /// <summary>Every live descendant of <paramref name="rootPid"/> (children first found, breadth-first); not the root itself.</summary>
    public static List<int> Descendants(int rootPid)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var pid in Pids())
        {
            if (ParentOf(pid) is { } parent)
            {
                if (!children.TryGetValue(parent, out var list))
                {
                    children[parent] = list = [];
                }

                list.Add(pid);
            }
        }

        var result = new List<int>();
        var queue = new Queue<int>([rootPid]);
        while (queue.Count > 0 && result.Count < 100_000)
        {
            if (children.TryGetValue(queue.Dequeue(), out var list))
            {
                foreach (var child in list)
                {
                    result.Add(child);
                    queue.Enqueue(child);
                }
            }
        }

        return result;
    }

    /// <summary>Pids whose command line has an argument starting with <paramref name="markerPrefix"/> (never our own pid).</summary>
    public static List<int> WithMarker(string markerPrefix)
    {
        var self = Environment.ProcessId;
        var found = new List<int>();
        foreach (var pid in Pids())
        {
            if (pid == self)
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllBytes($"/proc/{pid}/cmdline");
                if (Encoding.UTF8.GetString(cmdline).Split('\0').Any(arg => arg.StartsWith(markerPrefix, StringComparison.Ordinal)))
                {
                    found.Add(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // exited meanwhile, or not ours to read
            }
        }

        return found;
    }

    /// <summary>kill(2); false when the process is gone (ESRCH) or not ours.</summary>
    public static bool Signal(int pid, int signal) => pid > 1 && Kill(pid, signal) == 0;

    private static IEnumerable<int> Pids()
    {
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateDirectories("/proc").ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            yield break;
        }

        foreach (var entry in entries)
        {
            if (int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                yield return pid;
            }
        }
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 1 && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent) ? parent : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    // DllImport rather than LibraryImport: the signature is blittable, and LibraryImport would need AllowUnsafeBlocks
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);
}
