// The line diff and the content hash the hooks send: pure functions, checked against the operator's documented rules.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { applyLineOps, contentHash, lineDiff } from "../dist/index.js";

test("contentHash is sha256: + lowercase hex of the UTF-8 bytes", async () => {
  const text = "héllo\nwörld\n";
  assert.equal(await contentHash(text), "sha256:" + createHash("sha256").update(text, "utf8").digest("hex"));
});

test("lineDiff emits base-relative operations (trailing inserts all at n+1)", () => {
  const ops = lineDiff("a\nb\nc", "a\nB\nc\nd\ne");
  assert.deepEqual(ops, [
    { type: "replace", line: 2, content: "B", oldContent: "b" },
    { type: "insert", line: 4, content: "d" },
    { type: "insert", line: 4, content: "e" },
  ]);
  assert.deepEqual(lineDiff("x\ny", "x\ny"), []);
  assert.deepEqual(lineDiff("a\nb\nc", "a\nc"), [{ type: "delete", line: 2, oldContent: "b" }]);
});

test("lineDiff round-trips random edits, with at most one replace/delete per base line", () => {
  let seed = 42;
  const random = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  for (let round = 0; round < 300; round++) {
    const base = Array.from({ length: random(30) }, () => `line ${random(8)}`);
    const edited = [...base];
    for (let k = random(6); k > 0; k--) {
      const at = random(edited.length + 1);
      switch (random(3)) {
        case 0: edited.splice(at, 0, `new ${random(100)}`); break;
        case 1: if (edited.length > 0) edited.splice(Math.min(at, edited.length - 1), 1); break;
        default: if (edited.length > 0) edited[Math.min(at, edited.length - 1)] = `changed ${random(100)}`;
      }
    }
    const before = base.join("\n");
    const after = edited.join("\n");
    const ops = lineDiff(before, after);
    // Independent of order across base lines (inserts at one line keep their order), as the operator applies them.
    const reordered = [...ops.filter((o) => o.type !== "insert").reverse(), ...ops.filter((o) => o.type === "insert")];
    assert.equal(applyLineOps(before, reordered), after, JSON.stringify({ before, after, ops }));
    const targeted = ops.filter((o) => o.type !== "insert").map((o) => o.line);
    assert.equal(new Set(targeted).size, targeted.length);
  }
});
