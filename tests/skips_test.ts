// How tests skip (tests/_skip.ts): where they are defined, never inside the body, since Deno counts
// an in-body `t.skip()` as passed; and in CI a test that needs what the machine lacks fails
// instead of skipping.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { inCI, mustRun, truthy } from "./_skip.ts";

const tests = new URL("./", import.meta.url);

test("no test skips from inside its body", () => {
  const found: string[] = [];
  for (const name of readdirSync(tests).filter((file) => file.endsWith(".ts")).sort()) {
    readFileSync(new URL(name, tests), "utf8").split("\n").forEach((line, i) => {
      // `t.skip(…)` or `context.skip(…)`; not `test.skip(`, which is a definition.
      if (/\b(?!test\b)\w+\.skip\(/.test(line) && !/^\s*(\/\/|\*)/.test(line)) {
        found.push(`tests/${name}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(found, [], "declare the skip where the test is defined: { skip: reason }");
});

test("CI is any truthy CI variable", () => {
  for (const value of ["true", "1", "yes", "TRUE", " on ", "github-actions"]) {
    assert.equal(truthy(value), true, value);
  }
  for (const value of [undefined, "", "0", "false", "no", "off", "False", " 0 "]) {
    assert.equal(truthy(value), false, String(value));
  }
});

test("a test CI must run skips outside CI only", () => {
  assert.equal(mustRun(false), false);
  assert.equal(mustRun("koffi not installed"), inCI ? false : "koffi not installed");
});
