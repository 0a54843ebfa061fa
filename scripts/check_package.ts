/**
 * Fails when the npm side (`package.json`, `tsup.config.ts`) and the JSR side (`deno.json`) of the
 * package drift apart: a different version, a different set of export subpaths, an entry point
 * built from another source file, or an export target that does not exist.
 *
 * Run after `tsup` so that `dist/` exists: `node scripts/check_package.ts`.
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from "node:fs";
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

if (problems.length > 0) {
  console.error("check_package: the npm and JSR sides of the package disagree:");
  for (const problem of problems) console.error(`  - ${problem}`);
  process.exit(1);
}
console.log(
  `check_package: version ${pkg.version} and exports ${jsrSubpaths.join(", ")} agree`,
);
