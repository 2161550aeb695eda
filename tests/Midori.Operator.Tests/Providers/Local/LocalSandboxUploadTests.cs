using System.Net;
using Midori.Operator.Providers;
using Midori.Operator.Files;

namespace Midori.Operator.Tests.Providers.Local;

public sealed class LocalSandboxUploadTests
{
    public static TheoryData<string> EscapingPaths => new()
    {
        "",
        "/etc/passwd",
        "../outside.txt",
        "..",
        "a/../../outside.txt",
        "a/..",
        "./a.txt",
        "a/./b.txt",
        "a//b.txt",
        "a/",
        "a\\..\\..\\outside.txt",
        "..\\outside.txt",
        "C:/Windows/win.ini",
        "c:outside.txt",
        "a\0b.txt",
        "a/b\n.txt",
        "~/outside.txt",
        "//server/share/x",
        new string('a', 2000),
    };

    [Theory]
    [MemberData(nameof(EscapingPaths))]
    public async Task UploadFilesAsync_PathLeavingProject_ThrowsPermanentAndWritesNothing(string path)
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        var before = Directory.GetFileSystemEntries(harness.Root, "*", SearchOption.AllDirectories).Order().ToArray();

        // act
        var error = await Assert.ThrowsAsync<SandboxProviderException>(() => harness.Provider.UploadFilesAsync(
            info.Id, [LocalProviderHarness.Text("ok.txt", "fine"), LocalProviderHarness.Text(path, "evil")], cts.Token));

        // assert
        Assert.False(error.IsTransient);
        Assert.Equal("local", error.Provider);
        Assert.StartsWith("Refused to upload", error.Message, StringComparison.Ordinal);
        var after = Directory.GetFileSystemEntries(harness.Root, "*", SearchOption.AllDirectories).Order().ToArray();
        Assert.Equal(before, after); // validated up front: not even the good file was written
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(harness.Root)!, "outside.txt")));
    }

    [Fact]
    public async Task UploadFilesAsync_BinaryFile_RoundTripsBytesOnDiskAndOverHttp()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var bytes = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 31 % 256)).ToArray();

        // act
        var (id, preview) = await harness.StartStaticAsync(new SandboxFile("assets/img/logo.png", bytes));
        using var response = await harness.GetAsync(preview.Url, "assets/img/logo.png", preview.Token);

        // assert
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(bytes, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(harness.Root, id, "project", "assets", "img", "logo.png")));
    }

    [Fact]
    public async Task UploadFilesAsync_ExistingFile_IsReplacedAndNoTempFilesRemain()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        var (id, preview) = await harness.StartStaticAsync(LocalProviderHarness.Text("index.html", "<p>v1</p>"));
        using var cts = LocalProviderHarness.Cancel();

        // act
        await harness.Provider.UploadFilesAsync(id, [LocalProviderHarness.Text("index.html", "<p>v2</p>")], cts.Token);
        using var response = await harness.GetAsync(preview.Url, "/", preview.Token);

        // assert
        Assert.Equal("<p>v2</p>", await response.Content.ReadAsStringAsync(cts.Token));
        Assert.Empty(Directory.GetFiles(Path.Combine(harness.Root, id, "tmp")));
    }

    [Fact]
    public async Task UploadFilesAsync_FileWhereDirectoryExists_ThrowsPermanent()
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();
        var info = await harness.Provider.CreateAsync(LocalProviderHarness.CreateRequest(), cts.Token);
        await harness.Provider.UploadFilesAsync(info.Id, [LocalProviderHarness.Text("src/app.js", "1")], cts.Token);

        // act
        var error = await Assert.ThrowsAsync<SandboxProviderException>(
            () => harness.Provider.UploadFilesAsync(info.Id, [LocalProviderHarness.Text("src", "x")], cts.Token));

        // assert
        Assert.False(error.IsTransient);
    }

    [Theory]
    [InlineData("local-000000000000")]
    [InlineData("../../etc")]
    [InlineData("not-a-local-id")]
    public async Task UploadFilesAsync_UnknownSandbox_ThrowsNotFound(string sandboxId)
    {
        // arrange
        await using var harness = new LocalProviderHarness();
        using var cts = LocalProviderHarness.Cancel();

        // act
        var error = await Assert.ThrowsAsync<SandboxProviderException>(
            () => harness.Provider.UploadFilesAsync(sandboxId, [LocalProviderHarness.Text("a.txt", "a")], cts.Token));

        // assert
        Assert.False(error.IsTransient);
        Assert.Contains("not found", error.Message, StringComparison.Ordinal);
    }
}
