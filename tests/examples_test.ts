// Examples run as written: every code block in README.md after `<!-- readme-test: RUNTIME -->`, and
// every JSDoc example of adapters/RUNTIME.ts, runs on that runtime (`any`: on every one) with the
// package's names mapped to this checkout, must exit 0, and must print what its
// `console.log(…); // output` lines say it prints. (The core's JSDoc examples run under
// `deno test --doc`; the adapters' need their own runtime.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runtime, scriptCommand } from "./_netns.ts";

const root = new URL("../", import.meta.url);
const readme = readFileSync(new URL("README.md", root), "utf8");
const NAMES: Record<string, string> = {
  "socket-liveness": "mod.ts",
  "jsr:@liveness/socket": "mod.ts",
  "@liveness/socket": "mod.ts",
};
for (const adapter of ["node", "deno", "bun"]) {
  for (const name of ["socket-liveness", "jsr:@liveness/socket", "@liveness/socket"]) {
    NAMES[`${name}/${adapter}`] = `adapters/${adapter}.ts`;
  }
}

interface Block {
  source: string;
  runtime: string;
  code: string;
  line: number;
}

function blocks(): Block[] {
  const found: Block[] = [];
  const pattern = /<!-- readme-test: (\w+) -->\n+```ts\n([\s\S]*?)```/g;
  for (const match of readme.matchAll(pattern)) {
    found.push({
      source: "README.md",
      runtime: match[1],
      code: match[2],
      line: readme.slice(0, match.index).split("\n").length,
    });
  }
  return found;
}

/** The JSDoc examples of an adapter (those not marked `ts ignore`), imports made absolute. */
function adapterExamples(adapter: string): Block[] {
  const file = new URL(`adapters/${adapter}.ts`, root);
  const text = readFileSync(file, "utf8");
  const found: Block[] = [];
  for (const match of text.matchAll(/^ \* ```ts\n([\s\S]*?)^ \* ```$/gm)) {
    const code = match[1].split("\n").map((line) => line.replace(/^ \* ?/, "")).join("\n")
      .replace(
        /from "(\.\.?\/[^"]+)"/g,
        (_whole, path: string) => `from "${new URL(path, file).href}"`,
      );
    found.push({
      source: `adapters/${adapter}.ts`,
      runtime: adapter,
      code,
      line: text.slice(0, match.index).split("\n").length,
    });
  }
  return found;
}

test("README has runnable examples for every runtime", () => {
  const runtimes = new Set(blocks().map((block) => block.runtime));
  assert.deepEqual([...runtimes].sort(), ["any", "bun", "deno", "node"]);
});

test("every adapter has runnable examples", () => {
  for (const adapter of ["node", "deno", "bun"]) {
    assert.ok(adapterExamples(adapter).length >= 2, `adapters/${adapter}.ts`);
  }
});

for (const block of [...blocks(), ...["node", "deno", "bun"].flatMap(adapterExamples)]) {
  const runs = block.runtime === "any" || block.runtime === runtime;
  test(`${block.source} example at line ${block.line} (${block.runtime}) runs as written`, {
    timeout: 60_000,
  }, (t) => {
    if (!runs) return t.skip(`a ${block.runtime} example`);
    const code = block.code.replace(/from "([^"]+)"/g, (whole, name: string) => {
      const target = NAMES[name];
      return target === undefined ? whole : `from "${new URL(target, root).href}"`;
    });
    const dir = new URL(".tmp/readme/", root);
    mkdirSync(dir, { recursive: true });
    const file = new URL(`${block.source.replace(/\W/g, "_")}-${block.line}-${runtime}.ts`, dir);
    writeFileSync(file, code);
    const { cmd, args } = scriptCommand(fileURLToPath(file));
    const child = spawnSync(cmd, args, { encoding: "utf8", timeout: 30_000 });
    assert.equal(child.status, 0, `exit ${child.status}\n${child.stdout}\n${child.stderr}`);
    for (const line of block.code.split("\n")) {
      // `// 30300: why` expects "30300"; `// applied applied 50000` expects all of it.
      const expected = /console\.log\(.*\);\s*\/\/ (.+?)(?::\s.*)?$/.exec(line)?.[1];
      if (expected === undefined) continue;
      assert.ok(
        child.stdout.includes(expected.trim()),
        `expected "${expected.trim()}" in the output:\n${child.stdout}`,
      );
    }
  });
}
