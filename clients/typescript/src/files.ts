/** The operator's per-file content hash: "sha256:" + lowercase hex of the UTF-8 bytes (what `hashes` and `baseHash` carry). */
export async function contentHash(content: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(content));
  return "sha256:" + Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A line operation of PATCH /files: `line` is 1-based and always refers to the file before the patch. */
export interface LineOp {
  type: "insert" | "delete" | "replace";
  line: number;
  content?: string;
  oldContent?: string;
}

/** Lines exactly as the operator splits them (JavaScript `split('\n')`: a trailing newline is an empty last line). */
export function splitLines(text: string): string[] {
  return text.split("\n");
}

/** Beyond this many cells of the LCS table the middle of the file is sent as replacements (still correct, less minimal). */
const MaxDiffCells = 4_000_000;

/**
 * Line operations that turn `before` into `after`, relative to `before` like a unified diff: `insert` goes before
 * base line `line` (n+1 appends), `replace`/`delete` target base line `line`, at most one of them per base line, so the
 * operations are independent of their order. Common prefix and suffix are trimmed, the middle aligned by LCS.
 */
export function lineDiff(before: string, after: string): LineOp[] {
  const a = splitLines(before);
  const b = splitLines(after);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }

  // Alignment of the middle: pairs (i, j) of equal lines, in order.
  const n = endA - start;
  const m = endB - start;
  const matches: Array<[number, number]> = [];
  if (n > 0 && m > 0 && n * m <= MaxDiffCells) {
    const width = m + 1;
    const table = new Uint32Array((n + 1) * width);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i * width + j] = a[start + i] === b[start + j]
          ? table[(i + 1) * width + j + 1]! + 1
          : Math.max(table[(i + 1) * width + j]!, table[i * width + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[start + i] === b[start + j]) {
        matches.push([start + i, start + j]);
        i++;
        j++;
      } else if (table[(i + 1) * width + j]! >= table[i * width + j + 1]!) {
        i++;
      } else {
        j++;
      }
    }
  }

  const ops: LineOp[] = [];
  let i = start;
  let j = start;
  for (const [mi, mj] of [...matches, [endA, endB] as [number, number]]) {
    // Base lines i..mi-1 went away, new lines j..mj-1 came in: replace pairwise, then delete or insert the rest.
    const removed = mi - i;
    const added = mj - j;
    const paired = Math.min(removed, added);
    for (let k = 0; k < paired; k++) ops.push({ type: "replace", line: i + k + 1, content: b[j + k]!, oldContent: a[i + k]! });
    for (let k = paired; k < removed; k++) ops.push({ type: "delete", line: i + k + 1, oldContent: a[i + k]! });
    for (let k = paired; k < added; k++) ops.push({ type: "insert", line: mi + 1, content: b[j + k]! });
    i = mi + 1;
    j = mj + 1;
  }

  return ops;
}

/** Applies base-relative operations the way the operator does (for previews of a patch and for tests). */
export function applyLineOps(before: string, ops: readonly LineOp[]): string {
  const lines = splitLines(before);
  const inserts = new Map<number, string[]>();
  const targets = new Map<number, LineOp>();
  for (const op of ops) {
    if (op.type === "insert") {
      inserts.set(op.line, [...(inserts.get(op.line) ?? []), op.content ?? ""]);
    } else {
      if (targets.has(op.line)) throw new Error(`two operations target base line ${op.line}`);
      if (op.line < 1 || op.line > lines.length) throw new Error(`line ${op.line} is outside 1..${lines.length}`);
      targets.set(op.line, op);
    }
  }

  const out: string[] = [];
  for (let line = 1; line <= lines.length + 1; line++) {
    out.push(...(inserts.get(line) ?? []));
    if (line > lines.length) break;
    const op = targets.get(line);
    if (op === undefined) out.push(lines[line - 1]!);
    else if (op.type === "replace") out.push(op.content ?? "");
  }

  return out.join("\n");
}
