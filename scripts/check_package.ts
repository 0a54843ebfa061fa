/**
 * Fails when the npm side (`package.json`, `tsup.config.ts`) and the JSR side (`deno.json`) of the
 * package drift apart: a different version, a different set of export subpaths, an entry point
 * built from another source file, or an export target that does not exist. And when the npm
 * tarball ships a file that no export or bin reaches (or misses one they reach), or the built CLI
 * does not print the package's version.
 *
 * Run after `tsup` so that `dist/` exists: `node scripts/check_package.ts`.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { posix } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const problems: string[] = [];

function readJson(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(name, root), "utf8"));
}

function checkFile(owner: string, target: string): void {
  if (!existsSync(fileURLToPath(new URL(target, root)))) {
    problems.push(`${owner} points at ${target}, which does not exist`);
  }
}

/** Every file path inside a package.json `exports` value, with the conditions leading to it. */
function targets(value: unknown, where: string): [string, string][] {
  if (typeof value === "string") return [[where, value]];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    targets(inner, key.startsWith(".") ? `${where}["${key}"]` : `${where}.${key}`)
  );
}

const pkg = readJson("package.json");
const deno = readJson("deno.json");

if (pkg.version !== deno.version) {
  problems.push(
    `version differs: package.json has ${pkg.version}, deno.json has ${deno.version}`,
  );
}

const denoExports = (deno.exports ?? {}) as Record<string, string>;
// JSR exports that npm ships as a bin instead of an export: `deno run -A jsr:@liveness/socket/cli`
// and `npx socket-liveness` run the same source.
const BIN_EXPORTS: Record<string, string> = { "./cli": "socket-liveness" };
const bins = (pkg.bin ?? {}) as Record<string, string>;
const pkgExports = (pkg.exports ?? {}) as Record<string, unknown>;
const npmSubpaths = Object.keys(pkgExports).filter((key) => key !== "./package.json").sort();
const jsrSubpaths = Object.keys(denoExports).sort();
for (const subpath of jsrSubpaths) {
  if (!npmSubpaths.includes(subpath) && !(subpath in BIN_EXPORTS)) {
    problems.push(`export ${subpath} is in deno.json but not in package.json`);
  }
}
for (const subpath of npmSubpaths) {
  if (!jsrSubpaths.includes(subpath)) {
    problems.push(`export ${subpath} is in package.json but not in deno.json`);
  }
}

for (const [subpath, target] of Object.entries(denoExports)) {
  checkFile(`deno.json exports["${subpath}"]`, target);
}
for (const [where, target] of targets(pkgExports, "exports")) {
  checkFile(`package.json ${where}`, target);
}
for (const field of ["main", "module", "types"]) {
  if (typeof pkg[field] === "string") checkFile(`package.json ${field}`, pkg[field] as string);
}

// Each npm entry point must be built from the same source file that JSR publishes for the subpath.
const tsup = (await import("../tsup.config.ts")).default as { entry?: Record<string, string> };
const entries = tsup.entry ?? {};
for (const [subpath, source] of Object.entries(denoExports)) {
  const built = targets(pkgExports[subpath], "").map(([, target]) => target);
  const names = new Set(built.map((target) => target.match(/^\.\/dist\/([^/.]+)\./)?.[1]));
  for (const name of names) {
    if (name === undefined || !(name in entries)) {
      problems.push(`package.json exports["${subpath}"] is not a tsup entry point in dist/`);
    } else if (`./${entries[name].replace(/^\.\//, "")}` !== source) {
      problems.push(
        `package.json exports["${subpath}"] is built from ${
          entries[name]
        } but deno.json exports ${source}`,
      );
    }
  }
}

for (const [subpath, name] of Object.entries(BIN_EXPORTS)) {
  const target = bins[name];
  if (target === undefined) {
    if (subpath in denoExports) {
      problems.push(`deno.json exports ${subpath}: package.json needs bin "${name}"`);
    }
    continue;
  }
  if (!(subpath in denoExports)) {
    problems.push(`package.json bin "${name}" needs deno.json export ${subpath}`);
    continue;
  }
  const entry = target.match(/^\.\/dist\/([^/.]+)\.js$/)?.[1];
  if (entry === undefined || !(entry in entries)) {
    problems.push(`package.json bin "${name}" (${target}) is not an ESM tsup entry point in dist/`);
  } else if (`./${entries[entry].replace(/^\.\//, "")}` !== denoExports[subpath]) {
    problems.push(
      `package.json bin "${name}" is built from ${
        entries[entry]
      } but deno.json exports ${subpath} as ${denoExports[subpath]}`,
    );
  }
  const file = fileURLToPath(new URL(target, root));
  if (!existsSync(file)) {
    problems.push(`package.json bin "${name}" points at ${target}, which does not exist`);
  } else {
    if (!readFileSync(file, "utf8").startsWith("#!/usr/bin/env node\n")) {
      problems.push(`package.json bin "${name}" (${target}) must start with #!/usr/bin/env node`);
    }
    if ((statSync(file).mode & 0o111) === 0) {
      problems.push(`package.json bin "${name}" (${target}) is not executable`);
    }
  }
}

// ---- the tarball: what npm would pack, against what the exports and bin reach ---------------------

/** The files `npm pack` would put in the tarball (package-relative paths). */
function packedFiles(): string[] {
  const json = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: fileURLToPath(root),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return (JSON.parse(json) as { files: { path: string }[] }[])[0].files.map((file) => file.path);
}

/**
 * The relative specifiers a built file imports, requires or re-exports, each resolved to a packed
 * file: `./x.js` as is, and in typings also as TypeScript maps it (`./x.js` to `./x.d.ts`, `./x.cjs`
 * to `./x.d.cts`). Typings' JSDoc comments are dropped first: their examples import the sources.
 */
function imported(file: string, packed: ReadonlySet<string>): string[] {
  let text = readFileSync(new URL(file, root), "utf8");
  if (/\.d\.[cm]?ts$/.test(file)) text = text.replace(/\/\*\*[\s\S]*?\*\//g, "");
  const found: string[] = [];
  const pattern =
    /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;
  for (const [, specifier] of text.matchAll(pattern)) {
    const path = posix.normalize(posix.join(posix.dirname(file), specifier));
    const candidates = [
      path,
      path.replace(/\.js$/, ".d.ts"),
      path.replace(/\.cjs$/, ".d.cts"),
      path.replace(/\.mjs$/, ".d.mts"),
      `${path}.d.ts`,
    ];
    const target = candidates.find((candidate) => packed.has(candidate));
    if (target !== undefined) found.push(target);
  }
  return found;
}

const packed = packedFiles();
const packedSet = new Set(packed);
const entryFiles = [
  ...targets(pkgExports, "exports").map(([, target]) => target),
  ...Object.values(bins),
  ...["main", "module", "types"].map((field) => pkg[field]).filter((v) => typeof v === "string"),
].map((target) => posix.normalize(target as string));
const reached = new Set<string>();
const queue = [...entryFiles];
while (queue.length > 0) {
  const file = queue.pop()!;
  if (reached.has(file)) continue;
  reached.add(file);
  if (!packedSet.has(file)) {
    problems.push(`${file} is reached from the exports or bin but npm does not pack it`);
    continue;
  }
  if (/\.(?:[cm]?js|d\.[cm]?ts)$/.test(file)) queue.push(...imported(file, packedSet));
}
// npm packs these whatever `files` says.
const ALWAYS = /^(?:package\.json|README(?:\.md)?|LICEN[CS]E(?:\.md)?)$/i;
const unreached = packed.filter((file) => !reached.has(file) && !ALWAYS.test(file));
for (const file of unreached) {
  problems.push(`the tarball ships ${file}, which no export or bin reaches`);
}

// ---- the built CLI's version -----------------------------------------------------------------------

for (const [name, target] of Object.entries(bins)) {
  const file = fileURLToPath(new URL(target, root));
  if (!existsSync(file)) continue;
  try {
    const printed = execFileSync(process.execPath, [file, "--version"], {
      encoding: "utf8",
      timeout: 30_000,
    }).trim();
    if (printed !== pkg.version) {
      problems.push(`bin "${name}" --version prints "${printed}", package.json has ${pkg.version}`);
    }
  } catch (error) {
    problems.push(`bin "${name}" --version failed: ${(error as Error).message}`);
  }
}

if (problems.length > 0) {
  console.error("check_package: the package has problems:");
  for (const problem of problems) console.error(`  - ${problem}`);
  process.exit(1);
}
console.log(
  `check_package: version ${pkg.version} and exports ${jsrSubpaths.join(", ")} agree; ` +
    `the tarball's ${packed.length} files are all reached from the exports and bin (or always packed)`,
);
