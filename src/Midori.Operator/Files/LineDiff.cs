using DiffPlex;

namespace Midori.Operator.Files;

/// <summary>
/// Computes the <see cref="LineOperation"/>s that turn one text into another (DiffPlex's Myers diff over
/// <c>\n</c>-separated lines), in the base-line numbering <see cref="LinePatch.Apply"/> expects, so
/// <c>LinePatch.Apply(old, LineDiff.Compute(old, new)) == new</c>. Replacements carry <c>oldContent</c> so the patch
/// is refused if the base moved on.
/// </summary>
public static class LineDiff
{
    public static IReadOnlyList<LineOperation> Compute(string oldText, string newText)
    {
        if (oldText.Length == 0)
        {
            // DiffPlex sees "" as no lines, LinePatch as one empty line: replace that line with everything.
            return newText.Length == 0 ? [] : [new LineOperation(LineOperationType.Replace, 1, newText, string.Empty)];
        }

        var diff = Differ.Instance.CreateDiffs(oldText, newText, ignoreWhiteSpace: false, ignoreCase: false, NewlineChunker.Instance);
        var oldLines = diff.PiecesOld;
        var newLines = diff.PiecesNew;
        var operations = new List<LineOperation>();
        foreach (var block in diff.DiffBlocks)
        {
            var paired = Math.Min(block.DeleteCountA, block.InsertCountB);
            for (var k = 0; k < paired; k++)
            {
                var line = block.DeleteStartA + k;
                operations.Add(new LineOperation(LineOperationType.Replace, line + 1, newLines[block.InsertStartB + k], oldLines[line]));
            }

            for (var k = paired; k < block.DeleteCountA; k++)
            {
                var line = block.DeleteStartA + k;
                operations.Add(new LineOperation(LineOperationType.Delete, line + 1, OldContent: oldLines[line]));
            }

            for (var k = paired; k < block.InsertCountB; k++)
            {
                // Extra new lines go right after the block's base lines, in order.
                operations.Add(new LineOperation(LineOperationType.Insert, block.DeleteStartA + block.DeleteCountA + 1, newLines[block.InsertStartB + k]));
            }
        }

        return operations;
    }

    /// <summary>Counts of lines added and removed between two texts (what a reply reports for a whole-file write); an empty text counts as no lines.</summary>
    public static (int Added, int Removed) Summarize(string oldText, string newText)
    {
        var diff = Differ.Instance.CreateDiffs(oldText, newText, ignoreWhiteSpace: false, ignoreCase: false, NewlineChunker.Instance);
        return (diff.DiffBlocks.Sum(b => b.InsertCountB), diff.DiffBlocks.Sum(b => b.DeleteCountA));
    }

    /// <summary>Splits exactly like <see cref="LinePatch"/> (on <c>\n</c> only) so line numbers agree.</summary>
    private sealed class NewlineChunker : IChunker
    {
        public static readonly NewlineChunker Instance = new();

        public IReadOnlyList<string> Chunk(string text) => text.Split('\n');
    }
}
