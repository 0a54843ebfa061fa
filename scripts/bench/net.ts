// End-to-end cost of liveness tracking on real loopback sockets, for one runtime's adapter:
//
//   e2e     an echo server with and without tracking (keepalive tuned through the adapter,
//           activity tracked, a monitor with idleTimeout and a 1 s heartbeat): C connections, each
//           doing T round trips of 64 bytes, one in flight. Both servers run throughout and are
//           measured in turns (A B, B A, A B, …): round trips per second, tracked / plain
//           (e2e.ratio), and the servers' CPU time per round trip, plain / tracked (e2e.capacity:
//           what a server at its limit would see). Then both at once, half the connections each,
//           for a fixed time (e2e.sideBySide; full run only).
//   accept  connect/close many connections (K at a time): the server accepts, writes one byte and
//           closes. Plain; tuned (plain, its listener tuned once by tuneServer and nothing tracked:
//           what the kernel's keepalive costs by itself); tracked without FFI; tracked with FFI (the
//           listening socket tuned once, so accepted connections inherit its options and one in 64
//           or fewer is read back); rates and CPU time per connection as above, measured in turns
//           (A B C D, B C D A, …) and given as median and min–max over the rounds; then tracked side
//           by side with plain and with tuned, connections alternating between the two in one
//           window (accept.sideBySide: a disturbance hits both alike; .overTuned: against the
//           same kernel work, the library's own share); and the FFI calls per connection, counted
//           on a server of their own. On Deno
//           also scripts/bench_deno_fd.ts: a lookup with 10,000 connections open (full run only).
//
// Rounds disturbed by other processes or a slowed host are measured again: see rounds().
//
// This process is the load generator (node:net, on whatever Node runs it); the servers are child
// processes of the target runtime (_server_<runtime>.ts). Traffic stays on 127.0.0.1.
//
//   node scripts/bench/net.ts --target deno [--quick | --full] [--only e2e,accept]
//
// JSON lines on stdout (as core.ts), a table on stderr.

import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import process from "node:process";
import { Buffer } from "node:buffer";
import {
  BenchServer,
  cpu,
  type EchoLoad,
  type EchoPhase,
  echoPhase,
  guarded,
  type Guards,
  notes,
  type Phase,
  rounds as roundsOf,
} from "./_harness.ts";
import { commonArgs, Recorder } from "./_results.ts";
import { command, family, parseTarget, root, type Target, versionOf } from "./_runtimes.ts";
import type { Kind, Mode } from "./_server.ts";

const GROUPS = ["e2e", "accept"] as const;
type Group = (typeof GROUPS)[number];

let target = "node24" as Target;
const { quick, groups } = commonArgs<Group>(
  process.argv.slice(2),
  GROUPS,
  "net.ts --target node24|node26|deno|bun [--quick | --full] [--only e2e,accept]",
  { "--target": (value) => target = parseTarget(value) },
);

// Quick mode: a few seconds per runtime. Many short rounds rather than a few long ones: the machine
// is shared, and a burst of other work then spoils a few rounds instead of most of a long one.
const E2E_CONNECTIONS = quick ? 200 : 500;
const E2E_TRIPS = quick ? 100 : 150;
const E2E_ROUNDS = quick ? 3 : 24;
const E2E_WARMUP_TRIPS = quick ? 100 : 150;
const E2E_PAIR_MS = 500;
const E2E_PAIR_ROUNDS = quick ? 0 : 16; // none in --quick
const E2E_SIZE = 64;
const ACCEPT_CONNECTIONS = quick ? 600 : 3_000;
const ACCEPT_CONCURRENCY = 32;
const ACCEPT_ROUNDS = quick ? 3 : 6;
// Each server accepts this many before the rounds: a server at its limit is long past its first
// connections, whose cost the rounds must not carry. On Bun the adapter's servers (tracked, noffi)
// kept getting cheaper per connection for some 15,000 (most likely the engine compiling their
// paths), whatever the time between: in rounds of 3,000 after 10,000, the first two cost 3–8 µs
// more than the later ones, also after a 3 s pause; after 20,000 the rounds were flat, and the
// plain and tuned servers' were flat throughout.
const ACCEPT_WARMUP = quick ? 600 : 20_000;
const ACCEPT_PAIR_ROUNDS = quick ? 3 : 8;
const FFI_COUNT_CONNECTIONS = quick ? 200 : 500;
const CONNECT_CONCURRENCY = 100;
const DENO_FD_OPEN = 10_000;
const DENO_FD_CHURN = 2_000;
const DENO_FD_RUNS = 3;
// The noise guards of rounds(): a phase is disturbed when other processes used more than 0.15
// cores, or the server's CPU per unit of work exceeds 1.35x the least seen.
const GUARDS: Guards = { othersLimit: 0.15, slowLimit: 1.35, maxRetries: quick ? 2 : 30 };

function progress(message: string): void {
  process.stderr.write(`[net ${target}] ${message}\n`);
}

// ---- servers ---------------------------------------------------------------------------------

/** A benchmark server of the target (`_server_<runtime>.ts`) in `mode`, labelled by it. */
function server(mode: Mode, kind: Kind, count = false): BenchServer {
  return new BenchServer(target, "_server", { mode, kind, count }, mode, progress);
}

/** One server per mode, started together. */
async function startAll(modes: readonly Mode[], kind: Kind): Promise<Map<Mode, BenchServer>> {
  const servers = modes.map((mode) => server(mode, kind));
  await Promise.all(servers.map((each) => each.start()));
  return new Map(modes.map((mode, i) => [mode, servers[i]]));
}

// ---- the load ----------------------------------------------------------------------------------

function openConnections(port: number, count: number): Promise<Socket[]> {
  return new Promise((resolve, reject) => {
    const sockets: Socket[] = [];
    let started = 0;
    const next = (): void => {
      if (started >= count) return;
      started++;
      const socket = connect({ port, host: "127.0.0.1", noDelay: true });
      socket.once("error", reject);
      socket.once("connect", () => {
        sockets.push(socket);
        if (sockets.length === count) resolve(sockets);
        else next();
      });
    };
    for (let i = 0; i < Math.min(CONNECT_CONCURRENCY, count); i++) next();
  });
}

/** Every socket does `trips` round trips of `size` bytes, one in flight; resolves with the ms. */
function echoWindow(sockets: readonly Socket[], trips: number, size: number): Promise<number> {
  const message = Buffer.alloc(size, 0x61);
  const expected = trips * size;
  return new Promise((resolve, reject) => {
    let remaining = sockets.length;
    const started = performance.now();
    for (const socket of sockets) {
      let received = 0;
      const onData = (chunk: Buffer): void => {
        received += chunk.length;
        if (received === expected) {
          socket.off("data", onData);
          if (--remaining === 0) resolve(performance.now() - started);
        } else if (received % size === 0) socket.write(message);
      };
      socket.on("data", onData);
      socket.once("error", reject);
      socket.write(message);
    }
  });
}

/**
 * Both sets of sockets at once, each doing round trips until `ms` have passed; resolves with the
 * round trips each set completed by then.
 */
function pairWindow(
  sets: readonly (readonly Socket[])[],
  size: number,
  ms: number,
): Promise<number[]> {
  const message = Buffer.alloc(size, 0x61);
  const done = sets.map(() => 0);
  return new Promise((resolve, reject) => {
    let running = sets.reduce((sum, set) => sum + set.length, 0);
    const deadline = performance.now() + ms;
    // Interleaved, so that neither set gets its first turn sooner.
    const longest = Math.max(...sets.map((set) => set.length));
    for (let i = 0; i < longest; i++) {
      sets.forEach((set, which) => {
        const socket = set[i];
        if (socket === undefined) return;
        let received = 0;
        const onData = (chunk: Buffer): void => {
          received += chunk.length;
          if (received % size !== 0) return;
          if (performance.now() < deadline) {
            done[which]++;
            socket.write(message);
          } else {
            socket.off("data", onData);
            if (--running === 0) resolve(done);
          }
        };
        socket.on("data", onData);
        socket.once("error", reject);
        socket.write(message);
      });
    }
  });
}

/** Connects `total` times, `concurrency` at a time; each reads the server's byte until its close. */
function acceptWindow(port: number, total: number, concurrency: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let started = 0;
    let finished = 0;
    const t0 = performance.now();
    const next = (): void => {
      if (started >= total) return;
      started++;
      const socket = connect({ port, host: "127.0.0.1" });
      let bytes = 0;
      socket.on("data", (chunk: Buffer) => void (bytes += chunk.length));
      socket.once("error", reject);
      socket.once("close", () => {
        if (bytes !== 1) return reject(new Error(`a connection read ${bytes} bytes, not 1`));
        if (++finished === total) resolve(performance.now() - t0);
        else next();
      });
    };
    for (let i = 0; i < Math.min(concurrency, total); i++) next();
  });
}

/**
 * Like acceptWindow, against several servers at once: connection i goes to ports[i % ports.length],
 * so every server sees the same stream of connections at the same moments.
 */
function acceptPairWindow(
  ports: readonly number[],
  total: number,
  concurrency: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let started = 0;
    let finished = 0;
    const t0 = performance.now();
    const next = (): void => {
      if (started >= total) return;
      const socket = connect({ port: ports[started++ % ports.length], host: "127.0.0.1" });
      let bytes = 0;
      socket.on("data", (chunk: Buffer) => void (bytes += chunk.length));
      socket.once("error", reject);
      socket.once("close", () => {
        if (bytes !== 1) return reject(new Error(`a connection read ${bytes} bytes, not 1`));
        if (++finished === total) resolve(performance.now() - t0);
        else next();
      });
    };
    for (let i = 0; i < Math.min(concurrency, total); i++) next();
  });
}

// ---- rounds ------------------------------------------------------------------------------------

/** `rounds()` of _harness.ts with this script's guards and log. */
function rounds<K extends string, P extends Phase>(
  group: string,
  modes: readonly K[],
  wanted: number,
  measure: (mode: K) => Promise<P>,
): ReturnType<typeof roundsOf<K, P>> {
  return roundsOf(group, modes, wanted, GUARDS, measure, progress);
}

// ---- e2e ---------------------------------------------------------------------------------------

const TCP_ECHO: EchoLoad<Socket> = {
  open: openConnections,
  trips: (sockets, trips) => echoWindow(sockets, trips, E2E_SIZE),
  close: (socket) => socket.destroy(),
};

interface PairPhase extends Phase {
  /** Round trips per second of each mode's connections. */
  rates: Map<Mode, number>;
  /** Server CPU per round trip of each mode. */
  cpus: Map<Mode, number>;
}

/**
 * Both servers at once: half the connections to each, driven together for a fixed time. A slowed
 * host or a burst of other work then hits both alike, so their ratio holds still where the
 * interleaved rounds' does not; the three busy processes share 2 cores, so each server runs at
 * its capacity and the ratio is one of capacities.
 */
async function pairPhase(servers: Map<Mode, BenchServer>, connections: number): Promise<PairPhase> {
  const modes = [...servers.keys()];
  const before = await Promise.all(modes.map((mode) => servers.get(mode)!.stats()));
  const sets = await Promise.all(
    modes.map((mode) => openConnections(servers.get(mode)!.port, connections / modes.length)),
  );
  await Promise.all(
    modes.map((mode, i) => servers.get(mode)!.accepted(before[i].accepted + sets[i].length)),
  );
  const s0 = await Promise.all(modes.map((mode) => servers.get(mode)!.stats()));
  const { done, s1, others } = await guarded(async () => {
    const done = await pairWindow(sets, E2E_SIZE, E2E_PAIR_MS);
    const s1 = await Promise.all(modes.map((mode) => servers.get(mode)!.stats()));
    return { done, s1, ours: s1.reduce((sum, s, i) => sum + cpu(s) - cpu(s0[i]), 0) };
  });
  const seconds = E2E_PAIR_MS / 1000;
  for (const set of sets) for (const socket of set) socket.destroy();
  await Promise.all(
    modes.map((mode, i) => servers.get(mode)!.drained(before[i].accepted + sets[i].length)),
  );
  const rates = new Map(modes.map((mode, i) => [mode, done[i] / seconds]));
  const cpus = new Map(modes.map((mode, i) => [mode, (cpu(s1[i]) - cpu(s0[i])) / done[i]]));
  return {
    others,
    rate: done.reduce((sum, n) => sum + n, 0) / seconds,
    cpu: [...cpus.values()].reduce((sum, c) => sum + c, 0),
    rates,
    cpus,
  };
}

async function benchE2e(record: Recorder): Promise<void> {
  const modes: Mode[] = ["plain", "tracked"];
  const servers = await startAll(modes, "echo");
  const n = E2E_CONNECTIONS;
  try {
    for (const mode of modes) await echoPhase(servers.get(mode)!, n, E2E_WARMUP_TRIPS, TCP_ECHO);
    const { kept, note: disturbed } = await rounds(
      "e2e",
      modes,
      E2E_ROUNDS,
      (mode) => echoPhase(servers.get(mode)!, n, E2E_TRIPS, TCP_ECHO),
    );
    const of = (mode: Mode): EchoPhase[] => kept.map((round) => round.get(mode)!);
    const [plain, tracked] = [of("plain"), of("tracked")];
    const applied = Math.min(...tracked.map((p) => p.applied));
    const pings = tracked.reduce((sum, p) => sum + p.pings, 0);
    const dead = tracked.reduce((sum, p) => sum + p.dead, 0);
    const note = notes([
      applied < n && `user timeout applied on ${applied} of ${n} connections`,
      (pings > 0 || dead > 0) && `${pings} pings due and ${dead} deaths in the windows`,
      disturbed ?? false,
    ]);
    const ratios = tracked.map((p, i) => p.rate / plain[i].rate);
    record.record(n, "e2e.ratio", "tracked/plain", ratios, { min: 0.97, text: ">= 0.97" }, note);
    // A server that is the bottleneck serves in inverse proportion to its CPU time per round trip.
    record.record(n, "e2e.capacity", "tracked/plain", tracked.map((p, i) => plain[i].cpu / p.cpu), {
      min: 0.97,
      text: ">= 0.97 (server-bound)",
    });
    record.record(
      n,
      "e2e.others",
      "cores",
      kept.flatMap((round) => [...round.values()].map((p) => p.others)),
    );
    for (const mode of modes) {
      const list = of(mode);
      record.record(n, `e2e.rate.${mode}`, "round trips/s", list.map((p) => p.rate));
      record.record(n, `e2e.cpu.${mode}`, "µs/round trip", list.map((p) => p.cpu));
      record.record(n, `e2e.busy.${mode}`, "cores", list.map((p) => p.busy));
      record.record(n, `e2e.clientBusy.${mode}`, "cores", list.map((p) => p.clientBusy));
    }
    if (E2E_PAIR_ROUNDS > 0) {
      const pairs = await rounds(
        "e2e side by side",
        ["both"],
        E2E_PAIR_ROUNDS,
        () => pairPhase(servers, n),
      );
      record.record(
        n,
        "e2e.sideBySide",
        "tracked/plain",
        pairs.kept.map((round) => {
          const rates = round.get("both")!.rates;
          return rates.get("tracked")! / rates.get("plain")!;
        }),
        { min: 0.97, text: ">= 0.97 (both at once)" },
        pairs.note,
      );
    }
  } finally {
    for (const server of servers.values()) await server.stop();
  }
}

// ---- accept ------------------------------------------------------------------------------------

interface AcceptPhase extends Phase {
  applied: number;
}

async function acceptPhase(server: BenchServer, total: number): Promise<AcceptPhase> {
  const s0 = await server.stats();
  const { ms, s1, others } = await guarded(async () => {
    const t0 = performance.now();
    await acceptWindow(server.port, total, ACCEPT_CONCURRENCY);
    const ms = performance.now() - t0;
    const s1 = await server.drained(s0.accepted + total);
    return { ms, s1, ours: cpu(s1) - cpu(s0) };
  });
  return {
    others,
    rate: total / (ms / 1000),
    cpu: (cpu(s1) - cpu(s0)) / total,
    applied: s1.applied - s0.applied,
  };
}

interface AcceptPairPhase extends Phase {
  /** Server CPU per connection of each mode. */
  cpus: Map<Mode, number>;
}

/**
 * Two servers at once (plain or tuned, and tracked), connections alternating between them: a
 * slowed host or a burst of other work hits both alike, so their CPU per connection compares
 * without luck.
 */
async function acceptPairPhase(
  servers: Map<Mode, BenchServer>,
  total: number,
  modes: readonly Mode[],
): Promise<AcceptPairPhase> {
  const each = total / modes.length;
  const s0 = await Promise.all(modes.map((mode) => servers.get(mode)!.stats()));
  const { ms, s1, others } = await guarded(async () => {
    const ms = await acceptPairWindow(
      modes.map((mode) => servers.get(mode)!.port),
      total,
      ACCEPT_CONCURRENCY,
    );
    const s1 = await Promise.all(
      modes.map((mode, i) => servers.get(mode)!.drained(s0[i].accepted + each)),
    );
    return { ms, s1, ours: s1.reduce((sum, s, i) => sum + cpu(s) - cpu(s0[i]), 0) };
  });
  const cpus = new Map(modes.map((mode, i) => [mode, (cpu(s1[i]) - cpu(s0[i])) / each]));
  return {
    others,
    rate: total / (ms / 1000),
    cpu: [...cpus.values()].reduce((sum, c) => sum + c, 0),
    cpus,
  };
}

async function benchAccept(record: Recorder): Promise<void> {
  const modes: Mode[] = ["plain", "tuned", "noffi", "tracked"];
  // The counting server starts with the others; it idles until the end.
  const counting = server("tracked", "accept", true);
  const countingReady = counting.start();
  countingReady.catch(() => {}); // awaited below, unless the others fail first
  const servers = await startAll(modes, "accept");
  const n = ACCEPT_CONNECTIONS;
  try {
    for (const mode of modes) await acceptPhase(servers.get(mode)!, ACCEPT_WARMUP);
    const { kept, note: disturbed } = await rounds(
      "accept",
      modes,
      ACCEPT_ROUNDS,
      (mode) => acceptPhase(servers.get(mode)!, n),
    );
    const of = (mode: Mode): AcceptPhase[] => kept.map((round) => round.get(mode)!);
    const plain = of("plain");
    const applied = Math.min(...of("tracked").map((p) => p.applied));
    const note = notes([
      applied < n && `user timeout applied on ${applied} of ${n} connections`,
      disturbed ?? false,
    ]);
    const ratio = (mode: Mode): number[] => of(mode).map((p, i) => p.rate / plain[i].rate);
    record.record(n, "accept.ratio", "tracked/plain", ratio("tracked"), {
      min: 0.95,
      text: ">= 0.95",
    }, note);
    record.record(n, "accept.ratio.noffi", "noffi/plain", ratio("noffi"));
    // A server that is the bottleneck accepts in inverse proportion to its CPU time per connection.
    const capacity = (mode: Mode): number[] => of(mode).map((p, i) => plain[i].cpu / p.cpu);
    record.record(n, "accept.capacity", "tracked/plain", capacity("tracked"), {
      min: 0.95,
      text: ">= 0.95 (server-bound)",
    });
    record.record(n, "accept.capacity.noffi", "noffi/plain", capacity("noffi"));
    // The kernel's share: keepalive timers on every connection, nothing tracked.
    record.record(n, "accept.capacity.tuned", "tuned/plain", capacity("tuned"));
    // The library's share: tracked against the same kernel work.
    const tuned = of("tuned");
    record.record(
      n,
      "accept.capacity.overTuned",
      "tracked/tuned",
      of("tracked").map((p, i) => tuned[i].cpu / p.cpu),
    );
    record.record(
      n,
      "accept.others",
      "cores",
      kept.flatMap((round) => [...round.values()].map((p) => p.others)),
    );
    // Side by side, against plain (the goal as stated) and against tuned (the library's share),
    // the two pairs in alternating rounds.
    const pairs = await rounds(
      "accept side by side",
      ["plain", "tuned"],
      ACCEPT_PAIR_ROUNDS,
      (against) => acceptPairPhase(servers, n, [against, "tracked"]),
    );
    const pairCpus = pairs.kept.map((round) => round.get("plain")!.cpus);
    const overTuned = pairs.kept.map((round) => round.get("tuned")!.cpus);
    record.record(
      n,
      "accept.sideBySide",
      "tracked/plain",
      pairCpus.map((cpus) => cpus.get("plain")! / cpus.get("tracked")!),
      { min: 0.95, text: ">= 0.95 (both at once)" },
      pairs.note,
    );
    record.record(
      n,
      "accept.sideBySide.cpuExtra",
      "µs/conn",
      pairCpus.map((cpus) => cpus.get("tracked")! - cpus.get("plain")!),
      { max: 5, text: "<= 5 µs (both at once)" },
    );
    record.record(
      n,
      "accept.sideBySide.overTuned",
      "tracked/tuned",
      overTuned.map((cpus) => cpus.get("tuned")! / cpus.get("tracked")!),
    );
    record.record(
      n,
      "accept.sideBySide.cpuExtraOverTuned",
      "µs/conn",
      overTuned.map((cpus) => cpus.get("tracked")! - cpus.get("tuned")!),
    );
    for (const mode of modes) {
      const list = of(mode);
      record.record(n, `accept.rate.${mode}`, "conn/s", list.map((p) => p.rate));
      record.record(n, `accept.cpu.${mode}`, "µs/conn", list.map((p) => p.cpu));
      if (mode !== "plain") {
        record.record(
          n,
          `accept.cpuExtra.${mode}`,
          "µs/conn",
          list.map((p, i) => p.cpu - plain[i].cpu),
          mode === "tracked" ? { max: 5, text: "<= 5 µs" } : undefined,
        );
      }
    }
  } finally {
    for (const server of servers.values()) await server.stop();
  }
  // How many FFI calls tracking costs per accepted connection, counted on a server of its own.
  await countingReady;
  try {
    // What happens once per server (Bun tunes its listener at the first connection) is not counted.
    await acceptPhase(counting, 10);
    const s0 = await counting.stats();
    await acceptPhase(counting, FFI_COUNT_CONNECTIONS);
    const s1 = await counting.stats();
    record.record(FFI_COUNT_CONNECTIONS, "accept.ffiCalls", "calls/conn", [
      (s1.ffiCalls - s0.ffiCalls) / FFI_COUNT_CONNECTIONS,
    ]);
  } finally {
    await counting.stop();
  }
}

/** scripts/bench_deno_fd.ts, run as it is; its per-lookup figures parsed from its output. */
async function benchDenoFd(record: Recorder): Promise<void> {
  const first: number[] = [];
  const churn: number[] = [];
  const calls: number[] = [];
  for (let run = 0; run < DENO_FD_RUNS; run++) {
    const [cmd] = command("deno", "scripts/bench_deno_fd.ts");
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(cmd, [
        "run",
        "--allow-ffi",
        "--allow-net",
        "--allow-run",
        "scripts/bench_deno_fd.ts",
        String(DENO_FD_OPEN),
        String(DENO_FD_CHURN),
      ], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
      let text = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => text += chunk);
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      child.on("close", (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(text);
        else reject(new Error(`bench_deno_fd.ts exited with ${code}:\n${text}`));
      });
    });
    const figure = (prefix: string): [number, number] => {
      const line = output.split("\n").find((l) => l.startsWith(prefix));
      const match = line?.match(/: ([\d.]+) µs per lookup, ([\d.]+) FFI calls/);
      if (match === undefined || match === null) throw new Error(`no "${prefix}" in:\n${output}`);
      return [Number(match[1]), Number(match[2])];
    };
    first.push(figure("first lookup")[0]);
    const [us, ffi] = figure("churn");
    churn.push(us);
    calls.push(ffi);
    progress(`bench_deno_fd.ts run ${run + 1}: ${us} µs per lookup under churn, ${ffi} FFI calls`);
  }
  record.record(DENO_FD_OPEN, "accept.denoFdLookup", "µs", churn, { max: 50, text: "<= 50 µs" });
  record.record(DENO_FD_OPEN, "accept.denoFdLookup.calls", "FFI calls", calls);
  record.record(DENO_FD_OPEN, "accept.denoFdFirstLookup", "µs", first);
}

// ---- main --------------------------------------------------------------------------------------

const started = performance.now();
const recorder = new Recorder(family(target), versionOf(target));
let ok = true;
try {
  if (groups.has("e2e")) await benchE2e(recorder);
  if (groups.has("accept")) {
    await benchAccept(recorder);
    // 10,000 connections held open take a few seconds to set up: the full run only.
    if (target === "deno" && !quick) await benchDenoFd(recorder);
  }
} catch (error) {
  ok = false;
  progress(`failed: ${(error as Error)?.stack ?? error}`);
}
process.stderr.write(`\n${recorder.table()}\n`);
progress(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
if (!ok) process.exitCode = 1;
