// Soak: nothing grows with use.
//
// 1. Core: 1,000,000 track/close cycles through LivenessMonitor on a ManualClock, twice: a monitor
//    as the adapters use it (keepalive only: no deadlines, so no timer at all) and one with every
//    policy on (heartbeat with jitter, idle events, idle timeout, max age with grace, suspicion,
//    ping enforcement), time moving 1 ms per cycle and a window of 500 connections open at once,
//    ended every which way (closed, failed, ended then closed, or left for the monitor's own
//    deadlines: heartbeat timeout, idle timeout, max age). Checked: `size`, the clock's pending timers, the highest slot ever used (the store's
//    capacity), `stats()` and the heap after a full collection.
// 2. Sockets: connect/close cycles through each runtime's adapter, both ends watched, inside a
//    private network namespace (tests/fixtures/stress_soak_<runtime>.ts); closed gracefully from
//    either side or reset. Checked: every connection ends on both sides, both monitors end empty,
//    every socket was tuned, and the process holds exactly the descriptors it held after warm-up
//    (counted in /proc/self/fd; TCP sockets by inode in /proc/self/net/tcp).
//
//   node scripts/soak.ts [--quick] [--runtime node|deno|bun|all] [--cycles 100000]
//                        [--core-cycles 1000000]
//
// Full mode: 1,000,000 core cycles and 100,000 socket cycles per runtime; `--quick`: 5,000 socket
// cycles. Prints one JSON object on stdout, progress on stderr; exits 1 unless every verdict is ok.
import process from "node:process";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { type Driver, LivenessMonitor, ManualClock, type MonitorStats } from "../mod.ts";
import { type JsonLine, netnsAvailable, withNetns } from "../tests/_netns.ts";
import { runtimeCommand, type StressRuntime } from "./stress.ts";

/** One core soak's record. */
export interface CoreSoak {
  /** Which monitor: `"plain"` (keepalive only) or `"full"` (every policy). */
  monitor: string;
  cycles: number;
  ms: number;
  /** Highest `monitor.size` seen at a checkpoint, and at the end. */
  size: { max: number; end: number };
  /** Highest count of the clock's pending timers at a checkpoint, and at the end. */
  pending: { max: number; end: number };
  /** Slots used (highest slot index + 1) in the first and in the second half of the cycles. */
  slots: { firstHalf: number; secondHalf: number };
  /** Heap after a full collection: after the first tenth of the cycles, and at the end. */
  heapMB: { warm: number; end: number; delta: number };
  /** `stats()` at the end: tracked, closed and dead must add up to the cycles. */
  stats: { tracked: number; closed: number; dead: number; states: MonitorStats["states"] };
  /** Transitions, `destroy` calls and pings seen by the callbacks. */
  callbacks: Record<string, number>;
  ok: boolean;
  problems: string[];
}

/** Descriptor counts: all, sockets, TCP sockets, Unix sockets. */
export interface Fds {
  fds: number;
  sockets: number;
  tcp: number;
  unix: number;
}

/** One socket soak's record, as its fixture printed it plus the verdict. */
export interface SocketSoak {
  runtime: StressRuntime;
  version: string;
  cycles: number;
  warmup: number;
  ms: number;
  ends: Record<string, Record<string, number>>;
  tuned: { server: number; client: number };
  /** Descriptors at start, after warm-up, half-way and at the end, each once closes landed. */
  fds: { start: Fds; warm: Fds; mid: Fds; end: Fds };
  /** Heap after a full collection: after warm-up, half-way and at the end. */
  heapMB: { warm: number; mid: number; end: number };
  ok: boolean;
  problems: string[];
}

const RESET = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
const TIMED_OUT = Object.assign(new Error("read ETIMEDOUT"), { code: "ETIMEDOUT" });
const WINDOW = 500;

let gc: (() => void) | undefined;

function heapMB(): number {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
  if (bun !== undefined) bun.gc(true);
  else {
    if (gc === undefined) {
      gc = (globalThis as { gc?: () => void }).gc;
      if (gc === undefined) {
        setFlagsFromString("--expose-gc");
        gc = runInNewContext("gc") as () => void;
      }
    }
    gc();
  }
  return Math.round(process.memoryUsage().heapUsed / 1e4) / 100;
}

/**
 * Runs `cycles` track/close cycles through a monitor with no deadlines and through one with every
 * policy, and checks that nothing grows.
 *
 * @param cycles Cycles per monitor (1,000,000 in full mode).
 * @param heapSlackMB Heap growth tolerated as noise, in MB (default 2).
 * @returns One record per monitor.
 */
export function soakCore(cycles: number, heapSlackMB = 2): CoreSoak[] {
  return [soakMonitor("plain", cycles, heapSlackMB), soakMonitor("full", cycles, heapSlackMB)];
}

function soakMonitor(kind: "plain" | "full", cycles: number, heapSlackMB: number): CoreSoak {
  const clock = new ManualClock(1_000_000);
  const callbacks: Record<string, number> = {
    transitions: 0,
    drained: 0,
    destroy: 0,
    pings: 0,
    idle: 0,
  };
  let x = 42; // a small deterministic generator, so runs compare
  const random = (): number => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
  const common = {
    clock,
    keepalive: "2s:1s:3",
    onTransition: (t: { reason: string }) => {
      callbacks.transitions++;
      if (t.reason === "max-age" || t.reason === "max-idle") callbacks.drained++;
    },
    onError: (error: unknown) => {
      throw error;
    },
  } as const;
  const monitor = kind === "plain"
    ? new LivenessMonitor<number>(common)
    : new LivenessMonitor<number>({
      ...common,
      random,
      idle: "300ms",
      writerIdle: "400ms",
      allIdle: "450ms",
      idleTimeout: "1200ms",
      heartbeat: {
        interval: "600ms",
        timeout: "300ms",
        jitter: 0.1,
        send: () => void callbacks.pings++,
      },
      suspicion: true,
      maxAge: "1s",
      grace: "200ms",
      pingEnforcement: { minInterval: "1s" },
      onIdle: () => void callbacks.idle++,
    });
  const driver: Driver<number> = { destroy: () => void callbacks.destroy++, sample() {} };
  const ring = new Float64Array(WINDOW).fill(-1); // ids are integers up to 2^40
  const size = { max: 0, end: 0 };
  const pending = { max: 0, end: 0 };
  const slots = { firstHalf: 0, secondHalf: 0 };
  let warm = 0;
  const started = performance.now();
  for (let i = 0; i < cycles; i++) {
    const at = i % WINDOW;
    const old = ring[at];
    if (old >= 0) {
      // End the oldest connection in one of four ways (a late input for a dead one is ignored).
      const how = (i / WINDOW | 0) % 4;
      if (how === 0) monitor.closed(old);
      else if (how === 1) monitor.failed(old, RESET);
      else if (how === 2) {
        monitor.ended(old);
        monitor.closed(old);
      } else if (kind === "plain") monitor.failed(old, TIMED_OUT);
      // else left open, for the monitor's own deadlines to end
    }
    const id = monitor.track(i, driver);
    ring[at] = id;
    const slot = id & 0xffffff;
    if (i < cycles / 2) slots.firstHalf = Math.max(slots.firstHalf, slot + 1);
    else slots.secondHalf = Math.max(slots.secondHalf, slot + 1);
    // Activity on a random open one: data, an answer, the peer's own beats and pings.
    const other = ring[(random() * WINDOW) | 0];
    if (other >= 0) {
      monitor.received(other);
      monitor.sent(other);
      if (i % 3 === 0) monitor.acked(other);
      if (i % 5 === 0) monitor.beat(other);
      if (i % 7 === 0) monitor.pinged(other);
    }
    if (kind === "full") clock.advance(1);
    if ((i + 1) % (cycles / 10) === 0) {
      size.max = Math.max(size.max, monitor.size);
      pending.max = Math.max(pending.max, clock.pending);
      if (i + 1 === cycles / 10) warm = heapMB();
    }
  }
  for (const id of ring) if (id >= 0) monitor.closed(id);
  clock.advance(200_000); // every slot still on the wheel comes due and is freed; the timer stops
  const ms = Math.round(performance.now() - started);
  size.end = monitor.size;
  pending.end = clock.pending;
  const end = heapMB();
  const stats = monitor.stats();
  const dead = Object.values(stats.deaths).reduce((a, b) => a + b, 0);
  monitor.close();
  const record: CoreSoak = {
    monitor: kind,
    cycles,
    ms,
    size,
    pending,
    slots,
    heapMB: { warm, end, delta: Math.round((end - warm) * 100) / 100 },
    stats: { tracked: stats.tracked, closed: stats.closed, dead, states: stats.states },
    callbacks,
    ok: false,
    problems: [],
  };
  const check = (ok: boolean, problem: string): void => void (ok || record.problems.push(problem));
  // The full monitor also holds the connections left open until their deadlines end them.
  const most = kind === "plain" ? WINDOW : 2 * WINDOW;
  check(size.max <= most && size.end === 0, `size ${JSON.stringify(size)}; at most ${most}`);
  check(
    pending.max <= 1 && pending.end === 0,
    `pending timers ${JSON.stringify(pending)}: one at most, none once idle`,
  );
  check(slots.secondHalf <= slots.firstHalf, `slots used ${JSON.stringify(slots)}: the store grew`);
  check(
    record.heapMB.delta <= heapSlackMB,
    `heap grew ${record.heapMB.delta} MB (slack ${heapSlackMB} MB)`,
  );
  check(stats.tracked === cycles, `tracked ${stats.tracked} of ${cycles}`);
  check(stats.closed + dead === cycles, `closed ${stats.closed} + dead ${dead} ≠ ${cycles}`);
  check(
    Object.values(stats.states).every((n) => n === 0),
    `states at the end ${JSON.stringify(stats.states)}`,
  );
  // The driver closes the dead, and those a max-age / max-idle policy ends after their grace.
  check(
    callbacks.destroy === dead + callbacks.drained,
    `destroy called ${callbacks.destroy} times for ${dead} deaths and ${callbacks.drained} drains`,
  );
  record.ok = record.problems.length === 0;
  return record;
}

/**
 * Runs connect/close cycles through a runtime's adapter inside a private network namespace.
 *
 * @param runtime Whose adapter.
 * @param cycles How many connections (after 200 of warm-up).
 * @param log Progress lines (default: stderr).
 * @returns The record and its verdict.
 * @throws {Error} When namespaces are unavailable or the fixture fails.
 */
export async function soakSockets(
  runtime: StressRuntime,
  cycles: number,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<SocketSoak> {
  const availability = netnsAvailable();
  if (!availability.ok) throw new Error(availability.reason);
  const warmup = 200;
  return await withNetns(async (ns) => {
    // A fresh namespace has the default 28,000 ephemeral ports and TIME_WAIT of 60 s: tens of
    // thousands of connections a minute need the whole range, and TIME_WAIT reuse for connects.
    await ns.exec("sysctl", [
      "-q",
      "-w",
      "net.ipv4.ip_local_port_range=1024 65535",
      "net.ipv4.tcp_tw_reuse=1",
    ]);
    const { cmd, args } = runtimeCommand(runtime, `tests/fixtures/stress_soak_${runtime}.ts`, [
      JSON.stringify({ cycles, warmup, concurrency: 32, keepalive: "2s:1s:3" }),
    ]);
    log(`${runtime}: ${cycles} connect/close cycles`);
    const child = ns.spawn(cmd, args);
    const done = await child.next(
      (line) => line.event === "done" || line.event === "error",
      60_000 + cycles * 5,
    );
    if (done.event === "error") throw new Error(`soak fixture failed: ${done.message}`);
    await child.exited;
    return socketVerdict(runtime, cycles, warmup, done);
  }, { timeoutMs: 120_000 + cycles * 5 });
}

function socketVerdict(
  runtime: StressRuntime,
  cycles: number,
  warmup: number,
  done: JsonLine,
): SocketSoak {
  const total = cycles + warmup;
  const warm = done.warm as JsonLine;
  const mid = done.mid as JsonLine;
  const end = done.end as JsonLine;
  const record: SocketSoak = {
    runtime,
    version: String(done.runtime),
    cycles,
    warmup,
    ms: Number(done.ms),
    ends: done.ends as SocketSoak["ends"],
    tuned: done.tuned as SocketSoak["tuned"],
    fds: { start: pick(done.start), warm: pick(warm), mid: pick(mid), end: pick(end) },
    heapMB: { warm: Number(warm.heapMB), mid: Number(mid.heapMB), end: Number(end.heapMB) },
    ok: false,
    problems: [],
  };
  const check = (ok: boolean, problem: string): void => void (ok || record.problems.push(problem));
  const ended = done.ended as { server: number; client: number };
  const sizes = done.sizes as { server: number; client: number };
  const tracked = done.tracked as { server: number; client: number };
  check(Number(done.cycles) === total, `ran ${done.cycles} of ${total} cycles`);
  check(
    tracked.server === total && tracked.client === total,
    `tracked ${JSON.stringify(tracked)} of ${total}`,
  );
  check(
    ended.server === total && ended.client === total,
    `ended ${JSON.stringify(ended)} of ${total}: every connection reaches closed or dead`,
  );
  check(sizes.server === 0 && sizes.client === 0, `still tracked ${JSON.stringify(sizes)}`);
  // Cycles take turns: the client closes, the server does, the client resets. The server must see
  // each reset as a death by reset, and each close as the side's that closed first.
  const resets = Math.floor(total / 3);
  const byServer = Math.floor((total + 1) / 3);
  const byClient = total - byServer - resets;
  check(
    record.ends.server["dead:reset"] === resets &&
      record.ends.server["closed:local-close"] === byServer &&
      record.ends.server["closed:peer-close"] === byClient,
    `server ends ${
      JSON.stringify(record.ends.server)
    }: ${resets} resets, ${byServer} local and ${byClient} peer closes expected`,
  );
  check(
    record.ends.client["closed:local-close"] === byClient + resets &&
      record.ends.client["closed:peer-close"] === byServer,
    `client ends ${JSON.stringify(record.ends.client)}: ${
      byClient + resets
    } local and ${byServer} peer closes expected`,
  );
  check(
    record.tuned.server === total && record.tuned.client === total,
    `tuned ${JSON.stringify(record.tuned)} of ${total} (${JSON.stringify(done.firstUntuned)})`,
  );
  // The library's descriptors are TCP sockets: exactly the listener's must be left. A runtime may
  // open descriptors of its own on the way (Deno a Unix socket pair); none may come per cycle.
  const { warm: w, mid: m, end: e } = record.fds;
  check(
    w.tcp === 1 && m.tcp === 1 && e.tcp === 1,
    `TCP descriptors ${w.tcp} after warm-up, ${m.tcp} half-way, ${e.tcp} at the end: 1 expected`,
  );
  check(
    // Unix sockets are the runtime's (Deno opens some on its own, at any time), never the library's.
    e.fds - e.unix <= m.fds - m.unix && e.sockets - e.tcp - e.unix === w.sockets - w.tcp - w.unix,
    `descriptors ${JSON.stringify(record.fds)}: none may come in the second half`,
  );
  // Heap after a full collection moves by a few MB with V8's own bookkeeping; a leak of one object
  // per connection would be tens of MB over 100,000 cycles.
  check(
    record.heapMB.end - record.heapMB.warm <= 8,
    `heap ${JSON.stringify(record.heapMB)} MB: grew more than 8 MB`,
  );
  record.ok = record.problems.length === 0;
  return record;
}

function pick(value: unknown): Fds {
  const { fds, sockets, tcp, unix } = value as Fds;
  return { fds, sockets, tcp, unix };
}

function parseArgs(argv: string[]): { runtimes: StressRuntime[]; cycles: number; core: number } {
  const options = {
    runtimes: ["node", "deno", "bun"] as StressRuntime[],
    cycles: 100_000,
    core: 1_000_000,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = (): string => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    if (flag === "--runtime") {
      const name = value();
      if (name === "all") options.runtimes = ["node", "deno", "bun"];
      else if (name === "node" || name === "deno" || name === "bun") options.runtimes = [name];
      else usage(`--runtime must be node, deno, bun or all, got ${name}`);
    } else if (flag === "--quick") options.cycles = 5_000;
    else if (flag === "--cycles") options.cycles = Number(value());
    else if (flag === "--core-cycles") options.core = Number(value());
    else if (flag === "--help" || flag === "-h") usage();
    else usage(`unknown argument ${argv[i]}`);
  }
  for (
    const [name, n] of [["--cycles", options.cycles], ["--core-cycles", options.core]] as const
  ) {
    if (!Number.isInteger(n) || n < 10 || n % 10 !== 0) usage(`${name} must be a multiple of 10`);
  }
  return options;
}

function usage(error?: string): never {
  process.stderr.write(
    `${error ? `${error}\n\n` : ""}usage: node scripts/soak.ts [--quick] ` +
      `[--runtime node|deno|bun|all] [--cycles 100000] [--core-cycles 1000000]\n`,
  );
  process.exit(error ? 2 : 0);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const options = parseArgs(process.argv.slice(2));
  process.stderr.write(`core: ${options.core} cycles per monitor\n`);
  const core = soakCore(options.core);
  const sockets: SocketSoak[] = [];
  for (const runtime of options.runtimes) sockets.push(await soakSockets(runtime, options.cycles));
  const ok = core.every((r) => r.ok) && sockets.every((r) => r.ok);
  process.stdout.write(
    `${
      JSON.stringify({ date: new Date().toISOString().slice(0, 10), core, sockets, ok }, null, 2)
    }\n`,
  );
  process.exit(ok ? 0 : 1);
}
