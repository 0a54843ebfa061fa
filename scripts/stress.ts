// Load over real sockets: N connections held on loopback inside a private network namespace, the
// server side watched by ONE monitor through this runtime's adapter with keepalive on every socket;
// then the cable is cut (nftables, tests/_netns.ts) for exactly the half whose client ports lie in
// the upper range. The verdict: exactly that half is declared dead within the keepalive bound, and
// none of the other half is, over several bounds; every held connection still echoes at the end.
//
//   node scripts/stress.ts --runtime node|deno|bun [--connections 10000 | --quick] [--bounds 3]
//                          [--keepalive 2s:1s:3] [--margin 3000]
//
// Prints one JSON object (held, cut, detected, false positives, time to detect against the bound,
// descriptor counts) on stdout, progress on stderr; exits 1 when the verdict is not `ok`. Needs
// root (ip netns, nft). `--quick` is 2,000 connections; the default is 10,000.
//
// Processes, all inside the namespace: tests/fixtures/stress_server_<runtime>.ts (the adapter and
// the monitor under test) and tests/fixtures/stress_clients.ts (plain node:net on Node, one
// connection per local port from 20000 up; no keepalive there). Both read commands on stdin and
// print JSON lines (tests/fixtures/stress_common.ts):
//   server: "ready" {port, bound, fds, sockets}; `report` → "report" {accepted, tuned, live,
//           deadCut, deadHeld, reasons, timeToDetectMs, fds, …}; `mark` (the cut starts now) →
//           "marked"; `exit` → closes every connection, "bye" {fds, sockets}, exits.
//   clients: "connected" {open, errors, fds}; `ping FROM TO` → writes a byte on each open
//            connection from those ports, "pong" {asked, answered}; `status FROM TO`; `exit`.
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { resolveKeepalive } from "../mod.ts";
import { type JsonLine, netnsAvailable, type NetnsChild, withNetns } from "../tests/_netns.ts";

/** A runtime whose adapter can be put under load. */
export type StressRuntime = "node" | "deno" | "bun";

/** What to run. */
export interface StressOptions {
  /** Whose adapter serves the connections. */
  runtime: StressRuntime;
  /** How many connections (at most 10,000: client ports 20000–29999). */
  connections: number;
  /** Keepalive on every server socket (default `"2s:1s:3"`). */
  keepalive?: string;
  /** How many keepalive bounds to watch after the cut (default 3). */
  bounds?: number;
  /** Scheduling slack allowed past the bound for the last detection, in ms (default 3000). */
  marginMs?: number;
  /** Progress lines go here (default: stderr). */
  log?: (line: string) => void;
}

/** The verdict, as printed. */
export interface StressResult {
  runtime: StressRuntime;
  version: string;
  date: string;
  connections: number;
  keepalive: string;
  held: number;
  cut: number;
  /** Every connection answered an echo before the cut. */
  answeredBeforeCut: number;
  /** Server sockets whose tuning report read back every keepalive control as applied. */
  tuned: number;
  /** Connections of the cut half declared dead. */
  detected: number;
  /** Connections of the held half declared dead (must be 0). */
  falsePositives: number;
  reasons: Record<string, number>;
  boundMs: number;
  marginMs: number;
  /**
   * From before the server marked the time (what time to detect counts from) until the nft rule
   * was in force: a connection may still hear from its peer in between, and its bound counts from
   * then, so the last detection may come up to `boundMs + cutMs + marginMs` after the mark.
   */
  cutMs: number;
  /** From just before the nft rule went in to each death. */
  timeToDetectMs: {
    min: number | null;
    p50: number | null;
    p99: number | null;
    max: number | null;
  };
  /** Deaths per whole second after the cut began. */
  timeToDetectSeconds: Record<string, number>;
  /** How long after the cut the held half was watched. */
  observedMs: number;
  /** Held connections that still echoed at the end. */
  heldAnswered: number;
  /** Connections the server still tracks at the end (must equal `held`). */
  live: number;
  fds: {
    server: { ready: number; loaded: number; afterCut: number; bye: number };
    serverTcp: { ready: number; loaded: number; afterCut: number; bye: number };
    clients: { before: number; loaded: number };
  };
  heapMB: { loaded: number; afterCut: number };
  timingsMs: { connect: number; total: number };
  /**
   * Packets the kernel dropped from its receive backlogs until the verdict, machine-wide
   * (`/proc/net/softnet_stat`): a burst of loopback packets beyond net.core.netdev_max_backlog.
   * Not 0 means probes may have been lost in this harness, which a real cable would not do.
   */
  backlogDrops: number;
  ok: boolean;
  problems: string[];
}

const root = fileURLToPath(new URL("../", import.meta.url));
const FIRST_PORT = 20_000;
const MAX_CONNECTIONS = 10_000;

const current: StressRuntime = "Deno" in globalThis
  ? "deno"
  : process.versions.bun !== undefined
  ? "bun"
  : "node";

/** The binary of a runtime: this process's own when it is that runtime, else the devDependency. */
export function runtimeBinary(runtime: StressRuntime): string {
  if (runtime === current) {
    const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
    return deno !== undefined ? deno.execPath() : process.execPath;
  }
  const local = runtime === "node"
    ? `${root}node_modules/node24/bin/node`
    : `${root}node_modules/.bin/${runtime}`;
  return existsSync(local) ? local : runtime;
}

/** The command that runs a TypeScript file with a runtime, all permissions (Deno: `-A`). */
export function runtimeCommand(
  runtime: StressRuntime,
  file: string,
  args: string[],
): { cmd: string; args: string[] } {
  const path = `${root}${file}`;
  const cmd = runtimeBinary(runtime);
  return runtime === "deno"
    ? { cmd, args: ["run", "-A", path, ...args] }
    : { cmd, args: [path, ...args] };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const is = (event: string) => (line: JsonLine): boolean => line.event === event;
const failed = (line: JsonLine): boolean => line.event === "error";

/** The next line of `event`, or the child's `error` line as an exception. */
async function expect(child: NetnsChild, event: string, timeoutMs: number): Promise<JsonLine> {
  const line = await child.next((l) => is(event)(l) || failed(l), timeoutMs);
  if (line.event === "error") throw new Error(`fixture failed: ${line.message}`);
  return line;
}

async function report(server: NetnsChild): Promise<JsonLine> {
  server.command("report");
  return await expect(server, "report", 15_000);
}

/**
 * Runs the stress scenario once.
 *
 * @param options What to run.
 * @returns The verdict (`ok` false with `problems` when a guarantee did not hold).
 * @throws {Error} When namespaces are unavailable or a fixture fails.
 */
export async function runStress(options: StressOptions): Promise<StressResult> {
  const { runtime, connections } = options;
  const keepalive = options.keepalive ?? "2s:1s:3";
  const bounds = options.bounds ?? 3;
  const marginMs = options.marginMs ?? 3_000;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (!Number.isInteger(connections) || connections < 2 || connections > MAX_CONNECTIONS) {
    throw new RangeError(
      `Option "connections" must be an integer from 2 to ${MAX_CONNECTIONS}, got ${connections}`,
    );
  }
  const availability = netnsAvailable();
  if (!availability.ok) throw new Error(availability.reason);
  const from = FIRST_PORT;
  const to = from + connections - 1;
  const held = Math.floor(connections / 2);
  const cutFrom = from + held;
  const cut = connections - held;
  const started = performance.now();
  const dropsBefore = backlogDrops();
  // Connecting 10,000 takes a few seconds; the rest is bounds of waiting.
  const timeoutMs = 90_000 + connections * 10 + 20_000 * (bounds + 2);

  return await withNetns(async (ns) => {
    const server = ns.spawn(
      ...spread(runtimeCommand(runtime, `tests/fixtures/stress_server_${runtime}.ts`, [
        JSON.stringify({ keepalive, from, to, cutFrom }),
      ])),
    );
    const ready = await expect(server, "ready", 30_000);
    const boundMs = Number((ready.bound as JsonLine).idleMs);
    log(
      `${runtime}: server ready (${ready.version}), bound ${boundMs} ms; connecting ${connections}`,
    );

    const clients = ns.spawn(
      ...spread(runtimeCommand("node", "tests/fixtures/stress_clients.ts", [
        JSON.stringify({ port: ready.port, from, to, concurrency: 256 }),
      ])),
    );
    const connected = await expect(clients, "connected", 60_000 + connections * 10);
    log(`${runtime}: ${connected.open} connected in ${connected.ms} ms`);
    let loaded = await report(server);
    for (let waited = 0; Number(loaded.accepted) < connections && waited < 30_000; waited += 500) {
      await sleep(500);
      loaded = await report(server);
    }
    const connectMs = Math.round(performance.now() - started);

    // Spread over the keepalive idle time, so that probes do not leave in one burst (see the
    // clients fixture: a loopback artifact, not the library's).
    clients.command(`ping ${from} ${to} 20000 ${idleOf(keepalive)}`);
    const before = await expect(clients, "pong", 30_000);
    log(`${runtime}: ${before.answered}/${connections} echoed; one bound of answered probes`);
    await sleep(boundMs);

    const markAt = performance.now();
    server.command("mark");
    await expect(server, "marked", 10_000);
    const cutAt = performance.now();
    await ns.cutPorts(cutFrom, to);
    const cutMs = Math.round(performance.now() - markAt);
    log(`${runtime}: cut ports ${cutFrom}-${to} (${cut} connections); watching ${bounds} bounds`);
    let afterCut = await report(server);
    const end = cutAt + bounds * boundMs;
    while (performance.now() < end) {
      await sleep(Math.min(1_000, Math.max(0, end - performance.now())));
      afterCut = await report(server);
    }
    const observedMs = Math.round(performance.now() - cutAt);

    clients.command(`ping ${from} ${cutFrom - 1} 10000`);
    const after = await expect(clients, "pong", 20_000);
    const drops = backlogDrops() - dropsBefore; // closing everything below is a burst of its own
    server.command("exit");
    const bye = await expect(server, "bye", 30_000);
    clients.command("exit");

    const ttd = afterCut.timeToDetectMs as StressResult["timeToDetectMs"];
    const result: StressResult = {
      runtime,
      version: String(ready.version),
      date: new Date().toISOString().slice(0, 10),
      connections,
      keepalive,
      held,
      cut,
      answeredBeforeCut: Number(before.answered),
      tuned: Number(loaded.tuned),
      detected: Number(afterCut.deadCut),
      falsePositives: Number(afterCut.deadHeld),
      reasons: afterCut.reasons as Record<string, number>,
      boundMs,
      marginMs,
      cutMs,
      timeToDetectMs: ttd,
      timeToDetectSeconds: afterCut.timeToDetectSeconds as Record<string, number>,
      observedMs,
      heldAnswered: Number(after.answered),
      live: Number(afterCut.live),
      fds: {
        server: {
          ready: Number(ready.fds),
          loaded: Number(loaded.fds),
          afterCut: Number(afterCut.fds),
          bye: Number(bye.fds),
        },
        serverTcp: {
          ready: Number(ready.tcp),
          loaded: Number(loaded.tcp),
          afterCut: Number(afterCut.tcp),
          bye: Number(bye.tcp),
        },
        clients: {
          before: Number((connected.before as JsonLine).fds),
          loaded: Number(connected.fds),
        },
      },
      heapMB: { loaded: Number(loaded.heapMB), afterCut: Number(afterCut.heapMB) },
      timingsMs: { connect: connectMs, total: Math.round(performance.now() - started) },
      backlogDrops: drops,
      ok: false,
      problems: [],
    };
    result.problems = verdict(result, loaded, afterCut);
    result.ok = result.problems.length === 0;
    return result;
  }, { timeoutMs });
}

/** The keepalive idle time in ms of an nginx-style spec ("2s:1s:3" → 2000). */
function idleOf(keepalive: string): number {
  return resolveKeepalive(keepalive).idleMs ?? 2_000;
}

/** Packets dropped from the per-CPU receive backlogs so far, machine-wide. */
function backlogDrops(): number {
  try {
    return readFileSync("/proc/net/softnet_stat", "utf8").trim().split("\n")
      .reduce((sum, line) => sum + Number.parseInt(line.trim().split(/\s+/)[1], 16), 0);
  } catch {
    return 0;
  }
}

function spread(command: { cmd: string; args: string[] }): [string, string[]] {
  return [command.cmd, command.args];
}

/** Every guarantee that did not hold, in words. */
function verdict(r: StressResult, loaded: JsonLine, afterCut: JsonLine): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, problem: string): void => void (ok || problems.push(problem));
  check(
    Number(loaded.accepted) === r.connections,
    `accepted ${loaded.accepted} of ${r.connections}`,
  );
  check(r.answeredBeforeCut === r.connections, `${r.answeredBeforeCut} echoed before the cut`);
  check(
    r.tuned === r.connections,
    `${r.tuned} sockets fully tuned (first other: ${loaded.firstUntuned})`,
  );
  check(Number(afterCut.deadBeforeMark) === 0, `${afterCut.deadBeforeMark} died before the cut`);
  check(r.detected === r.cut, `detected ${r.detected} of ${r.cut} cut connections`);
  check(
    r.falsePositives === 0,
    `${r.falsePositives} held connections declared dead (ports ${afterCut.falsePositivePorts})`,
  );
  check(
    r.timeToDetectMs.max !== null && r.timeToDetectMs.max <= r.boundMs + r.cutMs + r.marginMs,
    `last detection ${r.timeToDetectMs.max} ms after the cut began; bound ${r.boundMs} ms + ` +
      `${r.cutMs} ms until the cut was in force + ${r.marginMs} ms`,
  );
  check(
    (r.reasons["keepalive-timeout"] ?? 0) === r.detected,
    `reasons ${JSON.stringify(r.reasons)}`,
  );
  check(
    r.heldAnswered === r.held,
    `${r.heldAnswered} of ${r.held} held connections echoed at the end`,
  );
  check(r.live === r.held, `${r.live} connections tracked at the end, ${r.held} held`);
  check(
    r.fds.serverTcp.loaded === r.fds.serverTcp.ready + r.connections &&
      r.fds.serverTcp.afterCut === r.fds.serverTcp.ready + r.held &&
      r.fds.serverTcp.bye === r.fds.serverTcp.ready,
    `server TCP descriptors ${
      JSON.stringify(r.fds.serverTcp)
    }: expected ready + ${r.connections}, ` +
      `ready + ${r.held} after the cut, ready after closing all`,
  );
  return problems;
}

function parseArgs(argv: string[]): StressOptions {
  const options: StressOptions = { runtime: current, connections: MAX_CONNECTIONS };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = (): string => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    if (flag === "--runtime") {
      const runtime = value();
      if (runtime !== "node" && runtime !== "deno" && runtime !== "bun") {
        usage(`--runtime must be node, deno or bun, got ${runtime}`);
      }
      options.runtime = runtime;
    } else if (flag === "--connections") options.connections = Number(value());
    else if (flag === "--quick") options.connections = 2_000;
    else if (flag === "--bounds") options.bounds = Number(value());
    else if (flag === "--keepalive") options.keepalive = value();
    else if (flag === "--margin") options.marginMs = Number(value());
    else if (flag === "--help" || flag === "-h") usage();
    else usage(`unknown argument ${argv[i]}`);
  }
  return options;
}

function usage(error?: string): never {
  process.stderr.write(
    `${error ? `${error}\n\n` : ""}usage: node scripts/stress.ts --runtime node|deno|bun ` +
      `[--connections N | --quick] [--bounds 3] [--keepalive 2s:1s:3] [--margin 3000]\n`,
  );
  process.exit(error ? 2 : 0);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await runStress(parseArgs(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exit(result.ok ? 0 : 1);
}
