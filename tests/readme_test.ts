// README.md's examples run as written: every code block after `<!-- readme-test: RUNTIME -->` runs
// on that runtime (`any`: on every one) with the package's names mapped to this checkout, must
// exit 0, and must print what its `console.log(…); // output` lines say it prints.
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
  runtime: string;
  code: string;
  line: number;
}

function blocks(): Block[] {
  const found: Block[] = [];
  const pattern = /<!-- readme-test: (\w+) -->\n```ts\n([\s\S]*?)```/g;
  for (const match of readme.matchAll(pattern)) {
    found.push({
      runtime: match[1],
      code: match[2],
      line: readme.slice(0, match.index).split("\n").length,
    });
  }
  return found;
}

test("README has runnable examples for every runtime", () => {
  const runtimes = new Set(blocks().map((block) => block.runtime));
  assert.deepEqual([...runtimes].sort(), ["any", "bun", "deno", "node"]);
});

for (const block of blocks()) {
  const runs = block.runtime === "any" || block.runtime === runtime;
  test(`README example at line ${block.line} (${block.runtime}) runs as written`, {
    timeout: 60_000,
  }, (t) => {
    if (!runs) return t.skip(`a ${block.runtime} example`);
    const code = block.code.replace(/from "([^"]+)"/g, (whole, name: string) => {
      const target = NAMES[name];
      return target === undefined ? whole : `from "${new URL(target, root).href}"`;
    });
    const dir = new URL(".tmp/readme/", root);
    mkdirSync(dir, { recursive: true });
    const file = new URL(`line-${block.line}-${runtime}.ts`, dir);
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
