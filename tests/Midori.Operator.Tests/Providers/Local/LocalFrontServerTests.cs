using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Midori.Operator.Providers;
using Midori.Operator.Providers.Local;
using Midori.Operator.Testing;

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

    [Fact]
    public async Task PortOfAStoppingFront_HandedOutAgain_IsHeldAside_AndTheNewFrontGetsAnother()
    {
        // arrange: a front whose request stays in flight (its upstream accepts and never answers), so stopping it closes
        // its socket but keeps its port while the request drains; the binder then hands that very port out first, as the
        // system may when previews are deleted and created at once
        using var cts = LocalProviderHarness.Cancel();
        using var upstream = new TcpListener(IPAddress.Loopback, 0);
        upstream.Start();
        var transport = new SocketTransportFactory(Microsoft.Extensions.Options.Options.Create(new SocketTransportOptions()), NullLoggerFactory.Instance);
        var reuse = 0;
        ValueTask<IConnectionListener> Bind(IPEndPoint endPoint, CancellationToken cancellationToken)
        {
            var port = Interlocked.Exchange(ref reuse, 0);
            return transport.BindAsync(port > 0 ? new IPEndPoint(endPoint.Address, port) : endPoint, cancellationToken);
        }

        await using var server = new LocalFrontServer(Bind);
        var stoppingFront = await server.OpenForwarderAsync((IPEndPoint)upstream.LocalEndpoint, IPAddress.Loopback, null, cts.Token);
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var inFlight = http.GetAsync($"http://127.0.0.1:{stoppingFront.Port}/", cts.Token);
        using var stuck = await upstream.AcceptTcpClientAsync(cts.Token);
        using var grace = new CancellationTokenSource();
        var stopping = stoppingFront.StopAsync(grace.Token);
        await RefusedAsync(stoppingFront.Port, cts.Token);
        var dir = Directory.CreateTempSubdirectory("midori-front-").FullName;
        try
        {
            // act
            reuse = stoppingFront.Port;
            var fresh = await server.OpenStaticAsync(dir, IPAddress.Loopback, null, cts.Token);

            // assert: another port; the held socket is closed again; the stopping front keeps its own until it stops
            Assert.NotEqual(stoppingFront.Port, fresh.Port);
            Assert.Equal(2, server.FrontCount);
            using (var probe = new TcpListener(IPAddress.Loopback, stoppingFront.Port))
            {
                probe.Start();
                probe.Stop();
            }

            grace.Cancel();
            await stopping;
            Assert.Equal(1, server.FrontCount);
            await Assert.ThrowsAnyAsync<Exception>(() => inFlight.WaitAsync(TestWaits.Bound));
            await fresh.DisposeAsync();
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task RefusedAsync(int port, CancellationToken cancellationToken)
    {
        while (true)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                return;
            }

            await Task.Delay(10, cancellationToken);
        }
    }
}
