// The runtimes the benchmarks run on, and how to start a script on each (run.mjs keeps its own
// copy of this list: it is plain JavaScript).

import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root: string = fileURLToPath(new URL("../..", import.meta.url));

export type Target = "node24" | "node26" | "deno" | "bun";
export const TARGETS: readonly Target[] = ["node24", "node26", "deno", "bun"];

/** The command that runs `script` (a path from the repository root) on `target`. */
export function command(target: Target, script: string, args: string[] = []): [string, string[]] {
  const path = join(root, script);
  switch (target) {
    case "node24":
      return [join(root, "node_modules", "node24", "bin", "node"), [path, ...args]];
    case "node26":
      return [join(root, "node_modules", "node26", "bin", "node"), [path, ...args]];
    case "deno":
      return [join(root, "node_modules", ".bin", "deno"), ["run", "-A", path, ...args]];
    case "bun":
      return [join(root, "node_modules", ".bin", "bun"), [path, ...args]];
  }
}

/** The fixture and server files are named by runtime family. */
export function family(target: Target): "node" | "deno" | "bun" {
  return target === "node24" || target === "node26" ? "node" : target;
}

export function parseTarget(text: string): Target {
  if (!(TARGETS as readonly string[]).includes(text)) {
    throw new TypeError(`--target takes ${TARGETS.join(", ")}, got ${text}`);
  }
  return text as Target;
}

/** The runtime's version, as it prints it (`24.21.0`, `2.9.6`, `1.4.5`). */
export function versionOf(target: Target): string {
  const [cmd] = command(target, "");
  const text = execFileSync(cmd, ["--version"], { encoding: "utf8" });
  return /(\d+\.\d+\.\d+)/.exec(text)?.[1] ?? text.trim();
}
