/**
 * Type-checks every example the package shows, strictly, against the types of the runtime it is
 * for: the README's code blocks marked `<!-- readme-test: RUNTIME -->` and the JSDoc examples (all
 * but those marked `ts ignore`) of the core (`mod.ts`, `src/`) and of the adapters.
 *
 * - Node: `tsc` with `@types/node` only: README `node` and `any` blocks, `adapters/node.ts`, the
 *   core.
 * - Bun: `tsc` with `bun-types` only, a project of its own (Bun's and Node's globals clash when
 *   both are loaded): README `bun` and `any` blocks, `adapters/bun.ts`, the core.
 * - Deno: `deno check`: README `deno` and `any` blocks, `adapters/deno.ts`, the core.
 *
 * The `tsc` projects extend the package's `tsconfig.json`, the Deno one uses `deno.json`'s
 * compiler options. Each example is written to `.tmp/examples/RUNTIME/` line for line, with the
 * package's names (npm and JSR) and its relative imports pointing at this checkout's sources, and
 * errors are reported at the README's or source file's own line. (tests/examples_test.ts runs the
 * same examples; this checks that what a user copies compiles.)
 *
 * Run: `node scripts/check_examples.ts` (Node 22.18+; `npm test` runs it as `examples-types`).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

type Runtime = "node" | "bun" | "deno";
const RUNTIMES: readonly Runtime[] = ["node", "bun", "deno"];

const root = fileURLToPath(new URL("../", import.meta.url));
const outDir = join(root, ".tmp", "examples");

/** The package's own names, on npm and on JSR, mapped to the files they stand for. */
const NAMES: Record<string, string> = {};
for (const name of ["socket-liveness", "@liveness/socket", "jsr:@liveness/socket"]) {
  NAMES[name] = "mod.ts";
  for (const adapter of ["node", "deno", "bun"]) {
    NAMES[`${name}/${adapter}`] = `adapters/${adapter}.ts`;
  }
}

interface Example {
  /** The file it is in, relative to the root, e.g. `README.md`. */
  readonly source: string;
  /** The line of `source` its code starts on. */
  readonly line: number;
  /** The runtimes whose types it must compile with. */
  readonly runtimes: readonly Runtime[];
  readonly code: string;
}

function lineAt(text: string, index: number): number {
  return text.slice(0, index).split("\n").length;
}

/** The README's blocks after `<!-- readme-test: RUNTIME -->` (`any`: every runtime). */
function readmeExamples(): Example[] {
  const text = readFileSync(join(root, "README.md"), "utf8");
  const found: Example[] = [];
  for (const match of text.matchAll(/<!-- readme-test: (\w+) -->\n+```ts\n([\s\S]*?)```/g)) {
    const tag = match[1];
    const runtimes = tag === "any" ? RUNTIMES : RUNTIMES.filter((runtime) => runtime === tag);
    if (runtimes.length === 0) throw new Error(`README.md: unknown readme-test runtime "${tag}"`);
    const codeStart = match.index + match[0].length - 3 - match[2].length;
    found.push({ source: "README.md", line: lineAt(text, codeStart), runtimes, code: match[2] });
  }
  return found;
}

/** A source file's JSDoc examples (```` ```ts ````, not ```` ```ts ignore ````). */
function jsdocExamples(source: string, runtimes: readonly Runtime[]): Example[] {
  const text = readFileSync(join(root, source), "utf8");
  const found: Example[] = [];
  for (const match of text.matchAll(/^[ \t]*\* ```ts\n([\s\S]*?)^[ \t]*\* ```$/gm)) {
    const code = match[1].split("\n").map((line) => line.replace(/^[ \t]*\* ?/, "")).join("\n");
    const codeStart = match.index + match[0].indexOf("\n") + 1;
    found.push({ source, line: lineAt(text, codeStart), runtimes, code });
  }
  return found;
}

function examples(): Example[] {
  const core = ["mod.ts", ...readdirSync(join(root, "src")).sort().map((file) => `src/${file}`)]
    .filter((file) => file.endsWith(".ts"));
  return [
    ...readmeExamples(),
    ...core.flatMap((file) => jsdocExamples(file, RUNTIMES)),
    ...RUNTIMES.flatMap((runtime) => jsdocExamples(`adapters/${runtime}.ts`, [runtime])),
  ];
}

/**
 * The example as a module in `dir`: the same lines, each import of the package or relative to its
 * source file pointing at the checkout, and `export {}` after the last line so that it is a module.
 */
function rewrite(example: Example, dir: string): string {
  const sourceDir = dirname(join(root, example.source));
  const code = example.code.replace(
    /\b(from\s+|import\s*\(\s*|import\s+)"([^"]+)"/g,
    (whole, keyword: string, name: string) => {
      const target = NAMES[name] !== undefined
        ? join(root, NAMES[name])
        : name.startsWith("./") || name.startsWith("../")
        ? join(sourceDir, name)
        : undefined;
      if (target === undefined) return whole;
      const path = relative(dir, target).split(sep).join("/");
      return `${keyword}"${path.startsWith(".") ? path : `./${path}`}"`;
    },
  );
  return `${code.replace(/\n$/, "")}\nexport {};\n`;
}

interface Written {
  readonly file: string;
  readonly example: Example;
}

function write(runtime: Runtime, all: readonly Example[]): Written[] {
  const dir = join(outDir, runtime);
  mkdirSync(dir, { recursive: true });
  return all.filter((example) => example.runtimes.includes(runtime)).map((example) => {
    const file = join(dir, `${example.source.replace(/\W/g, "_")}_${example.line}.ts`);
    writeFileSync(file, rewrite(example, dir));
    return { file, example };
  });
}

/** The checker's output with each example file's position turned into its source's position. */
function mapPositions(output: string, written: readonly Written[]): string {
  const byName = new Map(written.map((w) => [w.file.slice(outDir.length + 1), w.example]));
  return output.replace(
    /(?:file:\/\/)?[^\s()'"]*?\.tmp\/examples\/(\w+\/\w+\.ts)(?::(\d+):(\d+)|\((\d+),(\d+)\))?/g,
    (whole, name: string, ...numbers: (string | undefined)[]) => {
      const example = byName.get(name);
      if (example === undefined) return whole;
      const [line, column] = numbers[0] !== undefined
        ? [numbers[0], numbers[1]]
        : [numbers[2], numbers[3]];
      const where = line === undefined
        ? `${example.source}:${example.line}`
        : `${example.source}:${example.line + Number(line) - 1}:${column}`;
      return `${where} (${name.split("/")[0]} example)`;
    },
  );
}

interface Result {
  readonly ok: boolean;
  readonly output: string;
}

function run(cmd: string, args: string[]): Result {
  const child = spawnSync(cmd, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    timeout: 5 * 60_000,
  });
  const failure = child.error === undefined ? "" : `${child.error}\n`;
  return { ok: child.status === 0, output: `${child.stdout ?? ""}${child.stderr ?? ""}${failure}` };
}

const tsc = join(root, "node_modules", "typescript", "lib", "tsc.js");
const deno = join(root, "node_modules", ".bin", "deno");

/** A `tsc` project of its own for one runtime's types, extending the package's settings. */
function checkTsc(runtime: Runtime, types: string, written: readonly Written[]): Result {
  const dir = join(outDir, runtime);
  const config = {
    extends: relative(dir, join(root, "tsconfig.json")).split(sep).join("/"),
    compilerOptions: { types: [types], declaration: false, isolatedDeclarations: false },
    include: [],
    files: written.map((w) => relative(dir, w.file).split(sep).join("/")),
  };
  writeFileSync(join(dir, "tsconfig.json"), `${JSON.stringify(config, null, 2)}\n`);
  return run(process.execPath, [tsc, "--noEmit", "--pretty", "false", "-p", dir]);
}

/** `deno check` with the package's compiler options (deno.json excludes .tmp/, so not with it). */
function checkDeno(written: readonly Written[]): Result {
  const dir = join(outDir, "deno");
  const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
  const config = { compilerOptions: denoJson.compilerOptions ?? {} };
  writeFileSync(join(dir, "deno.json"), `${JSON.stringify(config, null, 2)}\n`);
  return run(deno, [
    "check",
    "--quiet",
    "--no-lock",
    "--config",
    join(dir, "deno.json"),
    ...written.map((w) => w.file),
  ]);
}

/** How each runtime's examples are checked. */
const CHECKERS: Record<Runtime, { how: string; check(written: readonly Written[]): Result }> = {
  node: { how: "tsc, types node", check: (written) => checkTsc("node", "node", written) },
  bun: { how: "tsc, types bun-types", check: (written) => checkTsc("bun", "bun-types", written) },
  deno: { how: "deno check", check: checkDeno },
};

const all = examples();
rmSync(outDir, { recursive: true, force: true });
let failed = false;
for (const runtime of RUNTIMES) {
  const written = write(runtime, all);
  const { how, check } = CHECKERS[runtime];
  if (written.length === 0) {
    console.error(`check_examples: no ${runtime} examples found; is the README's marker intact?`);
    failed = true;
    continue;
  }
  const result = check(written);
  const sources = [...new Set(written.map((w) => w.example.source))].join(", ");
  if (result.ok) {
    console.log(
      `check_examples: ${written.length} ${runtime} examples compile (${how}): ${sources}`,
    );
  } else {
    failed = true;
    console.error(`check_examples: ${runtime} examples do not compile (${how}):`);
    console.error(mapPositions(result.output.trimEnd(), written));
  }
}
process.exitCode = failed ? 1 : 0;
