using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Options;
using Midori.Operator.Runtime;
using Midori.Operator.Testing.Fakes;

namespace Midori.Operator.Tests.Runtime;

public sealed class LeaderElectionServiceTests
{
    [Fact]
    public async Task StartAsync_ElectionDisabled_LeaderImmediatelyAndTokenCancelledOnStop()
    {
        // arrange
        using var services = new ServiceCollection().BuildServiceProvider();
        using var service = new LeaderElectionService(
            services, Microsoft.Extensions.Options.Options.Create(new LeaderElectionOptions { Enabled = false }),
            new OperatorIdentity("me", "ns"), new ObservableTimeProvider(), NullLogger<LeaderElectionService>.Instance);
        CancellationToken? token = null;
        var stopped = 0;
        service.StartedLeading += ct => token = ct;
        service.StoppedLeading += () => stopped++;

        // act
        await service.StartAsync(CancellationToken.None).WithTimeout();
        var leaderAfterStart = service.IsLeader;
        await service.StopAsync(CancellationToken.None).WithTimeout();

        // assert
        Assert.True(leaderAfterStart);
        Assert.False(service.IsLeader);
        Assert.NotNull(token);
        Assert.True(token.Value.IsCancellationRequested);
        Assert.Equal(1, stopped);
    }

    [Theory]
    [InlineData("configured", "pod-1", "configured")]
    [InlineData(null, "pod-1", "pod-1")]
    [InlineData("  ", "pod-1", "pod-1")]
    public void ResolveName_ConfiguredOrPodName_Used(string? configured, string? podName, string expected)
    {
        // arrange / act
        var name = OperatorIdentity.ResolveName(configured, v => v == "POD_NAME" ? podName : null, "HOST");

        // assert
        Assert.Equal(expected, name);
    }

    [Fact]
    public void ResolveName_NothingConfigured_MachineNameWithRandomSuffix()
    {
        // arrange / act
        var first = OperatorIdentity.ResolveName(null, _ => null, "HOST");
        var second = OperatorIdentity.ResolveName(null, _ => null, "HOST");

        // assert
        Assert.Matches("^host-[0-9a-f]{6}$", first);
        Assert.NotEqual(first, second);
    }

    [Theory]
    [InlineData("opt", "env", "file", "opt")]
    [InlineData(null, "env", "file", "env")]
    [InlineData(null, null, "file\n", "file")]
    [InlineData(null, null, null, "default")]
    public void ResolveNamespace_Precedence_OptionThenEnvThenFileThenDefault(string? option, string? env, string? file, string expected)
    {
        // arrange / act
        var ns = OperatorIdentity.ResolveNamespace(option, v => v == "POD_NAMESPACE" ? env : null, path => path == OperatorIdentity.ServiceAccountNamespaceFile ? file : null);

        // assert
        Assert.Equal(expected, ns);
    }
}
