// Benchmarks of tracking scale for the core LivenessMonitor (no sockets), beside the usual
// alternatives: one setTimeout per connection, and the `ws` recipe (an `isAlive` flag per connection
// in a Set, swept by one setInterval).
//
//   node --expose-gc scripts/bench/core.ts [--quick | --full] [--n 10000,100000,1000000]
//   deno run -A --v8-flags=--expose-gc scripts/bench/core.ts [...]
//   bun scripts/bench/core.ts [...]
//   ... --only memory,mark,mixed,tick,sweep    some of the groups only
//
// Each group at each size is measured in a child process of the same runtime (given the flag that
// exposes the GC), and each memory reading in one of its own: what ran before in a process changed
// both the JIT's code and what Bun's GC kept. `--in-process` measures in this process instead (the
// children are told that; `--variant` asks one for a single memory reading).
//
// One JSON line per measurement on stdout (runtime, version, n, metric, median, min, max, runs, unit,
// and where they apply sample, p99, goal, met); progress and a readable table on stderr.
// scripts/bench/run.mjs runs this on every runtime and collects the lines.
//
// The monitor's timer is driven by a hand-fired clock, so a tick's time is the monitor's timer
// callback alone; a tick in which this thread waited for a CPU (on Linux, from its schedstat) is
// left out and counted (`tick.*.disturbed`). Memory is the heap delta after a forced GC, counting
// typed-array backing stores.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type Clock, type Driver, LivenessMonitor, type MonitorOptions } from "../../mod.ts";

// ---- runtime ---------------------------------------------------------------------------------

interface BunGlobal {
  gc(force: boolean): void;
  readonly version: string;
}
interface DenoGlobal {
  readonly version: { readonly deno: string };
}
const bun = (globalThis as { Bun?: BunGlobal }).Bun;
const deno = (globalThis as { Deno?: DenoGlobal }).Deno;
const runtime = bun !== undefined ? "bun" : deno !== undefined ? "deno" : "node";
const version = bun?.version ?? deno?.version.deno ?? process.versions.node;

/** Full collection, or false when the runtime was started without a way to force one. */
function collect(): boolean {
  if (bun !== undefined) {
    bun.gc(true);
    bun.gc(true);
    return true;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") return false;
  gc();
  gc();
  return true;
}

/** Bytes held by JavaScript: the heap plus typed-array backing stores, each runtime as it reports them. */
function heapBytes(): number {
  const m = process.memoryUsage();
  // Bun's heapUsed already includes backing stores (JSC "extra memory"); its arrayBuffers reads 0.
  if (runtime === "bun") return m.heapUsed;
  // Deno 2 reports arrayBuffers as 0 and counts backing stores in external.
  if (runtime === "deno") return m.heapUsed + m.external;
  return m.heapUsed + m.arrayBuffers;
}

// ---- arguments -------------------------------------------------------------------------------

const GROUPS = ["memory", "mark", "mixed", "tick", "sweep"] as const;
type Group = (typeof GROUPS)[number];
const MEMORY_VARIANTS = ["monitor", "monitor.heartbeat", "setTimeout", "wsRecipe"] as const;
type MemoryVariant = (typeof MEMORY_VARIANTS)[number];

interface Settings {
  readonly quick: boolean;
  readonly sizes: readonly number[];
  readonly groups: ReadonlySet<Group>;
  /** Measure here instead of in child processes. */
  readonly inProcess: boolean;
  /** Print one memory reading of this variant (what the parent asks its children for). */
  readonly variant: MemoryVariant | undefined;
}

function parseArgs(argv: readonly string[]): Settings {
  let quick = false;
  let sizes = [10_000, 100_000, 1_000_000];
  let groups = new Set<Group>(GROUPS);
  let inProcess = false;
  let variant: MemoryVariant | undefined;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = (): string => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) fail(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === "--quick") quick = true;
    else if (flag === "--full") quick = false;
    else if (flag === "--in-process") inProcess = true;
    else if (flag === "--variant") {
      const name = value();
      if (!(MEMORY_VARIANTS as readonly string[]).includes(name)) {
        fail(`--variant takes ${MEMORY_VARIANTS.join(", ")}, got ${name}`);
      }
      variant = name as MemoryVariant;
    } else if (flag === "--n") {
      sizes = value().split(",").filter(Boolean).map((text) => {
        const n = Number(text.replace(/_/g, ""));
        if (!Number.isInteger(n) || n < 1_000 || n > 16_000_000) {
          fail(`--n takes sizes from 1000 to 16000000, got ${text}`);
        }
        return n;
      });
    } else if (flag === "--only") {
      groups = new Set(
        value().split(",").filter(Boolean).map((name) => {
          if (!(GROUPS as readonly string[]).includes(name)) {
            fail(`--only takes ${GROUPS.join(", ")}, got ${name}`);
          }
          return name as Group;
        }),
      );
    } else fail(`Unknown argument ${argv[i]}`);
  }
  return { quick, sizes, groups, inProcess, variant };
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.stderr.write(
    "Usage: core.ts [--quick | --full] [--n 10000,100000,1000000] [--only memory,mark,mixed,tick,sweep]" +
      " [--in-process]\n",
  );
  process.exit(2);
}

const settings = parseArgs(process.argv.slice(2));
const quick = settings.quick;

// How much work each measurement does. Quick mode keeps one runtime under 30 s on 2 busy cores.
const MEMORY_RUNS = quick ? 3 : 5;
const MARK_SAMPLES = quick ? 5 : 15;
const MARK_SAMPLE_MS = 10; // small sizes run several passes per sample
const TIMER_SAMPLE_CAP = quick ? 100_000 : 1_000_000; // connections in the timer comparisons
const TIMER_SAMPLES = quick ? 3 : 7;
const TIMER_SAMPLE_MS = 40;
const TICK_RUNS = quick ? 1 : 3;
const IDLE_TICKS = quick ? 100 : 300; // timed ticks with nothing due to expire, per run
// Timed ticks where 1% expire, per run. One more comes first in each run: the first deaths its new
// monitor sees, reported apart (`tick.firstDeaths`, no goal). Its death path runs then on objects of
// hidden classes V8 has not seen there: the previous run's were collected with it, and with them
// what the compiled code had learnt (in --trace-deopt: "insufficient type feedback", "wrong map").
// It deoptimizes and compiles again, which held the loop 2-5 ms in one slice on Node 26 in most
// runs. A server pays that once, at its monitor's first deaths; what the goal is about is every
// tick after.
const EXPIRY_TICKS = quick ? 4 : 10;
const SWEEP_SAMPLES = quick ? 5 : 15;

// ---- results ---------------------------------------------------------------------------------

interface Goal {
  /** Upper bound for the median, in the metric's unit. */
  readonly median?: number;
  /** Upper bound for the worst sample. */
  readonly max?: number;
  readonly text: string;
}

interface Result {
  readonly runtime: string;
  readonly version: string;
  readonly n: number;
  readonly metric: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
  readonly unit: string;
  /** Connections actually measured, when fewer than n. */
  readonly sample?: number;
  readonly p99?: number;
  readonly goal?: string;
  readonly met?: boolean;
}

const GOALS: Record<string, Goal> = {
  "memory.monitor": { median: 32, text: "<= 32 B" },
  "mark.received": { median: 10, text: "<= 10 ns (>= 100 M/s)" },
  "mark.sent": { median: 10, text: "<= 10 ns (>= 100 M/s)" },
  "tick.idle": { median: 0.5, max: 2, text: "median <= 0.5 ms, worst <= 2 ms" },
  // A tick with many deaths is cut into slices (the monitor yields after 1 ms): its longest slice.
  "tick.expire1pct": {
    median: 1.5,
    max: 2,
    text: "longest slice: median <= 1.5 ms, worst <= 2 ms",
  },
};

const results: Result[] = [];
let sink = 0; // results the JIT must not prove unused

function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

function record(
  n: number,
  metric: string,
  unit: string,
  samples: readonly number[],
  extra: { sample?: number; p99?: boolean } = {},
): void {
  if (samples.length === 0) return progress(`${metric} at ${n}: no samples (all disturbed)`);
  const sorted = [...samples].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  const max = sorted[sorted.length - 1];
  const goal = GOALS[metric];
  const result: Result = {
    runtime,
    version,
    n,
    metric,
    median: round(median),
    min: round(sorted[0]),
    max: round(max),
    runs: sorted.length,
    unit,
    ...(extra.sample !== undefined && extra.sample < n ? { sample: extra.sample } : {}),
    ...(extra.p99 ? { p99: round(quantile(sorted, 0.99)) } : {}),
    ...(goal !== undefined
      ? {
        goal: goal.text,
        met: (goal.median === undefined || median <= goal.median) &&
          (goal.max === undefined || max <= goal.max),
      }
      : {}),
  };
  results.push(result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function round(x: number): number {
  return Number(x.toPrecision(4));
}

function progress(message: string): void {
  process.stderr.write(`[${runtime} ${version}] ${message}\n`);
}

// ---- fixtures --------------------------------------------------------------------------------

/** Stands in for a socket: what every approach already has per connection. */
class FakeSocket {
  readonly fd: number;
  bytesRead = 0;
  bytesWritten = 0;
  constructor(fd: number) {
    this.fd = fd;
  }
  destroy(): void {
    this.bytesRead = -1;
  }
}

/** A socket as the `ws` recipe leaves it: with an `isAlive` property added. */
type WsSocket = FakeSocket & { isAlive: boolean };

// Arrays are grown by push: `new Array(n)` past ~100k elements makes a slow dictionary array in V8.
function sockets(n: number): FakeSocket[] {
  const out: FakeSocket[] = [];
  for (let i = 0; i < n; i++) out.push(new FakeSocket(i));
  return out;
}

function filled<T>(n: number, value: T): T[] {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(value);
  return out;
}

// A tick in or just before which this thread waited this long for a CPU (another process or the
// host had it) was disturbed: it is left out, and counted.
const WAITED_MS = 0.5;
const SCHEDSTAT = "/proc/thread-self/schedstat";
let schedstat = true;

/**
 * How long this thread has waited on a run queue so far, in ms: the second field of Linux's
 * schedstat, brought up to date when the thread gets a CPU back. 0 where there is none.
 */
function waitedMs(): number {
  if (!schedstat) return 0;
  try {
    return Number(readFileSync(SCHEDSTAT, "utf8").split(" ")[1]) / 1e6;
  } catch {
    schedstat = false;
    return 0;
  }
}

/** A clock whose one timer fires only when the benchmark says, so that a tick can be timed alone. */
class HandClock implements Clock {
  time = 0;
  /** Of the last fire(): all its slices together, in ms, and how many there were. */
  total = 0;
  slices = 0;
  /**
   * Of the last fire(): how long this thread waited for a CPU since the fire before ended, in ms (a
   * wait for a collection's helper threads is not a wait for a CPU: it does not count here). Read
   * once per fire, after it: read just before each slice too, the idle ticks at 1M on Node 24 cost
   * 340-360 ns per slot against 225-280 without the reads (two runs each).
   */
  waited = 0;
  #waitedBefore = waitedMs();
  #callback: (() => void) | undefined = undefined;
  #ms = 0;
  now(): number {
    return this.time;
  }
  setTimeout(callback: () => void, ms: number): unknown {
    this.#callback = callback;
    this.#ms = ms;
    return 1;
  }
  clearTimeout(_handle: unknown): void {
    this.#callback = undefined;
  }
  /**
   * Moves time one step and runs the monitor's timer, and the continuations (0 ms timers) of a
   * tick the monitor cut into slices; returns the longest slice in ms: how long the event loop
   * was held at once.
   */
  fire(step: number): number {
    this.time += step;
    let longest = 0;
    this.total = 0;
    this.slices = 0;
    do {
      const callback = this.#callback;
      if (callback === undefined) throw new Error("The monitor has no timer set");
      this.#callback = undefined;
      const start = performance.now();
      callback();
      const took = performance.now() - start;
      if (took > longest) longest = took;
      this.total += took;
      this.slices++;
    } while (this.#callback !== undefined && this.#ms === 0);
    const waited = waitedMs();
    this.waited = waited - this.#waitedBefore;
    this.#waitedBefore = waited;
    return longest;
  }
}

/** What an adapter gives the monitor: here it only counts. */
class CountingDriver implements Driver<FakeSocket> {
  destroyed = 0;
  visits = 0;
  destroy(): void {
    this.destroyed++;
  }
}

class SamplingDriver extends CountingDriver {
  sample(): void {
    this.visits++;
  }
}

/** Shuffles in place with xorshift32 from `seed`, so every runtime sees the same orders. */
function shuffle(values: Int32Array, seed: number): Int32Array {
  let x = seed | 1;
  for (let i = values.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    const t = values[i];
    values[i] = values[j];
    values[j] = t;
  }
  return values;
}

function shuffled(ids: Int32Array): Int32Array {
  return shuffle(ids.slice(), 0x9e3779b9);
}

const RESOLUTION = 100; // ms, the monitor's default tick
const IDLE_TIMEOUT = 60_000; // ms: 600 ticks, within the 1024-slot wheel
const IDLE_TIMEOUT_TICKS = IDLE_TIMEOUT / RESOLUTION;
const LONG_TIMER = 3_600_000; // ms: timers in the comparisons never fire

// ---- 1. memory -------------------------------------------------------------------------------

/** Forces GCs, each from a fresh turn of the event loop, until the heap reading stops changing. */
async function settle(): Promise<number> {
  let bytes = Infinity;
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    collect();
    const now = heapBytes();
    if (i > 0 && Math.abs(now - bytes) < 64 * 1024) return now;
    bytes = now;
  }
  return bytes;
}

/**
 * Bytes per connection that `build` keeps alive beyond the sockets themselves and the array the
 * caller keeps its per-connection handles in (both allocated before the first reading). A small
 * build first compiles the code on the way, which the heap would otherwise count.
 */
async function bytesPer(
  n: number,
  build: (socks: FakeSocket[], handles: unknown[]) => () => void,
): Promise<number> {
  build(sockets(256), filled<unknown>(256, 0))();
  const socks = sockets(n);
  const handles = filled<unknown>(n, 0);
  const before = await settle();
  const teardown = build(socks, handles);
  const after = await settle();
  teardown();
  sink += socks.length + handles.length;
  return (after - before) / n;
}

function trackAll(
  options: MonitorOptions<FakeSocket>,
): (socks: FakeSocket[], handles: unknown[]) => () => void {
  return (socks, handles) => {
    const monitor = new LivenessMonitor<FakeSocket>({ ...options, clock: new HandClock() });
    for (let i = 0; i < socks.length; i++) handles[i] = monitor.track(socks[i]);
    return () => monitor.close();
  };
}

/** How many connections a variant is measured on, and how it is built. */
function memoryVariant(
  n: number,
  variant: MemoryVariant,
): [number, (socks: FakeSocket[], handles: unknown[]) => () => void] {
  switch (variant) {
    case "monitor":
      return [n, trackAll({ idleTimeout: IDLE_TIMEOUT })];
    case "monitor.heartbeat":
      return [
        n,
        trackAll({
          idleTimeout: IDLE_TIMEOUT,
          heartbeat: { interval: "30s", timeout: "10s", send: () => {} },
        }),
      ];
    case "setTimeout":
      return [Math.min(n, TIMER_SAMPLE_CAP), (socks, handles) => {
        for (let i = 0; i < socks.length; i++) {
          const sock = socks[i];
          handles[i] = setTimeout(() => sock.destroy(), LONG_TIMER);
        }
        return () => {
          for (let i = 0; i < socks.length; i++) clearTimeout(handles[i] as number);
        };
      }];
    case "wsRecipe":
      return [n, (socks, handles) => {
        const clients = new Set<WsSocket>();
        for (let i = 0; i < socks.length; i++) {
          const sock = socks[i] as WsSocket;
          sock.isAlive = true;
          clients.add(sock);
        }
        handles[0] = clients;
        return () => clients.clear();
      }];
  }
}

function canCollect(): boolean {
  if (collect()) return true;
  progress("memory skipped: no way to force a GC (node --expose-gc, deno --v8-flags=--expose-gc)");
  return false;
}

/**
 * All variants, MEMORY_RUNS times, in this process. Less exact than a process per reading (what the
 * parent process arranges): Bun kept the last closed monitor alive until the next one was built.
 */
async function benchMemory(n: number): Promise<void> {
  if (!canCollect()) return;
  const samples = new Map<MemoryVariant, number[]>(MEMORY_VARIANTS.map((v) => [v, []]));
  for (let run = 0; run < MEMORY_RUNS; run++) {
    for (const variant of MEMORY_VARIANTS) {
      const [count, build] = memoryVariant(n, variant);
      samples.get(variant)!.push(await bytesPer(count, build));
    }
  }
  for (const variant of MEMORY_VARIANTS) {
    const [count] = memoryVariant(n, variant);
    record(n, `memory.${variant}`, "B/conn", samples.get(variant)!, { sample: count });
  }
}

/** One reading of one variant, as a sample line for the parent process. */
async function memoryReading(n: number, variant: MemoryVariant): Promise<void> {
  if (!canCollect()) return;
  const [count, build] = memoryVariant(n, variant);
  const reading: Reading = {
    reading: `memory.${variant}`,
    n,
    count,
    value: await bytesPer(count, build),
  };
  process.stdout.write(`${JSON.stringify(reading)}\n`);
}

// ---- 2. marking activity ---------------------------------------------------------------------

/**
 * Times `pass`, a loop over `count` connections, in samples of about `sampleMs` (at least one pass);
 * the first two samples only warm up. Returns ns per operation.
 */
function markSamples(
  count: number,
  sampleMs: number,
  samples: number,
  pass: () => void,
  between: () => void,
): number[] {
  let passes = 1;
  const out: number[] = [];
  for (let s = -2; s < samples; s++) {
    between();
    const start = performance.now();
    for (let p = 0; p < passes; p++) pass();
    const ms = performance.now() - start;
    if (s === -2) passes = Math.max(1, Math.round(sampleMs / Math.max(ms, 0.001)));
    if (s >= 0) out.push(ms * 1e6 / (passes * count));
  }
  return out;
}

// The timed loops are top-level functions of their arguments, not closures over one run's objects.

function markReceived(monitor: LivenessMonitor<FakeSocket>, ids: Int32Array): void {
  for (let i = 0; i < ids.length; i++) monitor.received(ids[i]);
}

function markSent(monitor: LivenessMonitor<FakeSocket>, ids: Int32Array): void {
  for (let i = 0; i < ids.length; i++) monitor.sent(ids[i]);
}

function markAlive(socks: readonly WsSocket[], alive: boolean): void {
  for (let i = 0; i < socks.length; i++) socks[i].isAlive = alive;
}

type Timer = ReturnType<typeof setTimeout>;

function rearm(timers: Timer[], onIdle: readonly (() => void)[]): void {
  for (let i = 0; i < timers.length; i++) {
    clearTimeout(timers[i]);
    timers[i] = setTimeout(onIdle[i], LONG_TIMER);
  }
}

function refresh(timers: readonly { refresh(): unknown }[]): void {
  for (let i = 0; i < timers.length; i++) timers[i].refresh();
}

interface Marking {
  readonly monitor: LivenessMonitor<FakeSocket>;
  readonly ids: Int32Array;
  /** Fired between samples: the value written changes, so no pass repeats the last one. */
  readonly nextTick: () => void;
  /** Proves the last pass wrote what it should have. */
  readonly check: (field: "lastReceived" | "lastSent") => void;
}

function marking(socks: readonly FakeSocket[]): Marking {
  const n = socks.length;
  const clock = new HandClock();
  const monitor = new LivenessMonitor<FakeSocket>({
    idleTimeout: IDLE_TIMEOUT,
    resolution: RESOLUTION,
    clock,
  });
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = monitor.track(socks[i]);
  return {
    monitor,
    ids,
    nextTick: () => {
      clock.fire(RESOLUTION);
    },
    check: (field) => {
      for (let k = 0; k < 8; k++) {
        const info = monitor.info(ids[(k * 7919) % n]);
        if (info === undefined || info[field] !== clock.time) {
          throw new Error(`A mark was lost: ${field} is ${info?.[field]}, expected ${clock.time}`);
        }
        sink += info[field];
      }
    },
  };
}

function benchMark(n: number): void {
  const socks = sockets(n);
  const { monitor, ids, nextTick, check } = marking(socks);
  const randomIds = shuffled(ids);

  record(
    n,
    "mark.received",
    "ns/op",
    markSamples(n, MARK_SAMPLE_MS, MARK_SAMPLES, () => markReceived(monitor, ids), nextTick),
  );
  check("lastReceived");
  record(
    n,
    "mark.sent",
    "ns/op",
    markSamples(n, MARK_SAMPLE_MS, MARK_SAMPLES, () => markSent(monitor, ids), nextTick),
  );
  check("lastSent");
  record(
    n,
    "mark.received.shuffled",
    "ns/op",
    markSamples(n, MARK_SAMPLE_MS, MARK_SAMPLES, () => markReceived(monitor, randomIds), nextTick),
  );
  check("lastReceived");
  sink += monitor.state(ids[n - 1]) === "open" ? 1 : 0;
  monitor.close();

  // The ws recipe: the socket object is at hand in its event handler.
  const wsSocks = socks as WsSocket[];
  for (let i = 0; i < n; i++) wsSocks[i].isAlive = false;
  const randomSocks = Array.from(randomIds, (id) => wsSocks[id & 0xffffff]);
  let flip = true;
  const toggle = (): void => {
    flip = !flip;
  };
  record(
    n,
    "mark.wsRecipe",
    "ns/op",
    markSamples(n, MARK_SAMPLE_MS, MARK_SAMPLES, () => markAlive(wsSocks, flip), toggle),
  );
  record(
    n,
    "mark.wsRecipe.shuffled",
    "ns/op",
    markSamples(n, MARK_SAMPLE_MS, MARK_SAMPLES, () => markAlive(randomSocks, flip), toggle),
  );
  sink += wsSocks[n >> 1].isAlive ? 1 : 0;

  // One timer per connection, re-armed on activity: on at most TIMER_SAMPLE_CAP connections.
  const count = Math.min(n, TIMER_SAMPLE_CAP);
  const onIdle = Array.from({ length: count }, (_, i) => () => socks[i].destroy());
  const timers: Timer[] = [];
  for (let i = 0; i < count; i++) timers.push(setTimeout(onIdle[i], LONG_TIMER));
  record(
    n,
    "mark.rearm",
    "ns/op",
    markSamples(count, TIMER_SAMPLE_MS, TIMER_SAMPLES, () => rearm(timers, onIdle), () => {}),
    { sample: count },
  );
  const refreshable = timers[0] as unknown as { refresh?: () => unknown };
  if (typeof refreshable.refresh === "function") {
    const handles = timers as unknown as { refresh(): unknown }[];
    record(
      n,
      "mark.refresh",
      "ns/op",
      markSamples(count, TIMER_SAMPLE_MS, TIMER_SAMPLES, () => refresh(handles), () => {}),
      { sample: count },
    );
  }
  for (let i = 0; i < count; i++) clearTimeout(timers[i]);
}

/**
 * Marks as in benchMark, after this process has built monitors with other options (as an
 * application with several kinds of server would) before any mark. Depending on such history, V8
 * (seen with Node 24 and 26) compiled received() with a generic property load per private field,
 * about 10x slower. In a process of its own, as the order matters.
 */
async function benchMixed(n: number): Promise<void> {
  const count = Math.min(n, 10_000);
  for (let run = 0; run < 3; run++) {
    await bytesPer(count, trackAll({ idleTimeout: IDLE_TIMEOUT }));
    await bytesPer(
      count,
      trackAll({
        idleTimeout: IDLE_TIMEOUT,
        heartbeat: { interval: "30s", timeout: "10s", send: () => {} },
      }),
    );
  }
  const { monitor, ids, nextTick, check } = marking(sockets(n));
  record(
    n,
    "mark.received.mixed",
    "ns/op",
    markSamples(n, MARK_SAMPLE_MS, MARK_SAMPLES, () => markReceived(monitor, ids), nextTick),
  );
  check("lastReceived");
  monitor.close();
}

// ---- 3. scheduler ticks ----------------------------------------------------------------------

interface TickRun {
  /** The longest slice of each timed tick; NaN for a disturbed one (see WAITED_MS). */
  readonly idle: number[];
  /** The longest slice of the run's first expiring tick (see EXPIRY_TICKS). */
  readonly firstDeaths: number;
  readonly expiry: number[];
  /** The expiring ticks' whole work (all slices; NaN when disturbed) and how many slices each took. */
  readonly expiryTotal: number[];
  readonly expirySlices: number[];
  /** How long this thread waited for a CPU in each disturbed tick (since the tick before), in ms. */
  readonly waited: number[];
  readonly idleVisits: number[];
  readonly expiryVisits: number[];
}

/**
 * A server's life on a hand-fired clock: N connections arrive over 60 s, each receives something
 * every 10 s (1% of them are marked between consecutive ticks), the idle timeout is 60 s. Once every
 * connection has been visited by the wheel at least once, ticks with nothing to expire are timed
 * (each still re-files the connections whose old deadline came); then 1% of the connections go
 * quiet together, and the tick that declares them dead is timed (the dead are replaced by new
 * connections, as a server's would be). The first such tick of a run is the new monitor's first
 * deaths: it is kept apart (`firstDeaths`), see EXPIRY_TICKS.
 *
 * With `sampling`, the driver counts the slots each tick visits instead (its hook costs a call per
 * visit, so that run is not timed).
 */
function tickRun(n: number, sampling: boolean): TickRun {
  const clock = new HandClock();
  const driver = sampling ? new SamplingDriver() : new CountingDriver();
  const monitor = new LivenessMonitor<FakeSocket>({
    idleTimeout: IDLE_TIMEOUT,
    resolution: RESOLUTION,
    clock,
  });
  const socks = sockets(n);
  const ids = new Int32Array(n);
  const quiet = new Uint8Array(n); // 1 while a connection is kept quiet to expire
  // Every connection is marked once per PERIOD ticks, in an order shuffled anew for each round, so
  // that the gap between two marks varies (1 to 2 * PERIOD - 1 ticks) as it does on a real server
  // and connections marked together do not stay together on the wheel.
  const PERIOD = 100;
  const perTick = Math.ceil(n / PERIOD);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let round = 1;
  shuffle(order, round);
  let cursor = 0;
  const markSome = (): void => {
    for (let k = 0; k < perTick; k++) {
      const i = order[cursor];
      if (quiet[i] === 0) monitor.received(ids[i]);
      if (++cursor === n) {
        cursor = 0;
        shuffle(order, ++round);
      }
    }
  };
  const visitsOf = (): number => {
    const v = driver.visits;
    driver.visits = 0;
    return v;
  };

  // Arrivals over one idle timeout (marking an id not yet tracked is ignored), then enough ticks for
  // every first deadline to pass.
  const arrivals = Math.ceil(n / IDLE_TIMEOUT_TICKS);
  for (let t = 0, i = 0; t < IDLE_TIMEOUT_TICKS; t++) {
    for (const end = Math.min(n, i + arrivals); i < end; i++) {
      ids[i] = monitor.track(socks[i], driver);
    }
    markSome();
    clock.fire(RESOLUTION);
  }
  for (let t = 0; t < IDLE_TIMEOUT_TICKS + PERIOD; t++) {
    markSome();
    clock.fire(RESOLUTION);
  }
  visitsOf();
  // The setup's garbage (a million contexts tracked, the arrays grown on the way) is collected
  // now: a major GC it started would otherwise finish, in one pause of 40-75 ms at 1M, inside
  // whichever timed tick runs then. The ticks themselves allocate nothing that needs one.
  if (!sampling) collect();
  // The first tick after it took 2-4 ms on Node 26 in most runs, with no wait for a CPU: the code
  // and data the collection moved or dropped, brought back. Not the monitor's work: not timed (the
  // counting run does the same tick, so the two stay in step).
  markSome();
  clock.fire(RESOLUTION);
  visitsOf();

  const waited: number[] = [];
  const timed = (ms: number): number => {
    if (clock.waited < WAITED_MS) return ms;
    waited.push(clock.waited);
    return NaN;
  };
  const idle: number[] = [];
  const idleVisits: number[] = [];
  for (let t = 0; t < IDLE_TICKS; t++) {
    markSome();
    idle.push(timed(clock.fire(RESOLUTION)));
    idleVisits.push(visitsOf());
  }
  if (driver.destroyed !== 0) throw new Error(`${driver.destroyed} died in ticks meant to be idle`);

  // Group g (every 100th connection from g) is marked one last time, then kept quiet: it is due in
  // one tick, IDLE_TIMEOUT_TICKS + 1 ticks after the tick of that mark (the fire IDLE_TIMEOUT_TICKS
  // loop steps later). Groups start SPACING ticks apart.
  const SPACING = 10;
  const due = new Map<number, number>(); // tick index -> group
  let firstDeaths = NaN;
  const expiry: number[] = [];
  const expiryTotal: number[] = [];
  const expirySlices: number[] = [];
  const expiryVisits: number[] = [];
  const last = EXPIRY_TICKS * SPACING + IDLE_TIMEOUT_TICKS;
  for (let t = 0; t <= last; t++) {
    if (t % SPACING === 0 && t / SPACING <= EXPIRY_TICKS) {
      const group = t / SPACING;
      for (let i = group; i < n; i += 100) {
        monitor.received(ids[i]);
        quiet[i] = 1;
      }
      due.set(t + IDLE_TIMEOUT_TICKS, group);
    }
    markSome();
    const before: number = driver.destroyed;
    const ms = clock.fire(RESOLUTION);
    const group = due.get(t);
    if (group === undefined) {
      visitsOf();
      if (driver.destroyed !== before) throw new Error("A connection died off schedule");
      continue;
    }
    if (group === 0) {
      firstDeaths = timed(ms);
      visitsOf();
    } else {
      expiry.push(timed(ms));
      expiryTotal.push(Number.isNaN(expiry[expiry.length - 1]) ? NaN : clock.total);
      expirySlices.push(clock.slices);
      expiryVisits.push(visitsOf());
    }
    const size = Math.ceil((n - group) / 100);
    if (driver.destroyed - before !== size) {
      throw new Error(`Expected ${size} deaths in one tick, got ${driver.destroyed - before}`);
    }
    for (let i = group; i < n; i += 100) {
      ids[i] = monitor.track(socks[i], driver);
      quiet[i] = 0;
    }
  }
  sink += monitor.size;
  monitor.close();
  return { idle, firstDeaths, expiry, expiryTotal, expirySlices, waited, idleVisits, expiryVisits };
}

function benchTick(n: number): void {
  // The scenario is deterministic, so the counting run visits what each timed run visits, tick by
  // tick: that gives the cost per visited slot.
  const counted = tickRun(n, true);
  collect();
  const idle: number[] = [];
  const firstDeaths: number[] = [];
  const expiry: number[] = [];
  const expiryTotal: number[] = [];
  const expirySlices: number[] = [];
  const waited: number[] = [];
  const idlePerSlot: number[] = [];
  const expiryPerSlot: number[] = [];
  const perSlot = (ms: readonly number[], visits: readonly number[], out: number[]): void => {
    ms.forEach((t, i) => {
      if (visits[i] > 0 && !Number.isNaN(t)) out.push(t * 1e6 / visits[i]);
    });
  };
  for (let run = 0; run < TICK_RUNS; run++) {
    const r = tickRun(n, false);
    idle.push(...r.idle);
    firstDeaths.push(r.firstDeaths);
    expiry.push(...r.expiry);
    expiryTotal.push(...r.expiryTotal);
    expirySlices.push(...r.expirySlices);
    waited.push(...r.waited);
    perSlot(r.idle, counted.idleVisits, idlePerSlot);
    perSlot(r.expiryTotal, counted.expiryVisits, expiryPerSlot);
    collect(); // the next run starts from a clean heap
  }
  const kept = (ticks: readonly number[]): number[] => ticks.filter((ms) => !Number.isNaN(ms));
  record(n, "tick.idle", "ms", kept(idle), { p99: true });
  record(n, "tick.idle.visits", "slots", counted.idleVisits);
  record(n, "tick.idle.perSlot", "ns/slot", idlePerSlot);
  // The longest slice: how long the event loop was held at once (the goal); then all the work.
  record(n, "tick.expire1pct", "ms", kept(expiry), { p99: true });
  record(n, "tick.expire1pct.total", "ms", kept(expiryTotal), { p99: true });
  record(n, "tick.expire1pct.slices", "slices", expirySlices);
  record(n, "tick.expire1pct.visits", "slots", counted.expiryVisits);
  record(n, "tick.expire1pct.perSlot", "ns/slot", expiryPerSlot);
  record(n, "tick.firstDeaths", "ms", kept(firstDeaths));
  // The ticks left out, and how long this thread waited for a CPU in each.
  record(n, "tick.idle.disturbed", "ticks", [idle.length - kept(idle).length]);
  record(n, "tick.expire1pct.disturbed", "ticks", [expiry.length - kept(expiry).length]);
  record(n, "tick.firstDeaths.disturbed", "ticks", [firstDeaths.length - kept(firstDeaths).length]);
  if (waited.length > 0) record(n, "tick.disturbed.waited", "ms", waited);
}

// ---- 4. sweeps -------------------------------------------------------------------------------

/** Counts the connections quiet since before `cutoff`: what a periodic sweep has to do. */
function scan(lastSeen: Float64Array, cutoff: number): number {
  let expired = 0;
  for (let i = 0; i < lastSeen.length; i++) if (lastSeen[i] < cutoff) expired++;
  return expired;
}

/** The `ws` recipe's interval: every client is checked and its flag cleared (pings left out). */
function sweepClients(clients: Set<WsSocket>): number {
  let dead = 0;
  for (const ws of clients) {
    if (!ws.isAlive) dead++;
    ws.isAlive = false;
  }
  return dead;
}

function reviveClients(clients: Set<WsSocket>): void {
  for (const ws of clients) ws.isAlive = true;
}

/** Times `sweep` (ms), after enough untimed calls for the JIT to have optimized it. */
function sweepSamples(n: number, sweep: (sample: number) => number, before: () => void): number[] {
  const warmup = Math.max(3, Math.ceil(3_000_000 / n));
  const out: number[] = [];
  for (let s = -warmup; s < SWEEP_SAMPLES; s++) {
    before();
    const start = performance.now();
    sink += sweep(s);
    const ms = performance.now() - start;
    if (s >= 0) out.push(ms);
  }
  return out;
}

function benchSweep(n: number): void {
  // A loop over N last-activity timestamps, in the best case: a Float64Array.
  const lastSeen = new Float64Array(n);
  const now = 1_000_000;
  for (let i = 0; i < n; i++) lastSeen[i] = now - (i % 50_000);
  // The cutoff varies so that no sample can reuse another's result.
  record(
    n,
    "sweep.scan",
    "ms",
    sweepSamples(n, (s) => scan(lastSeen, now - IDLE_TIMEOUT - s), () => {}),
  );

  const clients = new Set<WsSocket>();
  for (const sock of sockets(n)) clients.add(sock as WsSocket);
  record(
    n,
    "sweep.wsRecipe",
    "ms",
    sweepSamples(n, () => sweepClients(clients), () => reviveClients(clients)),
  );
}

// ---- main ------------------------------------------------------------------------------------

function table(): string {
  const rows = results.map((r) => [
    r.metric,
    String(r.n),
    `${r.median}`,
    `${r.min}–${r.max}`,
    r.unit,
    String(r.runs) + (r.sample !== undefined ? ` (sample ${r.sample})` : ""),
    r.goal === undefined ? "" : `${r.met ? "met" : "NOT MET"}: ${r.goal}`,
  ]);
  const head = ["metric", "n", "median", "min–max", "unit", "runs", "goal"];
  const width = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => c === 0 ? cell.padEnd(width[c]) : cell.padStart(width[c])).join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

async function measure(n: number): Promise<void> {
  const steps: [Group, (n: number) => void | Promise<void>][] = [
    ["memory", benchMemory],
    ["mark", benchMark],
    ["mixed", benchMixed],
    ["tick", benchTick],
    ["sweep", benchSweep],
  ];
  for (const [group, run] of steps) {
    if (!settings.groups.has(group)) continue;
    const t0 = performance.now();
    await run(n);
    collect();
    progress(`n=${n} ${group}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}

/** This runtime again, with a way to force a GC, on this script. */
function childCommand(): [string, string[]] {
  const script = fileURLToPath(import.meta.url);
  if (runtime === "deno") {
    return [process.execPath, ["run", "-A", "--v8-flags=--expose-gc", script]];
  }
  if (runtime === "bun") return [process.execPath, [script]];
  const flags = process.execArgv.includes("--expose-gc")
    ? process.execArgv
    : [...process.execArgv, "--expose-gc"];
  return [process.execPath, [...flags, script]];
}

/** A single memory reading, which the parent aggregates over runs (one child process each). */
interface Reading {
  readonly reading: string;
  readonly n: number;
  readonly count: number;
  readonly value: number;
}

/** Runs this script in a child process; returns whether it succeeded, and its stdout lines. */
function runChild(extra: readonly string[], label: string): Promise<[boolean, unknown[]]> {
  const [command, args] = childCommand();
  const child = spawn(command, [...args, quick ? "--quick" : "--full", ...extra, "--in-process"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: unknown[] = [];
  let pending = "";
  const take = (line: string): void => {
    if (line.trim() !== "") lines.push(JSON.parse(line));
  };
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    const parts = (pending + chunk).split("\n");
    pending = parts.pop() ?? "";
    parts.forEach(take);
  });
  return new Promise((resolve) => {
    child.on("close", (code) => {
      take(pending);
      if (code !== 0) progress(`${label}: the child process failed (exit code ${code})`);
      resolve([code === 0, lines]);
    });
  });
}

/**
 * Measures one group at one size in child processes: what ran before changes both the heap and
 * the JIT's type feedback (V8 marked 8x slower after the memory group's monitors), so each group
 * gets a process, and each memory reading one of its own.
 */
async function measureInChildren(n: number, group: Group): Promise<boolean> {
  if (group !== "memory") {
    const [ok, lines] = await runChild(["--n", String(n), "--only", group], `n=${n} ${group}`);
    for (const line of lines) {
      results.push(line as Result);
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
    return ok;
  }
  const t0 = performance.now();
  let ok = true;
  const readings = new Map<MemoryVariant, number[]>(MEMORY_VARIANTS.map((v) => [v, []]));
  for (let run = 0; run < MEMORY_RUNS; run++) {
    for (const variant of MEMORY_VARIANTS) {
      const [fine, lines] = await runChild(
        ["--n", String(n), "--only", "memory", "--variant", variant],
        `n=${n} memory.${variant}`,
      );
      ok &&= fine;
      for (const line of lines as Reading[]) readings.get(variant)!.push(line.value);
    }
  }
  for (const variant of MEMORY_VARIANTS) {
    const values = readings.get(variant)!;
    if (values.length > 0) {
      record(n, `memory.${variant}`, "B/conn", values, { sample: memoryVariant(n, variant)[0] });
    }
  }
  progress(`n=${n} memory: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return ok;
}

const started = performance.now();
let ok = true;
if (settings.variant !== undefined) {
  for (const n of settings.sizes) await memoryReading(n, settings.variant);
} else if (settings.inProcess) {
  for (const n of settings.sizes) await measure(n);
} else {
  progress(`${quick ? "quick" : "full"} run, n = ${settings.sizes.join(", ")}`);
  for (const n of settings.sizes) {
    for (const group of GROUPS) {
      if (settings.groups.has(group)) ok = (await measureInChildren(n, group)) && ok;
    }
  }
  process.stderr.write(`\n${table()}\n`);
  progress(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
if (sink === -1) process.stderr.write("\n"); // keeps every sink live
if (!ok) process.exitCode = 1;
