using System.Collections.Concurrent;
using System.Reflection;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Fuzz;

/// <summary>
/// A provider that behaves like the fake one and also writes every uploaded file to disk under its root, through
/// the local provider's own path gate (<see cref="LocalSandboxPaths.Resolve"/>), so a fuzz run can check that
/// nothing lands outside a sandbox's directory. Paths the gate refuses are recorded as violations: the API must
/// never hand such a path to a provider.
/// </summary>
public class DiskBackedProvider : DispatchProxy
{
    private ISandboxProvider _inner = null!;
    private string _root = null!;

    public ConcurrentQueue<string> Violations { get; } = new();

    public int FilesWritten;

    public static (ISandboxProvider Provider, DiskBackedProvider Control) Wrap(ISandboxProvider inner, string root)
    {
        var proxy = Create<ISandboxProvider, DiskBackedProvider>();
        var control = (DiskBackedProvider)(object)proxy;
        control._inner = inner;
        control._root = root;
        return (proxy, control);
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        if (targetMethod?.Name == nameof(ISandboxProvider.UploadFilesAsync))
        {
            var sandboxId = (string)args![0]!;
            var directory = Path.Combine(_root, sandboxId);
            foreach (var file in (IReadOnlyList<SandboxFile>)args[1]!)
            {
                if (LocalSandboxPaths.Resolve(directory, file.Path) is not { } full)
                {
                    Violations.Enqueue($"provider was handed '{file.Path}' for {sandboxId}");
                    continue;
                }

                try
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                    File.WriteAllBytes(full, file.Content);
                    Interlocked.Increment(ref FilesWritten);
                }
                catch (IOException ex)
                {
                    Violations.Enqueue($"the file set handed to the provider cannot exist on disk: '{file.Path}': {ex.Message}");
                }
            }
        }

        if (targetMethod?.Name == nameof(ISandboxProvider.DeleteFilesAsync))
        {
            var directory = Path.Combine(_root, (string)args![0]!);
            foreach (var path in (IReadOnlyList<string>)args[1]!)
            {
                if (LocalSandboxPaths.Resolve(directory, path) is not { } full)
                {
                    Violations.Enqueue($"provider was asked to delete '{path}'");
                    continue;
                }

                File.Delete(full);
                for (var parent = Path.GetDirectoryName(full); parent is not null && parent.Length > directory.Length
                    && Directory.Exists(parent) && !Directory.EnumerateFileSystemEntries(parent).Any(); parent = Path.GetDirectoryName(parent))
                {
                    Directory.Delete(parent); // a directory left empty would keep a later file of the same name from being written
                }
            }
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
