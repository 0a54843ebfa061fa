// What the three benchmark servers (_server_node.ts, _server_deno.ts, _server_bun.ts) share: the
// config they are started with, the monitor a tracked server runs, and the control protocol on
// stdin/stdout. Runtime-neutral: node:process only.
//
// Started as `<runtime> _server_<runtime>.ts '<config JSON>'`; prints one JSON line
// {"event":"ready","port":N,"runtime":…,"version":…} once it listens on 127.0.0.1, then answers
// `stats` with {"event":"stats",…} (see Stats) and ends on `exit` or when stdin closes.
//
// Kinds: "echo" writes back what it reads; "accept" writes one byte to each connection it accepts
// and closes it (the peer's FIN or RST is not awaited).

import process from "node:process";
import { LivenessMonitor, type MonitorOptions } from "../../mod.ts";
import type { BackendResult } from "../../src/_sockopt.ts";

/**
 * plain: the runtime's own server; tuned: the same, its listener tuned once by `tuneServer` and
 * nothing tracked (what the kernel's keepalive costs by itself); tracked: through the adapter with
 * FFI; noffi: adapter, no FFI.
 */
export type Mode = "plain" | "tuned" | "tracked" | "noffi";

/** Throws unless `mode` is one of the modes. */
export function checkMode(mode: unknown): asserts mode is Mode {
  if (!["plain", "tuned", "tracked", "noffi"].includes(mode as string)) {
    throw new TypeError(`mode must be plain, tuned, tracked or noffi, got ${mode}`);
  }
}
export type Kind = "echo" | "accept";

export interface ServerConfig {
  readonly mode: Mode;
  readonly kind: Kind;
  /** Count the FFI backend's calls (for a count, not a timing: the wrappers cost time). */
  readonly count?: boolean;
}

/** What a server counts; the CPU time is the whole process's (getrusage), in microseconds. */
export interface Stats {
  user: number;
  system: number;
  accepted: number;
  open: number;
  /** Connections whose tuning report says the user timeout was applied (FFI worked). */
  applied: number;
  /** Heartbeat pings the monitor asked for (they write nothing: the echo protocol has none). */
  pings: number;
  /** Connections the monitor declared dead. */
  dead: number;
  /** Calls into the FFI backend (setsockopt, getsockopt, getsockname, getpeername, dup, close). */
  ffiCalls: number;
}

export const stats: Stats = {
  user: 0,
  system: 0,
  accepted: 0,
  open: 0,
  applied: 0,
  pings: 0,
  dead: 0,
  ffiCalls: 0,
};

/**
 * Wraps every method of the backend the adapter will use (the loaders cache one object per
 * process) so that its calls are counted in `stats.ffiCalls`.
 */
export function countCalls(loaded: BackendResult): void {
  if (!loaded.ok) return;
  const backend = loaded.backend as unknown as Record<string, unknown>;
  for (const name of ["setInt", "getInt", "tcpInfo", "localAddress", "remoteAddress"]) {
    const method = backend[name] as (...args: unknown[]) => unknown;
    backend[name] = (...args: unknown[]): unknown => {
      stats.ffiCalls++;
      return method(...args);
    };
  }
  const withDuplicate = backend.withDuplicate as (fd: number, fn: unknown) => unknown;
  backend.withDuplicate = (fd: number, fn: unknown): unknown => {
    stats.ffiCalls += 2; // dup(2) and close(2)
    return withDuplicate(fd, fn);
  };
}

/** The one byte an accept server writes. */
export const ONE: Uint8Array = new Uint8Array([0x2a]);

export function readConfig(): ServerConfig {
  const config = JSON.parse(process.argv[2] ?? "{}") as Partial<ServerConfig>;
  checkMode(config.mode);
  if (!["echo", "accept"].includes(config.kind ?? "")) {
    throw new TypeError(`kind must be echo or accept, got ${config.kind}`);
  }
  return config as ServerConfig;
}

/**
 * The monitor of a tracked server: every keepalive control set through the adapter, an idle
 * timeout, and a 1 s heartbeat, so that each busy connection's deadline comes about once a second
 * and the wheel re-files it (the scheduler's steady-state work). The echo protocol has no ping, so
 * `send` only counts; as data answers a ping (`ackOnData`), a busy connection never owes one.
 */
export function trackedMonitor<C>(): LivenessMonitor<C> {
  const options: MonitorOptions<C> = {
    keepalive: { idle: "30s", interval: "5s", count: 4, userTimeout: "50s" },
    idleTimeout: "10s",
    heartbeat: { interval: "1s", timeout: "1s", send: () => void stats.pings++ },
    onTransition: (t) => {
      if (t.to === "dead") stats.dead++;
    },
  };
  return new LivenessMonitor<C>(options);
}

function print(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Prints the ready line and serves the control commands until `exit` or the end of stdin. */
export function serve(port: number, runtime: string, version: string, exit: () => void): void {
  print({ event: "ready", port, runtime, version });
  let pending = "";
  const quit = (): void => {
    exit();
    process.exit(0);
  };
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    const lines = (pending + chunk).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      const command = line.trim();
      if (command === "stats") {
        const cpu = process.cpuUsage();
        stats.user = cpu.user;
        stats.system = cpu.system;
        print({ event: "stats", ...stats });
      } else if (command === "exit") quit();
      else if (command !== "") print({ event: "error", message: `unknown command ${command}` });
    }
  });
  process.stdin.on("end", quit);
}
