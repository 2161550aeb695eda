namespace Midori.Operator.Files;

/// <summary>Kinds of line operations (what an editor sends instead of whole files).</summary>
public enum LineOperationType
{
    Insert,
    Delete,
    Replace,
}

/// <summary>
/// One line operation. <see cref="Line"/> is 1-based and always refers to the BASE text (the file before the patch),
/// like the line numbers of a unified diff, so the operations of one patch are independent of their order:
/// <list type="bullet">
/// <item><c>insert</c>: inserts <see cref="Content"/> before base line <see cref="Line"/> (1…n+1; n+1 appends). Several inserts at the same line keep their request order.</item>
/// <item><c>replace</c>: replaces base line <see cref="Line"/> (1…n) with <see cref="Content"/>.</item>
/// <item><c>delete</c>: removes base line <see cref="Line"/> (1…n).</item>
/// </list>
/// A base line may be replaced or deleted at most once. <see cref="Content"/> may hold several lines (separated by
/// <c>\n</c>); it then inserts or replaces with all of them. <see cref="OldContent"/>, when given on replace or
/// delete, must equal the base line, otherwise the whole patch is refused as stale.
/// </summary>
public sealed record LineOperation(LineOperationType Type, int Line, string? Content = null, string? OldContent = null);

/// <summary>Why a patch could not be applied. <see cref="IsConflict"/>: the base moved on (HTTP 409); otherwise the patch itself is invalid (HTTP 400/422).</summary>
public sealed class LinePatchException(string message, int operationIndex, bool isConflict) : Exception(message)
{
    /// <summary>Zero-based index of the offending operation in the request.</summary>
    public int OperationIndex { get; } = operationIndex;

    public bool IsConflict { get; } = isConflict;
}

/// <summary>
/// Applies line operations to text. Lines are separated by <c>\n</c> (JavaScript <c>split('\n')</c>: "a\nb\n" has
/// three lines, the last empty; "" has one empty line), so split and join round-trip every text exactly. A <c>\r</c>
/// before the <c>\n</c> belongs to the line ending: it is ignored when <see cref="LineOperation.OldContent"/> is
/// compared and kept on lines that replace a CRLF line, so Windows files stay Windows files.
/// </summary>
public static class LinePatch
{
    public static string Apply(string baseText, IReadOnlyList<LineOperation> operations)
    {
        ArgumentNullException.ThrowIfNull(baseText);
        ArgumentNullException.ThrowIfNull(operations);
        if (operations.Count == 0)
        {
            return baseText;
        }

        var lines = baseText.Split('\n');
        var lineCount = lines.Length;

        // Per base line: what replaces it (null = kept) and what is inserted before it; slot n holds appends.
        var replaced = new List<string>?[lineCount];
        var removed = new bool[lineCount];
        var inserted = new List<string>?[lineCount + 1];
        for (var i = 0; i < operations.Count; i++)
        {
            var operation = operations[i];
            switch (operation.Type)
            {
                case LineOperationType.Insert:
                    if (operation.Line < 1 || operation.Line > lineCount + 1)
                    {
                        throw Invalid(i, $"insert line {operation.Line} is outside 1..{lineCount + 1}");
                    }

                    if (operation.Content is null)
                    {
                        throw Invalid(i, "insert needs content");
                    }

                    (inserted[operation.Line - 1] ??= []).AddRange(SplitContent(operation.Content, CrlfAt(lines, operation.Line - 1)));
                    break;

                case LineOperationType.Replace:
                case LineOperationType.Delete:
                    var verb = operation.Type == LineOperationType.Replace ? "replace" : "delete";
                    if (operation.Line < 1 || operation.Line > lineCount)
                    {
                        throw Invalid(i, $"{verb} line {operation.Line} is outside 1..{lineCount}");
                    }

                    var index = operation.Line - 1;
                    if (removed[index] || replaced[index] is not null)
                    {
                        throw Invalid(i, $"line {operation.Line} is changed by more than one operation");
                    }

                    if (operation.OldContent is { } expected && !string.Equals(TrimCr(lines[index]), TrimCr(expected), StringComparison.Ordinal))
                    {
                        throw new LinePatchException($"line {operation.Line} does not hold the expected old content", i, isConflict: true);
                    }

                    if (operation.Type == LineOperationType.Delete)
                    {
                        removed[index] = true;
                    }
                    else
                    {
                        replaced[index] = SplitContent(operation.Content ?? throw Invalid(i, "replace needs content"), lines[index].EndsWith('\r'));
                    }

                    break;

                default:
                    throw Invalid(i, $"unknown operation type {operation.Type}");
            }
        }

        var result = new List<string>(lineCount + operations.Count);
        for (var index = 0; index <= lineCount; index++)
        {
            if (inserted[index] is { } before)
            {
                result.AddRange(before);
            }

            if (index == lineCount)
            {
                break;
            }

            if (replaced[index] is { } replacement)
            {
                result.AddRange(replacement);
            }
            else if (!removed[index])
            {
                result.Add(lines[index]);
            }
        }

        // Removing every line leaves "" (one empty line), the text with no content.
        return string.Join('\n', result);
    }

    /// <summary>Number of lines as <see cref="Apply"/> counts them.</summary>
    public static int CountLines(string text) => text.AsSpan().Count('\n') + 1;

    private static List<string> SplitContent(string content, bool crlf)
    {
        var parts = content.Split('\n');
        var list = new List<string>(parts.Length);
        foreach (var part in parts)
        {
            var line = TrimCr(part);
            list.Add(crlf ? line + "\r" : line);
        }

        return list;
    }

    /// <summary>New lines inserted before base line <paramref name="index"/> follow the ending of the line they join.</summary>
    private static bool CrlfAt(string[] lines, int index)
    {
        var neighbour = index < lines.Length - 1 ? lines[index] : index > 0 ? lines[index - 1] : null;
        return neighbour?.EndsWith('\r') == true;
    }

    private static string TrimCr(string line) => line.EndsWith('\r') ? line[..^1] : line;

    private static LinePatchException Invalid(int index, string message) => new($"operation {index}: {message}", index, isConflict: false);
}
