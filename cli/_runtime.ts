/**
 * Which runtime runs the CLI, where the others are (`node_modules/.bin` above the CLI or the
 * working directory, then `PATH`), and how to run the CLI again under one of them.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { UsageError } from "./_args.ts";

/** A runtime the CLI runs on. */
export type RuntimeName = "node" | "deno" | "bun";

/** The runtimes, in the order help and errors list them. */
export const RUNTIMES: readonly RuntimeName[] = ["node", "deno", "bun"];

interface DenoLike {
  execPath(): string;
  readonly version: { readonly deno: string };
}

const deno = (globalThis as unknown as { Deno?: DenoLike }).Deno;

/** The runtime running this code. */
export const runtime: RuntimeName = deno !== undefined
  ? "deno"
  : process.versions.bun !== undefined
  ? "bun"
  : "node";

/** This runtime's version, e.g. `24.21.0`. */
export const runtimeVersion: string = deno !== undefined
  ? deno.version.deno
  : process.versions.bun ?? process.versions.node;

/** The executable running this code. */
export function execPath(): string {
  return deno !== undefined ? deno.execPath() : process.execPath;
}

const interruptHandlers = new Set<() => void>();

/**
 * Calls `handler` on SIGINT and SIGTERM while subscribed (once the entry point has called
 * {@linkcode handleSignals}). Listeners are never removed from the process itself: Deno ends a
 * process by the signal it already handled when its last listener goes away.
 *
 * @param handler Called for each signal.
 * @returns Unsubscribes.
 */
export function onInterrupt(handler: () => void): () => void {
  interruptHandlers.add(handler);
  return () => void interruptHandlers.delete(handler);
}

/**
 * For the entry point: routes SIGINT and SIGTERM to {@linkcode onInterrupt}'s handlers (with none,
 * exits 130), and drops output once stdout's reader is gone instead of crashing.
 */
export function handleSignals(): void {
  process.stdout.on("error", (error: { code?: unknown }) => {
    if (error.code !== "EPIPE") throw error;
    stdoutGone = true;
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (interruptHandlers.size === 0) process.exit(130);
      for (const handler of [...interruptHandlers]) handler();
    });
  }
}

/** Where the CLI prints. */
export interface Output {
  /** Writes text and a newline to stdout. */
  line(text: string): void;
  /** Writes text as it is to stdout (terminal redraws). */
  raw(text: string): void;
  /** Writes text and a newline to stderr. */
  error(text: string): void;
  /** Whether stdout is a terminal. */
  readonly isTTY: boolean;
}

let stdoutGone = false;

/** Writes to stdout until its reader is gone (`| head`), then drops output: the work goes on. */
function write(text: string): void {
  if (stdoutGone) return;
  try {
    process.stdout.write(text);
  } catch (error) {
    if ((error as { code?: unknown }).code !== "EPIPE") throw error;
    stdoutGone = true;
  }
}

/** Whether stdout's reader went away. */
export function stdoutClosed(): boolean {
  return stdoutGone;
}

/** Output on the process's own stdout and stderr. */
export const stdio: Output = {
  line: (text) => write(`${text}\n`),
  raw: (text) => write(text),
  error: (text) => void process.stderr.write(`${text}\n`),
  get isTTY(): boolean {
    return process.stdout.isTTY === true;
  },
};

/**
 * Checks a `--runtime` value.
 *
 * @param value The value.
 * @param command The command, for the error.
 * @returns The runtime.
 * @throws {UsageError} When it is not node, deno or bun.
 */
export function checkRuntimeName(value: string, command: string): RuntimeName {
  if ((RUNTIMES as readonly string[]).includes(value)) return value as RuntimeName;
  throw new UsageError(`--runtime must be node, deno or bun, got "${value}"`, command);
}

/** A command line. */
export interface CommandLine {
  readonly cmd: string;
  readonly args: string[];
}

/**
 * The command that runs the CLI's entry under a runtime.
 *
 * @param name The runtime.
 * @param executable Its executable.
 * @param script The entry's URL (`import.meta.url` of `cli/main.ts` or `dist/cli.js`).
 * @param args The CLI's arguments.
 * @returns The command line.
 * @throws {UsageError} When Node or Bun would have to run a remote (JSR) URL.
 */
export function selfCommand(
  name: RuntimeName,
  executable: string,
  script: string,
  args: readonly string[],
): CommandLine {
  const local = script.startsWith("file:") ? fileURLToPath(script) : undefined;
  if (name === "deno") return { cmd: executable, args: ["run", "-A", local ?? script, ...args] };
  if (local === undefined) {
    throw new UsageError(`${name} cannot run the CLI from ${script}: it is not a local file`);
  }
  const flags = name === "node" && runtime === "node" ? process.execArgv : [];
  return { cmd: executable, args: [...flags, local, ...args] };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function upward(start: string): string[] {
  const dirs: string[] = [];
  for (let dir = start; !dirs.includes(dir); dir = dirname(dir)) dirs.push(dir);
  return dirs;
}

/**
 * Finds a runtime's executable: this process's own, else `node_modules/.bin/<name>` in the CLI's
 * directory or the working directory or any above them, else `PATH`.
 *
 * @param name The runtime.
 * @param script The CLI entry's URL.
 * @returns The executable, or what was searched.
 */
export function findRuntime(
  name: RuntimeName,
  script: string,
): { ok: true; path: string } | { ok: false; searched: string } {
  if (name === runtime) return { ok: true, path: execPath() };
  const starts = [process.cwd()];
  if (script.startsWith("file:")) starts.unshift(dirname(fileURLToPath(script)));
  const bins = [...new Set(starts.flatMap(upward))].map((dir) => join(dir, "node_modules", ".bin"));
  const path = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  const found = [...bins, ...path].map((dir) => join(dir, name)).find(isFile);
  if (found !== undefined) return { ok: true, path: found };
  return {
    ok: false,
    searched: `node_modules/.bin above ${starts.join(" and ")}, and PATH`,
  };
}

/**
 * Runs the CLI again under another runtime, passing signals on, and returns its exit code.
 *
 * @param name The runtime.
 * @param script The CLI entry's URL.
 * @param args The arguments, without `--runtime`.
 * @param command The command, for errors.
 * @returns The child's exit code (128 + signal number when a signal ended it).
 * @throws {UsageError} When the runtime is not found or cannot run the entry.
 */
export function rerun(
  name: RuntimeName,
  script: string,
  args: readonly string[],
  command: string,
): Promise<number> {
  const found = findRuntime(name, script);
  if (!found.ok) {
    throw new UsageError(
      `--runtime ${name}: no ${name} executable found (searched ${found.searched}); install it (npm install ${name}) or put it on PATH`,
      command,
    );
  }
  if (name === "node" && script.endsWith(".ts")) {
    const version = spawnSync(found.path, ["--version"], { encoding: "utf8", timeout: 10_000 })
      .stdout?.trim() ?? "";
    const [major, minor] = version.replace(/^v/, "").split(".").map(Number);
    if (!(major > 22 || (major === 22 && minor >= 18))) {
      throw new UsageError(
        `--runtime node: ${found.path} is Node ${
          version || "of unknown version"
        }, which cannot run TypeScript (${
          fileURLToPath(script)
        }); use Node 22.18+ or the built CLI (npx socket-liveness)`,
        command,
      );
    }
  }
  const line = selfCommand(name, found.path, script, args);
  return new Promise((resolve) => {
    const child = spawn(line.cmd, line.args, { stdio: "inherit" });
    // The child ends on the signal as it chooses; its exit code is ours. (process.kill, not
    // child.kill: Deno's child_process reports any child it signalled as ended by the signal.)
    const unsubscribe = onInterrupt(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGINT");
    });
    const done = (code: number): void => {
      unsubscribe();
      resolve(code);
    };
    child.on("error", (error) => {
      process.stderr.write(`socket-liveness: cannot run ${found.path}: ${error.message}\n`);
      done(2);
    });
    child.on("exit", (code, signal) => {
      const number: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
      done(code ?? 128 + (signal === null ? 0 : number[signal] ?? 0));
    });
  });
}
