using Midori.Operator.Files;
using static Midori.Operator.Files.LineOperationType;

namespace Midori.Operator.Tests.Files;

public sealed class LinePatchTests
{
    [Fact]
    public void Replace_ChangesOneBaseLine()
    {
        Assert.Equal("a\nB\nc", LinePatch.Apply("a\nb\nc", [new LineOperation(Replace, 2, "B", "b")]));
    }

    [Fact]
    public void Insert_GoesBeforeTheBaseLine_AndLineCountPlusOneAppends()
    {
        Assert.Equal("x\na\nb", LinePatch.Apply("a\nb", [new LineOperation(Insert, 1, "x")]));
        Assert.Equal("a\nx\nb", LinePatch.Apply("a\nb", [new LineOperation(Insert, 2, "x")]));
        Assert.Equal("a\nb\nx", LinePatch.Apply("a\nb", [new LineOperation(Insert, 3, "x")]));
    }

    [Fact]
    public void Delete_RemovesTheBaseLine()
    {
        Assert.Equal("a\nc", LinePatch.Apply("a\nb\nc", [new LineOperation(Delete, 2, OldContent: "b")]));
    }

    [Fact]
    public void LineNumbersReferToTheBase_SoOperationOrderDoesNotMatter()
    {
        LineOperation[] ops =
        [
            new(Delete, 1),
            new(Replace, 3, "C"),
            new(Insert, 2, "x"),
            new(Delete, 4),
        ];
        const string expected = "x\nb\nC\ne";
        Assert.Equal(expected, LinePatch.Apply("a\nb\nc\nd\ne", ops));
        Assert.Equal(expected, LinePatch.Apply("a\nb\nc\nd\ne", [.. ops.Reverse()]));
    }

    [Fact]
    public void SeveralInsertsAtOneLine_KeepRequestOrder_AndComeBeforeAReplacementOfThatLine()
    {
        var result = LinePatch.Apply("a\nb", [new LineOperation(Insert, 2, "1"), new LineOperation(Replace, 2, "B"), new LineOperation(Insert, 2, "2")]);
        Assert.Equal("a\n1\n2\nB", result);
    }

    [Fact]
    public void MultiLineContent_InsertsOrReplacesWithEveryLine()
    {
        Assert.Equal("a\nx\ny\nc", LinePatch.Apply("a\nb\nc", [new LineOperation(Replace, 2, "x\ny")]));
        Assert.Equal("a\nx\ny\nb", LinePatch.Apply("a\nb", [new LineOperation(Insert, 2, "x\ny")]));
    }

    [Fact]
    public void TrailingNewline_IsAnEmptyLastLine_AsInJavaScriptSplit()
    {
        Assert.Equal(3, LinePatch.CountLines("a\nb\n"));
        Assert.Equal("a\nB\n", LinePatch.Apply("a\nb\n", [new LineOperation(Replace, 2, "B")]));
        Assert.Equal("a\nb\nc\n", LinePatch.Apply("a\nb\n", [new LineOperation(Insert, 3, "c")]));
    }

    [Fact]
    public void EmptyText_HasOneEmptyLine()
    {
        Assert.Equal("x\n", LinePatch.Apply(string.Empty, [new LineOperation(Insert, 1, "x")]));
        Assert.Equal("x", LinePatch.Apply(string.Empty, [new LineOperation(Replace, 1, "x", "")]));
        Assert.Equal(string.Empty, LinePatch.Apply("only", [new LineOperation(Delete, 1, OldContent: "only")]));
    }

    [Fact]
    public void CrlfFiles_StayCrlf_AndOldContentIgnoresTheCarriageReturn()
    {
        var result = LinePatch.Apply("a\r\nb\r\nc", [new LineOperation(Replace, 2, "B", "b"), new LineOperation(Insert, 1, "x")]);
        Assert.Equal("x\r\na\r\nB\r\nc", result);
    }

    [Fact]
    public void OldContentMismatch_IsAConflict()
    {
        var ex = Assert.Throws<LinePatchException>(() => LinePatch.Apply("a\nb", [new LineOperation(Replace, 1, "A", "a"), new LineOperation(Delete, 2, OldContent: "zzz")]));
        Assert.True(ex.IsConflict);
        Assert.Equal(1, ex.OperationIndex);
    }

    [Theory]
    [InlineData(Replace, 0)]
    [InlineData(Replace, 3)]
    [InlineData(Delete, 3)]
    [InlineData(Insert, 4)]
    [InlineData(Insert, 0)]
    public void LineOutsideTheBase_IsInvalid_NotAConflict(LineOperationType type, int line)
    {
        var ex = Assert.Throws<LinePatchException>(() => LinePatch.Apply("a\nb", [new LineOperation(type, line, "x")]));
        Assert.False(ex.IsConflict);
        Assert.Contains("outside", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChangingOneLineTwice_IsInvalid()
    {
        var ex = Assert.Throws<LinePatchException>(() => LinePatch.Apply("a\nb", [new LineOperation(Replace, 1, "x"), new LineOperation(Delete, 1)]));
        Assert.False(ex.IsConflict);
        Assert.Equal(1, ex.OperationIndex);
    }

    [Fact]
    public void InsertOrReplaceWithoutContent_IsInvalid()
    {
        Assert.False(Assert.Throws<LinePatchException>(() => LinePatch.Apply("a", [new LineOperation(Insert, 1)])).IsConflict);
        Assert.False(Assert.Throws<LinePatchException>(() => LinePatch.Apply("a", [new LineOperation(Replace, 1)])).IsConflict);
    }

    [Fact]
    public void NoOperations_ReturnsTheBase()
    {
        Assert.Equal("a\nb", LinePatch.Apply("a\nb", []));
    }

    [Fact]
    public void LineDiff_ProducesOneReplace_ForAOneLineEdit()
    {
        var lines = Enumerable.Range(1, 50).Select(i => $"line {i}").ToArray();
        var edited = (string[])lines.Clone();
        edited[24] = "changed";
        var ops = LineDiff.Compute(string.Join('\n', lines), string.Join('\n', edited));
        var op = Assert.Single(ops);
        Assert.Equal(new LineOperation(Replace, 25, "changed", "line 25"), op);
    }

    [Fact]
    public void LineDiff_ThenApply_RoundTripsRandomEdits()
    {
        var random = new Random(1234);
        for (var round = 0; round < 300; round++)
        {
            var baseLines = Enumerable.Range(0, random.Next(0, 30)).Select(_ => "l" + random.Next(0, 6)).ToList();
            var newLines = new List<string>(baseLines);
            for (var edit = random.Next(0, 8); edit > 0; edit--)
            {
                switch (random.Next(3))
                {
                    case 0:
                        newLines.Insert(random.Next(0, newLines.Count + 1), "n" + random.Next(0, 6));
                        break;
                    case 1 when newLines.Count > 0:
                        newLines.RemoveAt(random.Next(newLines.Count));
                        break;
                    case 2 when newLines.Count > 0:
                        newLines[random.Next(newLines.Count)] = "r" + random.Next(0, 6);
                        break;
                }
            }

            var before = string.Join('\n', baseLines);
            var after = string.Join('\n', newLines) + (random.Next(2) == 0 ? "\n" : string.Empty);
            var ops = LineDiff.Compute(before, after);
            Assert.Equal(after, LinePatch.Apply(before, ops));
        }
    }

    [Fact]
    public void LineDiff_Summarize_CountsAddedAndRemovedLines()
    {
        Assert.Equal((2, 1), LineDiff.Summarize("a\nb\nc", "a\nx\ny\nc"));
    }
}
