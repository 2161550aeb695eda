using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using k8s;
using Midori.Operator.Testing;
using Xunit.Abstractions;

namespace Midori.Operator.Tests.DevStack;

/// <summary>The executable as the README runs it: the banner, a kubeconfig clients can use, and Ctrl-C leaving no sandbox process.</summary>
[Trait("Category", "DevStack")]
public sealed class DevStackProcessTests(ITestOutputHelper output)
{
    private const int SigInt = 2;
    private static readonly TimeSpan Generous = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task CtrlC_StopsTheStackCleanly_AndLeavesNoSandboxProcess()
    {
        // arrange: the stack, and a command-mode preview whose dev server is a marked process
        var data = Directory.CreateTempSubdirectory("midori-devstack-").FullName;
        var marker = 3_000 + Random.Shared.Next(60_000);
        var dll = Path.Combine(AppContext.BaseDirectory, "Midori.DevStack.dll");
        // Through env --default-signal=INT: a test run started in the background by a shell without job control (`cmd &`)
        // inherits SIGINT as ignored, and an ignored signal stays ignored across exec, so Ctrl-C would never arrive.
        var info = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryPaths.Root };
        foreach (var argument in new[] { "--default-signal=INT", "dotnet", dll, $"--DevStack:DataDirectory={data}", "--Urls=http://127.0.0.1:0" })
        {
            info.ArgumentList.Add(argument);
        }

        using var stack = Process.Start(info)!;
        var log = new StringBuilder();
        var banner = new TaskCompletionSource();
        stack.OutputDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }

            if (e.Data?.Contains("kubectl wait", StringComparison.Ordinal) == true)
            {
                banner.TrySetResult();
            }
        };
        stack.ErrorDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }
        };
        stack.BeginOutputReadLine();
        stack.BeginErrorReadLine();
        try
        {
            await banner.Task.WaitAsync(Generous);
            var kubeconfig = Path.Combine(data, "kubeconfig");
            Assert.Contains(kubeconfig, log.ToString());
            Assert.Contains("HTTP API", log.ToString());

            // act: a sandbox process through the written kubeconfig (HTTPS with its CA and token), then Ctrl-C
            using var client = new k8s.Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
            var body = new Dictionary<string, object>
            {
                ["apiVersion"] = "preview.midori.dev/v1alpha1",
                ["kind"] = "PreviewSandbox",
                ["metadata"] = new Dictionary<string, object> { ["name"] = "sleeper" },
                ["spec"] = new Dictionary<string, object>
                {
                    ["projectId"] = "sleeper",
                    ["command"] = $"sleep {marker}",
                    ["source"] = new Dictionary<string, object> { ["inline"] = new[] { new Dictionary<string, object> { ["path"] = "index.html", ["content"] = "x" } } },
                },
            };
            await client.CustomObjects.CreateNamespacedCustomObjectAsync(body, "preview.midori.dev", "v1alpha1", "default", "previewsandboxes");
            await Poll(() => SandboxProcesses(marker).Count > 0, "the dev-server process to start");
            Assert.Equal(0, Kill(stack.Id, SigInt));
            var exited = await stack.WaitForExitAsync(new CancellationTokenSource(Generous).Token).ContinueWith(t => t.IsCompletedSuccessfully);

            // assert
            Assert.True(exited, $"the stack did not stop within {Generous}:\n{log}");
            Assert.Equal(0, stack.ExitCode);
            await Poll(() => SandboxProcesses(marker).Count == 0, "no sandbox process left");
        }
        finally
        {
            if (!stack.HasExited)
            {
                stack.Kill(entireProcessTree: true);
            }

            output.WriteLine(log.ToString());
            foreach (var pid in SandboxProcesses(marker))
            {
                _ = Kill(pid, 9);
            }

            Directory.Delete(data, recursive: true);
        }
    }

    private static List<int> SandboxProcesses(int marker)
    {
        var found = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid))
            {
                try
                {
                    var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                    if (cmdline.Contains($"sleep {marker}", StringComparison.Ordinal))
                    {
                        found.Add(pid);
                    }
                }
                catch (IOException)
                {
                    // gone meanwhile
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
        }

        return found;
    }

    private static async Task Poll(Func<bool> condition, string what)
    {
        var until = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(until.Elapsed < Generous, $"timed out waiting for {what}");
            await Task.Delay(100);
        }
    }

#pragma warning disable SYSLIB1054 // a plain P/Invoke keeps the test project free of unsafe code
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}
