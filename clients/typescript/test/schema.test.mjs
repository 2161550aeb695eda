// src/schema.ts is generated from openapi/midori-api.json and must not drift from it (regenerate: npm run generate).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

test("src/schema.ts is what openapi-typescript generates from the checked-in OpenAPI document", () => {
  const out = join(mkdtempSync(join(tmpdir(), "midori-schema-")), "schema.ts");
  execFileSync(process.execPath, ["node_modules/openapi-typescript/bin/cli.js", "../../openapi/midori-api.json", "-o", out], { stdio: "pipe" });
  assert.ok(readFileSync(out, "utf8") === readFileSync("src/schema.ts", "utf8"),
    "src/schema.ts is stale: run `npm run generate` in clients/typescript");
});
