// Examples run as written: every code block in README.md after `<!-- readme-test: RUNTIME -->`, and
// every JSDoc example of adapters/RUNTIME.ts, runs on that runtime (`any`: on every one) with the
// package's names mapped to this checkout, must exit 0, and must print what it says it prints. An
// example for another runtime is skipped where the test is defined, so every runner counts it as
// skipped (Deno: ignored). (The core's JSDoc examples run under `deno test --doc`; the adapters'
// need their own runtime.)
//
// What an example says it prints, precisely:
//
// - An expectation is a line with a `console.log(` call that ends in a `// comment` (after the
//   call's `;`, `,` or `)`), or a line with a `console.log(` call and no comment whose next line is
//   only a `// comment` (output too long to share the line). Its expected text is the comment,
//   trimmed. `console.log` lines without either, and comments on other lines, expect nothing.
// - The program's stdout is split into lines. The expectations are matched in source order, each to
//   the first line after the one the previous expectation matched that either equals the expected
//   text, or is what the expected text starts with, followed by `: ` and an explanation
//   (`// 30300: the heartbeat's bound` is met by the line `30300`). Lines nobody expects (what
//   `onTransition` prints, say) are passed over.
//
// So `console.log(monitor.size); // 1` needs a line that is `1`, printed after whatever the
// expectations above it matched: a `1` inside `1100 ms` on an earlier line does not count.
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

/** What a block says it prints: the expected text of each expectation, in source order. */
function expectations(code: string): { line: number; text: string }[] {
  const lines = code.split("\n");
  const found: { line: number; text: string }[] = [];
  lines.forEach((line, i) => {
    if (!line.includes("console.log(")) return;
    const trailing = /\)[;,)]*\s*\/\/ (.+)$/.exec(line)?.[1];
    const below = /^\s*\/\/ (.+)$/.exec(lines[i + 1] ?? "")?.[1];
    const text = trailing ?? (/\/\/ /.test(line) ? undefined : below);
    if (text !== undefined) found.push({ line: i + 1, text: text.trim() });
  });
  return found;
}

/** Whether an output line meets an expected text (see the rule at the top of this file). */
function meets(output: string, expected: string): boolean {
  return output === expected || (output !== "" && expected.startsWith(`${output}: `));
}

/**
 * Matches a program's stdout against a block's expectations, in order.
 *
 * @returns A description of the first expectation no line met, or undefined when all were met.
 */
function unmet(code: string, stdout: string): string | undefined {
  const output = stdout.split("\n").map((line) => line.replace(/\r$/, ""));
  let next = 0;
  for (const { line, text } of expectations(code)) {
    const index = output.findIndex((out, i) => i >= next && meets(out, text));
    if (index === -1) {
      const rest = output.slice(next).map((out) => `  | ${out}`).join("\n");
      const where = next === 0 ? "" : ` after stdout line ${next}, which met the one before`;
      return `line ${line} of the example expects a line "${text}"${where}; ` +
        `the rest of stdout is:\n${rest}`;
    }
    next = index + 1;
  }
  return undefined;
}

test("expectations: the rule at the top of this file", () => {
  const code = [
    "console.log(a); // 1",
    "f(() => console.log(b), // 50000",
    "console.log(c);",
    "// a long line: with a colon",
    "console.log(d); // 30300: why",
    "// not an expectation",
    'console.log("http://x/");',
    "console.log(e);",
    "next();",
  ].join("\n");
  assert.deepEqual(expectations(code), [
    { line: 1, text: "1" },
    { line: 2, text: "50000" },
    { line: 3, text: "a long line: with a colon" },
    { line: 5, text: "30300: why" },
  ]);
  assert.equal(unmet(code, "1\n50000\na long line: with a colon\n30300\n"), undefined);
  assert.equal(unmet(code, "1\n50000\na long line\n30300: why\n"), undefined);
  // A "1" inside a longer line, or before the previous match, is no "1".
  assert.match(unmet("console.log(x); // 1", "at 1100 ms\n10\n")!, /expects a line "1"/);
  assert.match(unmet(code, "50000\n1\na long line: with a colon\n30300\n")!, /line 2 /);
  assert.match(unmet(code, "1\n50000\na long line: with a colon\n30300 ms\n")!, /line 5 /);
});

for (const block of [...blocks(), ...["node", "deno", "bun"].flatMap(adapterExamples)]) {
  const runs = block.runtime === "any" || block.runtime === runtime;
  test(`${block.source} example at line ${block.line} (${block.runtime}) runs as written`, {
    skip: runs ? false : `a ${block.runtime} example`,
    timeout: 60_000,
  }, () => {
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
    const problem = unmet(block.code, child.stdout);
    assert.equal(problem, undefined, problem);
  });
}
