// What a load generator on Node needs to measure servers of another runtime in interleaved rounds:
// a benchmark server in a child process spoken to over stdin/stdout (the protocol of _server.ts),
// the machine's CPU time (to see other processes' work during a window), and rounds() with its
// noise guards. Used by net.ts and ws.ts.

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { command, family, root, type Target } from "./_runtimes.ts";
import type { Stats } from "./_server.ts";

const WAIT_MS = 20_000;
const TICK_US = 10_000; // /proc/stat counts in USER_HZ = 100 on Linux

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** A benchmark server in a child process of `target`: `scripts/bench/<script>_<family>.ts`. */
export class BenchServer {
  readonly label: string;
  port = 0;
  readonly #child: ChildProcess;
  readonly #waiting: ((line: Record<string, unknown>) => void)[] = [];
  #stderr = "";

  constructor(
    target: Target,
    script: string,
    config: Record<string, unknown>,
    label: string,
    log: (message: string) => void,
  ) {
    this.label = label;
    const [cmd, args] = command(
      target,
      `scripts/bench/${script}_${family(target)}.ts`,
      [JSON.stringify(config)],
    );
    this.#child = spawn(cmd, args, { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
    let pending = "";
    this.#child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const text of lines) {
        if (text.trim() === "") continue;
        const line = JSON.parse(text) as Record<string, unknown>;
        if (line.event === "error") log(`${label} server: ${line.message}`);
        else this.#waiting.shift()?.(line);
      }
    });
    this.#child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-2_000);
    });
  }

  #next(what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.label} server: no ${what} in ${WAIT_MS} ms\n${this.#stderr}`));
      }, WAIT_MS);
      this.#waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  }

  /** Waits for the ready line; its fields beside the port are returned. */
  async start(): Promise<Record<string, unknown>> {
    const ready = await this.#next("ready line");
    this.port = Number(ready.port);
    return ready;
  }

  stats(): Promise<Stats> {
    const line = this.#next("stats");
    this.#child.stdin!.write("stats\n");
    return line as Promise<unknown> as Promise<Stats>;
  }

  /** Polls until `done(stats)`, or throws with `what` after WAIT_MS. */
  async until(done: (stats: Stats) => boolean, what: (stats: Stats) => string): Promise<Stats> {
    const deadline = performance.now() + WAIT_MS;
    for (;;) {
      const stats = await this.stats();
      if (done(stats)) return stats;
      if (performance.now() > deadline) throw new Error(`${this.label} server: ${what(stats)}`);
      await sleep(2);
    }
  }

  /** Polls until the server has accepted `accepted` connections in all and has none open. */
  drained(accepted: number): Promise<Stats> {
    return this.until(
      (s) => s.accepted >= accepted && s.open === 0,
      (s) => `${s.open} open, ${s.accepted} of ${accepted} accepted`,
    );
  }

  /** Polls until the server has accepted `accepted` connections in all. */
  accepted(accepted: number): Promise<Stats> {
    return this.until(
      (s) => s.accepted >= accepted,
      (s) => `${s.accepted} of ${accepted} accepted`,
    );
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.#child.once("close", resolve));
    this.#child.stdin!.end("exit\n");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

/** A server's CPU time (user + system), in µs. */
export const cpu = (stats: Stats): number => stats.user + stats.system;

/** CPU time every process on the machine has used (user, nice, system), in µs; 0 off Linux. */
export function machineCpu(): number {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
    return (Number(fields[1]) + Number(fields[2]) + Number(fields[3])) * TICK_US;
  } catch {
    return 0;
  }
}

/**
 * Runs `window` and returns, beside its result, how many cores other processes used meanwhile: the
 * machine's CPU time less this process's and the server's (`ours`, in µs, from `window`).
 */
export async function guarded<T extends { ours: number }>(
  window: () => Promise<T>,
): Promise<T & { others: number }> {
  const machine = machineCpu();
  const self = process.cpuUsage();
  const t0 = performance.now();
  const result = await window();
  const elapsedUs = (performance.now() - t0) * 1000;
  const mine = process.cpuUsage(self);
  const used = machineCpu() - machine - (mine.user + mine.system) - result.ours;
  return { ...result, others: Math.max(0, used) / elapsedUs };
}

/** What every phase reports, for the noise guards. */
export interface Phase {
  /** Cores other processes used during the window. */
  others: number;
  /** The server's CPU time per unit of work (round trip, upgrade), in µs. */
  cpu: number;
  /** Units of work per second. */
  rate: number;
}

/** The noise guards of {@linkcode rounds}. */
export interface Guards {
  /** A phase is disturbed when other processes used more cores than this. */
  readonly othersLimit: number;
  /** … or the server's CPU per unit exceeds this many times the least seen for its mode. */
  readonly slowLimit: number;
  /** Rounds measured beyond those wanted, at most. */
  readonly maxRetries: number;
}

/**
 * Measures `wanted` rounds, each mode once per round in a rotating order (A B, B A, …), and keeps
 * the clean ones. The machine is a VM on a shared host, and two kinds of disturbance come and go
 * for seconds at a time: other processes (visible in /proc/stat), and a slowed host, where
 * /proc/stat shows nothing but every instruction costs more (the server's CPU time per unit jumps
 * 1.5–2x, for both modes alike). A round counts when, in each of its phases, other processes used
 * at most `othersLimit` cores and the server's CPU per unit was within `slowLimit` of the least
 * seen for that mode in this run; rounds are measured until `wanted` count, or `maxRetries` more
 * were spent. With none clean, every round is kept and the note says so.
 */
export async function rounds<K extends string, P extends Phase>(
  group: string,
  modes: readonly K[],
  wanted: number,
  guards: Guards,
  measure: (mode: K) => Promise<P>,
  log: (message: string) => void,
): Promise<{ kept: Map<K, P>[]; all: Map<K, P>[]; note: string | undefined }> {
  const all: Map<K, P>[] = [];
  const clean = (): Map<K, P>[] => {
    const least = new Map(
      modes.map((mode) => [mode, Math.min(...all.map((round) => round.get(mode)!.cpu))]),
    );
    return all.filter((round) =>
      modes.every((mode) => {
        const phase = round.get(mode)!;
        return phase.others <= guards.othersLimit &&
          phase.cpu <= guards.slowLimit * least.get(mode)!;
      })
    );
  };
  while (clean().length < wanted && all.length < wanted + guards.maxRetries) {
    const turn = all.length;
    const order = modes.map((_, i) => modes[(i + turn) % modes.length]);
    const got = new Map<K, P>();
    for (const mode of order) got.set(mode, await measure(mode));
    all.push(got);
    log(
      `${group} round ${turn + 1} (${order.join(" ")}): ` +
        modes.map((mode) => {
          const p = got.get(mode)!;
          return `${mode} ${p.rate.toFixed(0)}/s, ${p.cpu.toFixed(2)} µs CPU` +
            (p.others > 0.05 ? ` (others ${p.others.toFixed(2)} cores)` : "");
        }).join("; "),
    );
  }
  const kept = clean();
  if (kept.length === 0) {
    return {
      kept: all,
      all,
      note: `no undisturbed round: all ${all.length} reported (the machine was under load)`,
    };
  }
  const dropped = all.length - kept.length;
  return {
    kept,
    all,
    note: dropped > 0 ? `${dropped} disturbed rounds left out` : undefined,
  };
}

/** What an echo phase reports beside {@linkcode Phase}. */
export interface EchoPhase extends Phase {
  /** Server CPU time over the window, in cores. */
  busy: number;
  /** This process's CPU over the window, in cores: near 1, the load generator is the limit. */
  clientBusy: number;
  /** Heartbeat pings the server sent during the window. */
  pings: number;
  /** Connections the server's monitor declared dead during the phase. */
  dead: number;
  /** Connections of the phase whose user timeout was applied. */
  applied: number;
}

/** The load of an echo phase: how its connections are opened, driven and dropped. */
export interface EchoLoad<S> {
  /** Opens `count` connections to `port`. */
  open(port: number, count: number): Promise<S[]>;
  /** Every connection does `trips` round trips, one in flight; resolves with the ms. */
  trips(connections: readonly S[], trips: number): Promise<number>;
  /** Drops a connection. */
  close(connection: S): void;
}

/**
 * One echo phase against `server`: `connections` opened (and accepted), then timed while each does
 * `trips` round trips, then closed (and drained).
 */
export async function echoPhase<S>(
  server: BenchServer,
  connections: number,
  trips: number,
  load: EchoLoad<S>,
): Promise<EchoPhase> {
  const before = await server.stats();
  const opened = await load.open(server.port, connections);
  await server.accepted(before.accepted + connections);
  const s0 = await server.stats();
  const c0 = process.cpuUsage();
  const { ms, s1, others } = await guarded(async () => {
    const ms = await load.trips(opened, trips);
    const s1 = await server.stats();
    return { ms, s1, ours: cpu(s1) - cpu(s0) };
  });
  const c1 = process.cpuUsage(c0);
  for (const connection of opened) load.close(connection);
  await server.drained(before.accepted + connections);
  const cpuUs = cpu(s1) - cpu(s0);
  return {
    others,
    rate: (connections * trips) / (ms / 1000),
    cpu: cpuUs / (connections * trips),
    busy: cpuUs / (ms * 1000),
    clientBusy: (c1.user + c1.system) / (ms * 1000),
    pings: s1.pings - s0.pings,
    dead: s1.dead - before.dead,
    applied: s1.applied - before.applied,
  };
}

/** The notes that apply, joined; `undefined` when none does. */
export function notes(list: (string | false)[]): string | undefined {
  const kept = list.filter((text): text is string => text !== false);
  return kept.length > 0 ? kept.join("; ") : undefined;
}
