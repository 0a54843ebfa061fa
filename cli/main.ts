#!/usr/bin/env node
/**
 * The `socket-liveness` command line: `plan` computes the worst-case time to notice a vanished
 * peer and what each runtime can set; `probe HOST:PORT` watches one real connection through this
 * runtime's adapter; `demo` shows healthy, hung, reset and cut clients on loopback.
 *
 * Runs as `node cli/main.ts` (Node 22.18+), `deno run -A cli/main.ts`, `bun cli/main.ts`, and
 * built as `npx socket-liveness` / `bunx socket-liveness`.
 *
 * @example Plan keepalive 2 s / 1 s / 3 probes
 * ```ts ignore
 * import { main } from "./main.ts";
 *
 * const code = await main(["plan", "--keepalive", "2s:1s:3", "--json"]); // prints idleMs 5000
 * ```
 *
 * @module
 */

import { realpathSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type FlagSpec, formatFlags, parseArgs, type ParsedArgs, UsageError } from "./_args.ts";
import { CUT_WORKER, cutWorker, demo, DEMO_FLAGS } from "./_demo.ts";
import { VERSION } from "./_package.ts";
import { plan, PLAN_FLAGS } from "./_plan.ts";
import { probe, PROBE_FLAGS } from "./_probe.ts";
import {
  checkRuntimeName,
  handleSignals,
  type Output,
  rerun,
  runtime,
  stdio,
  stdoutClosed,
} from "./_runtime.ts";

export type { Output };

interface Command {
  readonly usage: string;
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
  readonly positionals: number;
  /** Whether `--runtime` runs it again under another runtime (`plan` only filters by it). */
  readonly reruns: boolean;
  readonly details: string;
  readonly run: (parsed: ParsedArgs, out: Output, self: string) => number | Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  plan: {
    usage: "socket-liveness plan [options]",
    summary: "worst-case detection time of a set of options, and what each runtime can set",
    flags: PLAN_FLAGS,
    positionals: 0,
    reruns: false,
    details: [
      "Prints how long a vanished peer can go unnoticed with these options, on a quiet connection",
      "and with data in flight, and what gives each bound; then per runtime (Node 20, Node 24+,",
      "Deno, Bun) what its own API sets, what needs FFI (which package or permission), and the",
      "bound without it. Without keepalive flags, keepalive is on with the system's values.",
      "",
      "Examples:",
      "  socket-liveness plan --keepalive 30s:5s:4 --user-timeout 50s",
      "  socket-liveness plan --keepalive 2s:1s:3 --heartbeat 1s/1s --json",
      "  socket-liveness plan --budget 350s        # 7200 s of keepalive idle: the NAT drops first",
    ].join("\n"),
    run: plan,
  },
  probe: {
    usage: "socket-liveness probe HOST:PORT [options]",
    summary: "watch one connection live through this runtime's adapter",
    flags: PROBE_FLAGS,
    positionals: 1,
    reruns: true,
    details: [
      "Connects to HOST:PORT (only where you say) through the running runtime's adapter, prints",
      "what tuning took effect, then once a second the monitor's state and the kernel's view",
      "(TCP_INFO: state, RTT, unacknowledged segments, retransmits, keepalive probes out, ms since",
      "data was received), and every transition, until the connection ends or you stop it.",
      "",
      "Exit codes: 0 closed in order or stopped (Ctrl-C), 1 dead or not connected (the reason is",
      "printed), 2 bad usage.",
      "",
      "Examples:",
      "  socket-liveness probe 127.0.0.1:6379 --keepalive 10s:2s:3 --user-timeout 10s",
      '  socket-liveness probe [::1]:7000 --heartbeat 5s/2s --ping "PING\\r\\n" --json',
      "  socket-liveness probe 127.0.0.1:8080 --runtime deno",
    ].join("\n"),
    run: probe,
  },
  demo: {
    usage: "socket-liveness demo [options]",
    summary: "healthy, hung, reset and cut clients against a watched server on loopback",
    flags: DEMO_FLAGS,
    positionals: 0,
    reruns: true,
    details: [
      "A server watched through this runtime's adapter (keepalive 2s:1s:3, user timeout 3 s,",
      "heartbeat 1 s/1 s) and four clients: healthy (answers PING), hung (stops answering, its",
      "TCP healthy), reset (RST) and cut (its cable cut by an nftables rule in a private network",
      "namespace the demo creates and deletes; needs root, ip and nft, else it is skipped and the",
      "reason printed). A live table on a terminal, JSON lines otherwise; ends by itself within",
      "about 10 s. Exit code 0 when every client ended as expected (healthy open, hung dead",
      "heartbeat-timeout, reset dead reset, cut dead keepalive-timeout), 1 otherwise.",
      "",
      "Examples:",
      "  socket-liveness demo",
      "  socket-liveness demo --runtime bun --json",
    ].join("\n"),
    run: demo,
  },
};

function generalHelp(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length)) + 2;
  return [
    "socket-liveness: know, within a bound you choose, that a TCP peer is gone.",
    "",
    "Usage:",
    ...Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}${c.summary}`),
    `  ${"socket-liveness help [COMMAND]".padEnd(width)}this help, or a command's`,
    `  ${"socket-liveness --version".padEnd(width)}the version (also -V)`,
    "",
    "Durations take a unit: 500ms, 30s, 1m30s, 2h. `--runtime node|deno|bun` runs probe and demo",
    "under that runtime (from node_modules/.bin or PATH).",
    "Exit codes: 0 fine, 1 a connection died (probe) or a client ended unexpectedly (demo),",
    "2 bad usage.",
  ].join("\n");
}

function commandHelp(name: string): string {
  const command = COMMANDS[name];
  return [
    `Usage: ${command.usage}`,
    "",
    `${command.summary[0].toUpperCase()}${command.summary.slice(1)}.`,
    "",
    command.details,
    "",
    "Options:",
    formatFlags([...command.flags, { name: "--help", help: "this help" }]),
  ].join("\n");
}

/** The arguments without `--runtime NAME` / `--runtime=NAME`. */
function withoutRuntime(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") {
      kept.push(...args.slice(i));
      break;
    }
    if (args[i] === "--runtime") i++;
    else if (!args[i].startsWith("--runtime=")) kept.push(args[i]);
  }
  return kept;
}

function unknownCommand(name: string): UsageError {
  return new UsageError(
    `unknown command "${name}"; choose ${Object.keys(COMMANDS).join(", ")} or help`,
  );
}

/**
 * Runs the command line.
 *
 * @param args The arguments after the program's name.
 * @param out Where to print (default: stdout and stderr).
 * @param self The entry's URL, to run the CLI again (`--runtime`, the demo's namespace).
 * @returns The exit code: 0 fine, 1 a connection died or a demo client ended unexpectedly,
 * 2 bad usage.
 */
export async function main(
  args: readonly string[],
  out: Output = stdio,
  self: string = import.meta.url,
): Promise<number> {
  const [name, ...rest] = args;
  try {
    if (name === undefined) {
      out.error(generalHelp());
      return 2;
    }
    if (name === "help" || name === "--help" || name === "-h") {
      const topic = rest[0];
      if (topic === undefined) out.line(generalHelp());
      else if (Object.hasOwn(COMMANDS, topic)) out.line(commandHelp(topic));
      else throw unknownCommand(topic);
      return 0;
    }
    if (name === "--version" || name === "-V") {
      out.line(VERSION);
      return 0;
    }
    if (name === CUT_WORKER) return await cutWorker(out);
    if (!Object.hasOwn(COMMANDS, name)) throw unknownCommand(name);
    const command = COMMANDS[name];
    const parsed = parseArgs(rest, command.flags, name, command.positionals);
    if (parsed.flags.has("--help")) {
      out.line(commandHelp(name));
      return 0;
    }
    const wanted = parsed.flags.get("--runtime");
    if (command.reruns && typeof wanted === "string") {
      const target = checkRuntimeName(wanted, name);
      if (target !== runtime) {
        return await rerun(target, self, [name, ...withoutRuntime(rest)], name);
      }
    }
    return await command.run(parsed, out, self);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    out.error(`socket-liveness: ${error.message}`);
    const topic = error.command === undefined ? "" : ` ${error.command}`;
    out.error(`Run "socket-liveness help${topic}" for usage.`);
    return 2;
  }
}

/**
 * Whether this module is the program being run (not imported). Not `import.meta.main`: Node has
 * it only since 24.2, and the CommonJS build cannot mention `import.meta` beyond its `url`.
 */
function isMain(): boolean {
  const deno = (globalThis as unknown as { Deno?: { mainModule: string } }).Deno;
  if (deno !== undefined) return deno.mainModule === import.meta.url;
  try {
    const script = process.argv[1];
    return script !== undefined &&
      realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

function exit(code: number): void {
  process.exitCode = code;
  if (stdoutClosed()) process.exit(code);
  // Exit once stdout has taken everything: a pending read or timer must not keep us alive.
  process.stdout.write("", () => process.exit(code));
}

if (isMain()) {
  handleSignals();
  const deno = (globalThis as unknown as { Deno?: { args: string[] } }).Deno;
  main(deno?.args ?? process.argv.slice(2)).then(exit, (error: unknown) => {
    process.stderr.write(`socket-liveness: ${(error as Error)?.stack ?? error}\n`);
    exit(1);
  });
}
