// How close real detection comes to the computed worst case, per runtime: the cable-cut scenarios
// of tests/cut_test.ts, several connections each, inside one private network namespace
// (tests/_netns.ts: only its own loopback; an nftables rule there is the cut).
//
//   idle  keepalive 2s:1s:3, quiet connection, cut        → dead (keepalive-timeout); bound 5 s
//   busy  + userTimeout 3s, the server writing, cut         → dead (user-timeout); bound 3 s
//   hung  heartbeat 1s/1s (resolution 50 ms), peer hangs    → dead (heartbeat-timeout); bound 2.15 s
//
// Each connection is one peer fixture (tests/fixtures/<runtime>_peer.ts, tests/fixtures/PROTOCOL.md)
// of the target runtime. All peers start together; the cuts and hangs are spread over 2 s, so they
// fall at different points of the probe and ping cycles. For each: time to the server side's `dead`
// divided by the bound, measured
//   - from the cut (or the hang);
//   - from the peer's last sign of life: for a cut, the age of the server socket's last received
//     ACK or data as `ss -ti` reports it right after the cut (lastack / lastrcv); for a hang, the
//     fixture's last `ack` line (its last PONG), on the fixture's own clock.
//
//   node scripts/bench/detect.ts --target deno [--quick | --full]
//
// Needs Linux, root, ip and nft; otherwise prints why and records nothing. JSON lines on stdout.

import process from "node:process";
import {
  type JsonLine,
  type Netns,
  netnsAvailable,
  type NetnsChild,
  withNetns,
} from "../../tests/_netns.ts";
import { commonArgs, Recorder } from "./_results.ts";
import { command, family, parseTarget, root, type Target, versionOf } from "./_runtimes.ts";

let target = "node24" as Target;
const { quick } = commonArgs(
  process.argv.slice(2),
  ["detect"],
  "detect.ts --target node24|node26|deno|bun [--quick | --full]",
  { "--target": (value) => target = parseTarget(value) },
);

const PEERS = quick ? 2 : 6; // per scenario
const SETTLE_MS = 2_500; // answered probes and pings first
const SPREAD_MS = 2_000; // one probe cycle when probes are answered (idle 2 s)
const GOAL = { max: 1.1, text: "<= 1.10" };

type Scenario = "idle" | "busy" | "hung";
const SCENARIOS: Record<Scenario, { config: Record<string, unknown>; reason: string }> = {
  idle: { config: { keepalive: "2s:1s:3" }, reason: "keepalive-timeout" },
  busy: {
    config: { keepalive: { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" } },
    reason: "user-timeout",
  },
  hung: {
    config: { keepalive: "2s:1s:3", heartbeat: { interval: "1s", timeout: "1s" }, resolution: 50 },
    reason: "heartbeat-timeout",
  },
};

interface Peer {
  readonly scenario: Scenario;
  readonly child: NetnsChild;
  readonly ready: JsonLine;
  readonly port: number;
  readonly bound: number;
  /** Settles with the server's dead transition and when this process saw it. */
  dead?: Promise<{ line: JsonLine; at: number }>;
  actedAt?: number;
  /** This process's clock at the last sign of life, for cuts. */
  lastLife?: number;
}

const now = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function progress(message: string): void {
  process.stderr.write(`[detect ${target}] ${message}\n`);
}

async function startPeer(ns: Netns, scenario: Scenario): Promise<Peer> {
  const [cmd, args] = command(
    target,
    `tests/fixtures/${family(target)}_peer.ts`,
    [JSON.stringify(SCENARIOS[scenario].config)],
  );
  const child = ns.spawn(cmd, args, { cwd: root });
  const ready = await child.next(
    (line) => line.event === "ready" || line.event === "error",
    30_000,
  );
  if (ready.event !== "ready") throw new Error(`a ${scenario} peer failed: ${ready.message}`);
  const bound = ready.bound as { idleMs: number; busyMs: number };
  return {
    scenario,
    child,
    ready,
    port: Number(ready.port),
    bound: scenario === "busy" ? bound.busyMs : bound.idleMs,
  };
}

/** Age in ms of the last ACK or data the server side of `port` received, from `ss -ti`. */
async function lastLifeAge(ns: Netns, port: number): Promise<[number, number] | undefined> {
  const before = now();
  const out = await ns.exec("ss", ["-tniH", "state", "established", `( sport = :${port} )`]);
  const at = (before + now()) / 2;
  const rcv = /lastrcv:(\d+)/.exec(out);
  const ack = /lastack:(\d+)/.exec(out);
  const ages = [rcv, ack].filter((m) => m !== null).map((m) => Number(m![1]));
  return ages.length === 0 ? undefined : [at, Math.min(...ages)];
}

async function measure(ns: Netns): Promise<Peer[]> {
  const scenarios = Object.keys(SCENARIOS) as Scenario[];
  const t0 = now();
  const peers = await Promise.all(
    scenarios.flatMap((scenario) => Array.from({ length: PEERS }, () => startPeer(ns, scenario))),
  );
  progress(`${peers.length} peers ready in ${((now() - t0) / 1000).toFixed(1)} s`);
  for (const peer of peers) {
    if (peer.scenario === "busy") peer.child.command("busy");
    peer.dead = peer.child.next(
      (line) => line.event === "transition" && line.side === "server" && line.to === "dead",
      SETTLE_MS + SPREAD_MS + 30_000,
    ).then((line) => ({ line, at: now() }));
    peer.dead.catch(() => {}); // awaited below
  }
  // Interleave the scenarios (peers holds PEERS of each, in order) and spread their actions evenly.
  const plan = peers.map((_, i) =>
    peers[(i % scenarios.length) * PEERS + Math.floor(i / scenarios.length)]
  );
  const start = now() + SETTLE_MS;
  for (let i = 0; i < plan.length; i++) {
    const peer = plan[i];
    const wait = start + (SPREAD_MS * i) / plan.length - now();
    if (wait > 0) await sleep(wait);
    peer.actedAt = now();
    if (peer.scenario === "hung") {
      peer.child.command("hang");
      continue;
    }
    await ns.cut(peer.port);
    const life = await lastLifeAge(ns, peer.port);
    if (life !== undefined) peer.lastLife = life[0] - life[1];
  }
  await Promise.allSettled(peers.map((peer) => peer.dead));
  return peers;
}

let netns: ReturnType<typeof netnsAvailable>;
try {
  netns = netnsAvailable();
} catch (error) {
  netns = { ok: false, reason: (error as Error).message }; // CI without namespaces
}
if (!netns.ok) {
  progress(`skipped: ${netns.reason}`);
  process.exit(0);
}
const started = now();
let peers: Peer[] = [];
try {
  peers = await withNetns(measure, { timeoutMs: 90_000 });
} catch (error) {
  progress(`failed: ${(error as Error)?.stack ?? error}`);
  process.exitCode = 1;
}

const record = new Recorder(family(target), versionOf(target));
for (const scenario of Object.keys(SCENARIOS) as Scenario[]) {
  const fromAct: number[] = [];
  const fromLife: number[] = [];
  const ms: number[] = [];
  const odd: string[] = [];
  let bound = 0;
  for (const peer of peers.filter((p) => p.scenario === scenario)) {
    bound = peer.bound;
    const dead = await peer.dead!.catch((error: Error) => {
      odd.push(`no death: ${error.message.split("\n")[0]}`);
      return undefined;
    });
    if (dead === undefined || peer.actedAt === undefined) continue;
    if (dead.at < peer.actedAt) {
      odd.push(`dead ${Math.round(peer.actedAt - dead.at)} ms before the ${scenario} action`);
      continue;
    }
    if (dead.line.reason !== SCENARIOS[scenario].reason) odd.push(`reason ${dead.line.reason}`);
    ms.push(dead.at - peer.actedAt);
    fromAct.push((dead.at - peer.actedAt) / peer.bound);
    if (scenario === "hung") {
      const acks = peer.child.lines.filter((l) =>
        l.event === "ack" && Number(l.t) <= Number(dead.line.t)
      );
      const last = acks.at(-1);
      if (last !== undefined) fromLife.push((Number(dead.line.t) - Number(last.t)) / peer.bound);
    } else if (peer.lastLife !== undefined) {
      fromLife.push((dead.at - peer.lastLife) / peer.bound);
    }
  }
  const note = odd.length > 0 ? odd.join("; ") : undefined;
  const act = scenario === "hung" ? "hang" : "cut";
  const unit = `x bound (${bound} ms)`;
  record.record(PEERS, `detect.${scenario}.fromLastLife`, unit, fromLife, GOAL, note);
  record.record(
    PEERS,
    `detect.${scenario}.from${act === "cut" ? "Cut" : "Hang"}`,
    unit,
    fromAct,
    GOAL,
  );
  record.record(PEERS, `detect.${scenario}.msFrom${act === "cut" ? "Cut" : "Hang"}`, "ms", ms);
}
process.stderr.write(`\n${record.table()}\n`);
progress(`done in ${((now() - started) / 1000).toFixed(1)} s`);
