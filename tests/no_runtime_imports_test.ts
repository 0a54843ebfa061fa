// The core (mod.ts and src/) must run unchanged on Node, Deno and Bun, so it may import only its own
// relative .ts files and must not touch a runtime's globals or type packages. Adapters may.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));

function coreFiles(): string[] {
  const files = [join(root, "mod.ts")].filter((file) => existsSync(file));
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) files.push(path);
    }
  };
  if (existsSync(join(root, "src"))) walk(join(root, "src"));
  return files;
}

/**
 * Blanks out comments (`code`) and also string and template literals (`bare`) with spaces, keeping
 * newlines and offsets, so that a JSDoc example or a message text is not mistaken for code.
 */
function mask(source: string): { code: string; bare: string } {
  const code = source.split("");
  const bare = source.split("");
  const blank = (out: string[], from: number, to: number): void => {
    for (let i = from; i < to; i++) if (out[i] !== "\n") out[i] = " ";
  };
  let i = 0;
  let last = ""; // last significant character outside comments, to tell a regex from a division
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      const stop = end === -1 ? source.length : end;
      blank(code, i, stop);
      blank(bare, i, stop);
      i = stop;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end === -1 ? source.length : end + 2;
      blank(code, i, stop);
      blank(bare, i, stop);
      i = stop;
    } else if (
      c === '"' || c === "'" || c === "`" || (c === "/" && /^$|[(,=:[!&|?{};+\-*%<>~^]$/.test(last))
    ) {
      let j = i + 1;
      let inClass = false;
      while (j < source.length && (source[j] !== c || inClass)) {
        if (source[j] === "\\") j++;
        else if (c === "/" && source[j] === "[") inClass = true;
        else if (c === "/" && source[j] === "]") inClass = false;
        else if (c !== "`" && source[j] === "\n") break;
        j++;
      }
      blank(bare, i + 1, j);
      last = c;
      i = j + 1;
    } else {
      if (!/\s/.test(c)) last = c;
      i++;
    }
  }
  return { code: code.join(""), bare: bare.join("") };
}

/** Every forbidden thing in one source text, as `line: what`. */
function findRuntimeReferences(source: string): string[] {
  const { code, bare } = mask(source);
  const found: { at: number; what: string }[] = [];
  const specifier =
    /\b(?:import|export)\s+(?:type\s+)?(?:[\w$*{}\s,]+?\s+from\s+)?(["'])([^"'\n]*)\1|\b(?:import|require)\s*\(\s*(["'`])([^"'`\n]*)\3/g;
  for (const match of code.matchAll(specifier)) {
    const name = match[2] ?? match[4];
    if (!/^\.\.?\//.test(name)) {
      found.push({ at: match.index, what: `imports "${name}": only relative ./ or ../ imports` });
    } else if (!name.endsWith(".ts")) {
      found.push({ at: match.index, what: `imports "${name}" without the .ts extension` });
    }
  }
  for (const match of bare.matchAll(/\b(Deno|Bun)\b/g)) {
    found.push({ at: match.index, what: `references the ${match[1]} global` });
  }
  for (const match of source.matchAll(/\/\/\/\s*<reference\s+types\s*=/g)) {
    found.push({ at: match.index, what: "has a /// <reference types=...> directive" });
  }
  const lineOf = (at: number): number => source.slice(0, at).split("\n").length;
  return found.sort((a, b) => a.at - b.at).map(({ at, what }) => `${lineOf(at)}: ${what}`);
}

test("mod.ts and src/ import nothing runtime-specific", () => {
  const files = coreFiles();
  assert.ok(files.length > 0, "found neither mod.ts nor src/**/*.ts");
  const problems = files.flatMap((file) =>
    findRuntimeReferences(readFileSync(file, "utf8")).map((problem) =>
      `${relative(root, file).replaceAll("\\", "/")}:${problem}`
    )
  );
  assert.deepEqual(problems, [], `the core must stay runtime-neutral:\n${problems.join("\n")}`);
});

test("the scan catches what it should and ignores comments and strings", () => {
  const source = [
    'import { a } from "./a.ts";',
    'import type { Socket } from "node:net";',
    'export * from "npm:x";',
    'import "bun";',
    "const b = await import('jsr:@std/async');",
    "const c = require(`koffi`);",
    'import { d } from "./d.js";',
    "const e = Deno.env.get('X');",
    "const f = typeof Bun;",
    '/// <reference types="bun-types" />',
    '// import { g } from "node:fs"; Deno.exit() in a comment',
    'const h = "Deno.listen is only a string";',
    "const i = /[\"']/.test(j) ? Bun : null;",
    "export { k } from './k.ts';",
  ].join("\n");
  assert.deepEqual(findRuntimeReferences(source), [
    '2: imports "node:net": only relative ./ or ../ imports',
    '3: imports "npm:x": only relative ./ or ../ imports',
    '4: imports "bun": only relative ./ or ../ imports',
    '5: imports "jsr:@std/async": only relative ./ or ../ imports',
    '6: imports "koffi": only relative ./ or ../ imports',
    '7: imports "./d.js" without the .ts extension',
    "8: references the Deno global",
    "9: references the Bun global",
    "10: has a /// <reference types=...> directive",
    "13: references the Bun global",
  ]);
});
