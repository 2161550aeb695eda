using System.Text;
using Midori.Operator.Files;
using Midori.Operator.Providers;

namespace Midori.Operator.Tests.Providers.Lifecycle;

/// <summary>The manifest read from a sandbox (sha256sum output or a local directory) and its comparison with the working copy.</summary>
public sealed class FileManifestsTests
{
    private const string HashA = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"; // "a"
    private const string HashB = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"; // "b"

    [Fact]
    public void Parse_ReadsTextAndBinaryModeLines_StripsDotSlash_SkipsEscapedAndJunk()
    {
        // arrange
        var output = $"{HashA}  ./index.html\n{HashB} *./src/with space.css\r\n\\{HashA}  ./odd\\nname\nnot a line\n{HashA.ToUpperInvariant()}  ./UPPER.txt\n";

        // act
        var manifest = FileManifests.Parse(output);

        // assert
        Assert.Equal(new Dictionary<string, string>
        {
            ["index.html"] = "sha256:" + HashA,
            ["src/with space.css"] = "sha256:" + HashB,
            ["UPPER.txt"] = "sha256:" + HashA,
        }, manifest);
    }

    [Fact]
    public void Command_CdsIntoTheQuotedDirectory_AndPrunesDependencyFolders()
    {
        // act
        var command = FileManifests.Command("/home/user/it's here");

        // assert
        Assert.StartsWith("cd '/home/user/it'\\''s here' && find . ", command, StringComparison.Ordinal);
        Assert.Contains("-name node_modules -o -name .git", command, StringComparison.Ordinal);
        Assert.EndsWith("xargs -0 -r sha256sum", command, StringComparison.Ordinal);
    }

    [Fact]
    public void OfDirectory_HashesEveryFile_SkipsNodeModulesAndGit()
    {
        // arrange
        var root = Path.Combine(Path.GetTempPath(), "midori-manifest-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "src"));
            Directory.CreateDirectory(Path.Combine(root, "node_modules", "x"));
            Directory.CreateDirectory(Path.Combine(root, ".git"));
            File.WriteAllText(Path.Combine(root, "index.html"), "a");
            File.WriteAllText(Path.Combine(root, "src", "app.js"), "b");
            File.WriteAllText(Path.Combine(root, "node_modules", "x", "i.js"), "a");
            File.WriteAllText(Path.Combine(root, ".git", "HEAD"), "a");

            // act
            var manifest = FileManifests.OfDirectory(root);

            // assert
            Assert.Equal(new Dictionary<string, string> { ["index.html"] = "sha256:" + HashA, ["src/app.js"] = "sha256:" + HashB }, manifest);
            Assert.Equal(ContentHash.Compute(Encoding.UTF8.GetBytes("a")), manifest["index.html"]);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Compare_ReportsMissingAndChanged_AndOnlyRemovedExtras()
    {
        // arrange
        var expected = new Dictionary<string, string> { ["same"] = "sha256:1", ["changed"] = "sha256:2", ["missing"] = "sha256:3" };
        var actual = new Dictionary<string, string> { ["same"] = "sha256:1", ["changed"] = "sha256:x", ["deleted"] = "sha256:4", [".next/build"] = "sha256:5" };

        // act
        var (differing, stale) = FileManifests.Compare(expected, actual, removed: ["deleted", "never-there"]);

        // assert: files the dev server generated (.next) stay; a file the editor deleted goes
        Assert.Equal(["changed", "missing"], differing);
        Assert.Equal(["deleted"], stale);
    }
}
