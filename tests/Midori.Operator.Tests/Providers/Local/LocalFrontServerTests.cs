using System.Net;
using System.Net.Sockets;
using Midori.Operator.Providers;

namespace Midori.Operator.Tests.Providers.Local;

public sealed class LocalFrontServerTests
{
    [Fact]
    public async Task ManySandboxes_ShareOneServer_EachServesItsOwnFilesOnItsOwnPort()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();
        var previews = new List<(string Id, PreviewEndpoint Preview)>();

        // act
        for (var i = 0; i < 30; i++)
        {
            var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(ownerUid: $"uid-{i}"), cts.Token);
            await harness.Provider.UploadFilesAsync(info.Id, [LocalProviderHarness.Text("index.html", $"<p>sandbox {i}</p>")], cts.Token);
            await harness.Provider.StartAsync(info.Id, LocalProviderHarness.StaticStart(), cts.Token);
            previews.Add((info.Id, await harness.Provider.GetPreviewAsync(info.Id, 3000, cts.Token)));
        }

        // assert
        Assert.Equal(1, harness.Provider.Fronts.ServerCount);
        Assert.Equal(30, harness.Provider.Fronts.FrontCount);
        Assert.Equal(30, previews.Select(p => p.Preview.Url.Port).Distinct().Count());
        for (var i = 0; i < previews.Count; i++)
        {
            using var response = await harness.GetAsync(previews[i].Preview.Url, "/", previews[i].Preview.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal($"<p>sandbox {i}</p>", await response.Content.ReadAsStringAsync(cts.Token));
        }
    }

    [Fact]
    public async Task TokenOfAnotherSandbox_IsRefused()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (_, first) = await harness.StartStaticAsync(LocalProviderHarness.Text("index.html", "first"));
        var (_, second) = await harness.StartStaticAsync(LocalProviderHarness.Text("index.html", "second"));

        // act
        using var crossed = await harness.GetAsync(first.Url, "/", second.Token);
        using var own = await harness.GetAsync(first.Url, "/", first.Token);

        // assert
        Assert.NotEqual(first.Token, second.Token);
        Assert.Equal(HttpStatusCode.Forbidden, crossed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
    }

    [Fact]
    public async Task DeletedSandbox_ClosesItsPort_OthersKeepServing()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();
        var (goneId, gone) = await harness.StartStaticAsync(LocalProviderHarness.Text("index.html", "gone"));
        var (_, kept) = await harness.StartStaticAsync(LocalProviderHarness.Text("index.html", "kept"));
        using (var before = await harness.GetAsync(gone.Url, "/", gone.Token))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        // act
        await harness.Provider.DeleteAsync(goneId, cts.Token);

        // assert
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(
            async () => await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, gone.Url.Port), cts.Token));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        using var still = await harness.GetAsync(kept.Url, "/", kept.Token);
        Assert.Equal("kept", await still.Content.ReadAsStringAsync(cts.Token));
        Assert.Equal(1, harness.Provider.Fronts.FrontCount);
    }
}
