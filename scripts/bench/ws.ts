// The cost of liveness tracking on WebSocket servers, end to end on loopback, for one runtime's
// edge server: Bun.serve, Deno.serve + upgradeWebSocket, node:http + ws (_ws_server_<runtime>.ts:
// plain, tuned, tracked and noffi, all running throughout):
//
//   echo     C WebSockets, each doing T round trips of a 64-byte binary message, one in flight:
//            round trips per second, tracked / plain (ws.echo.ratio, goal >= 0.97), and the
//            servers' CPU time per round trip, plain / tracked (ws.echo.capacity: what a server at
//            its limit would see); tuned (the listener tuned, nothing tracked) against plain
//            (.capacity.tuned: the kernel's share) and tracked against tuned (.capacity.overTuned).
//   upgrade  K at a time: connect, upgrade (GET + 101), close handshake (the client's close frame,
//            the server's answer, both FINs): upgrades per second, tracked / plain
//            (ws.upgrade.ratio, goal >= 0.95), and server CPU per upgrade, plain / tracked
//            (ws.upgrade.capacity); the same for noffi (tracked without FFI: keepalive not tuned),
//            which tells what the tuning costs apart from the rest of tracking.
//
// Each group is measured in interleaved rounds (A B, B A, …; A B C, B C A, …); every ratio is taken within a
// round and given as median and min–max over the rounds. Rounds disturbed by other processes or a
// slowed host are measured again (see rounds() in _harness.ts).
//
// This process is the load generator: node:net on whatever Node runs it (Node 24 from run.mjs),
// speaking raw WebSocket (RFC 6455: the handshake, masked client frames; it answers protocol pings
// with pongs and the text "ping" with "pong", as Deno's heartbeat asks). Traffic stays on
// 127.0.0.1.
//
//   node scripts/bench/ws.ts --target bun [--quick | --full] [--only echo,upgrade]
//
// JSON lines on stdout (as core.ts), a table on stderr.

import { Buffer } from "node:buffer";
import { connect, type Socket } from "node:net";
import process from "node:process";
import { commonArgs, Recorder } from "./_results.ts";
import { family, parseTarget, type Target, versionOf } from "./_runtimes.ts";
import type { Mode } from "./_server.ts";
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
  rounds,
} from "./_harness.ts";

const GROUPS = ["echo", "upgrade"] as const;
type Group = (typeof GROUPS)[number];

const ECHO_MODES: readonly Mode[] = ["plain", "tuned", "tracked"];
const UPGRADE_MODES: readonly Mode[] = ["plain", "noffi", "tracked"];

let target = "node24" as Target;
const { quick, groups } = commonArgs<Group>(
  process.argv.slice(2),
  GROUPS,
  "ws.ts --target node24|node26|deno|bun [--quick | --full] [--only echo,upgrade]",
  { "--target": (value) => target = parseTarget(value) },
);

// Many short rounds rather than a few long ones: the machine is shared, and a burst of other work
// then spoils a few rounds instead of most of a long one.
const ECHO_CONNECTIONS = quick ? 200 : 500;
const ECHO_TRIPS = quick ? 100 : 150;
const ECHO_WARMUP_TRIPS = 100;
const ECHO_ROUNDS = quick ? 4 : 16;
const SIZE = 64;
const UPGRADES = quick ? 600 : 2_000;
const UPGRADE_CONCURRENCY = 32;
const UPGRADE_WARMUP = 600;
const UPGRADE_ROUNDS = quick ? 4 : 8;
const CONNECT_CONCURRENCY = 100;
const GUARDS: Guards = { othersLimit: 0.15, slowLimit: 1.35, maxRetries: quick ? 2 : 20 };

function progress(message: string): void {
  process.stderr.write(`[ws ${target}] ${message}\n`);
}

// ---- raw WebSocket -----------------------------------------------------------------------------

const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
// A fixed mask: the servers must unmask every frame whatever its key, and the load generator spends
// its CPU on the load, not on random numbers.
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** One masked client frame (FIN set), payload below 126 bytes. */
function frame(opcode: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(6 + payload.byteLength);
  out[0] = 0x80 | opcode;
  out[1] = 0x80 | payload.byteLength;
  MASK.copy(out, 2);
  for (let i = 0; i < payload.byteLength; i++) out[6 + i] = payload[i] ^ MASK[i & 3];
  return out;
}

const ECHO_FRAME = frame(OP_BINARY, Buffer.alloc(SIZE, 0x61));
const CLOSE_FRAME = frame(OP_CLOSE, Buffer.from([0x03, 0xe8])); // 1000
const PONG_TEXT = frame(OP_TEXT, Buffer.from("pong"));

function upgradeRequest(port: number): Buffer {
  return Buffer.from(
    `GET /bench HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
      "Sec-WebSocket-Version: 13\r\n\r\n",
  );
}

/**
 * A client WebSocket on a raw socket: completes the upgrade, then hands every data frame to
 * `onData` and answers the server's pings (protocol or Deno's text "ping") by itself.
 */
class RawWebSocket {
  readonly socket: Socket;
  /** Called per binary or text frame that is not a heartbeat. */
  onData: (opcode: number) => void = () => {};
  /** Called when the server's close frame arrives. */
  onClose: () => void = () => {};
  #pending: Buffer | undefined;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  /** Connects and upgrades; resolves once the 101 arrived. */
  static open(port: number): Promise<RawWebSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: "127.0.0.1", noDelay: true });
      const ws = new RawWebSocket(socket);
      let head: Buffer = Buffer.alloc(0);
      const onHead = (chunk: Buffer): void => {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        socket.off("data", onHead);
        if (!head.subarray(0, 13).equals(Buffer.from("HTTP/1.1 101 "))) {
          socket.destroy();
          reject(new Error(`no upgrade: ${head.subarray(0, end).toString()}`));
          return;
        }
        socket.on("data", (data: Buffer) => ws.#read(data));
        resolve(ws);
        if (head.length > end + 4) ws.#read(head.subarray(end + 4));
      };
      socket.on("data", onHead);
      socket.once("error", reject);
      socket.write(upgradeRequest(port));
    });
  }

  #read(chunk: Buffer): void {
    let buffer = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = undefined;
    for (;;) {
      if (buffer.length < 2) break;
      let length = buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) break;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) break;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + length) break;
      const opcode = buffer[0] & 0x0f;
      const payload = buffer.subarray(offset, offset + length);
      buffer = buffer.subarray(offset + length);
      if (opcode === OP_PING) this.socket.write(frame(OP_PONG, payload));
      else if (opcode === OP_TEXT && length === 4 && payload.toString() === "ping") {
        this.socket.write(PONG_TEXT);
      } else if (opcode === OP_CLOSE) this.onClose();
      else if (opcode !== OP_PONG) this.onData(opcode);
    }
    if (buffer.length > 0) this.#pending = Buffer.from(buffer);
  }
}

/** Opens `count` WebSockets, CONNECT_CONCURRENCY upgrades at a time. */
function openWebSockets(port: number, count: number): Promise<RawWebSocket[]> {
  return new Promise((resolve, reject) => {
    const open: RawWebSocket[] = [];
    let started = 0;
    const next = (): void => {
      if (started >= count) return;
      started++;
      RawWebSocket.open(port).then((ws) => {
        open.push(ws);
        if (open.length === count) resolve(open);
        else next();
      }, reject);
    };
    for (let i = 0; i < Math.min(CONNECT_CONCURRENCY, count); i++) next();
  });
}

/** Every WebSocket does `trips` echo round trips, one in flight; resolves with the ms. */
function echoWindow(sockets: readonly RawWebSocket[], trips: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let remaining = sockets.length;
    const started = performance.now();
    for (const ws of sockets) {
      let done = 0;
      ws.onData = (opcode) => {
        if (opcode !== OP_BINARY) return;
        if (++done < trips) ws.socket.write(ECHO_FRAME);
        else if (--remaining === 0) resolve(performance.now() - started);
      };
      ws.socket.once("error", reject);
      ws.socket.write(ECHO_FRAME);
    }
  });
}

/**
 * Upgrades `total` WebSockets, `concurrency` at a time, each closed at once with the close
 * handshake; resolves with the ms once every connection has closed.
 */
function upgradeWindow(port: number, total: number, concurrency: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let started = 0;
    let finished = 0;
    const t0 = performance.now();
    const next = (): void => {
      if (started >= total) return;
      started++;
      RawWebSocket.open(port).then((ws) => {
        let answered = false;
        ws.onClose = () => {
          answered = true;
          ws.socket.end();
        };
        ws.socket.once("close", () => {
          if (!answered) return reject(new Error("a WebSocket closed without a close frame"));
          if (++finished === total) resolve(performance.now() - t0);
          else next();
        });
        ws.socket.write(CLOSE_FRAME);
      }, reject);
    };
    for (let i = 0; i < Math.min(concurrency, total); i++) next();
  });
}

// ---- echo --------------------------------------------------------------------------------------

const WS_ECHO: EchoLoad<RawWebSocket> = {
  open: openWebSockets,
  trips: echoWindow,
  close: (ws) => ws.socket.destroy(),
};

async function benchEcho(record: Recorder, servers: Map<Mode, BenchServer>): Promise<void> {
  const n = ECHO_CONNECTIONS;
  for (const mode of ECHO_MODES) await echoPhase(servers.get(mode)!, n, ECHO_WARMUP_TRIPS, WS_ECHO);
  const { kept, note: disturbed } = await rounds(
    "echo",
    ECHO_MODES,
    ECHO_ROUNDS,
    GUARDS,
    (mode) => echoPhase(servers.get(mode)!, n, ECHO_TRIPS, WS_ECHO),
    progress,
  );
  const of = (mode: Mode): EchoPhase[] => kept.map((round) => round.get(mode)!);
  const [plain, tracked] = [of("plain"), of("tracked")];
  const applied = Math.min(...tracked.map((p) => p.applied));
  const pings = tracked.reduce((sum, p) => sum + p.pings, 0);
  const dead = tracked.reduce((sum, p) => sum + p.dead, 0);
  const note = notes([
    applied < n && `user timeout applied on ${applied} of ${n} connections`,
    (pings > 0 || dead > 0) && `${pings} pings and ${dead} deaths in the windows`,
    disturbed ?? false,
  ]);
  record.record(
    n,
    "ws.echo.ratio",
    "tracked/plain",
    tracked.map((p, i) => p.rate / plain[i].rate),
    { min: 0.97, text: ">= 0.97" },
    note,
  );
  // A server that is the bottleneck serves in inverse proportion to its CPU time per round trip.
  record.record(
    n,
    "ws.echo.capacity",
    "tracked/plain",
    tracked.map((p, i) => plain[i].cpu / p.cpu),
    { min: 0.97, text: ">= 0.97 (server-bound)" },
  );
  // The kernel's share (the listener tuned, nothing tracked), and tracking's against the same.
  const tuned = of("tuned");
  record.record(
    n,
    "ws.echo.capacity.tuned",
    "tuned/plain",
    tuned.map((p, i) => plain[i].cpu / p.cpu),
  );
  record.record(
    n,
    "ws.echo.capacity.overTuned",
    "tracked/tuned",
    tracked.map((p, i) => tuned[i].cpu / p.cpu),
  );
  record.record(
    n,
    "ws.echo.others",
    "cores",
    kept.flatMap((round) => [...round.values()].map((p) => p.others)),
  );
  for (const mode of ECHO_MODES) {
    const list = of(mode);
    record.record(n, `ws.echo.rate.${mode}`, "round trips/s", list.map((p) => p.rate));
    record.record(n, `ws.echo.cpu.${mode}`, "µs/round trip", list.map((p) => p.cpu));
    record.record(n, `ws.echo.busy.${mode}`, "cores", list.map((p) => p.busy));
    record.record(n, `ws.echo.clientBusy.${mode}`, "cores", list.map((p) => p.clientBusy));
  }
}

// ---- upgrade -----------------------------------------------------------------------------------

interface UpgradePhase extends Phase {
  applied: number;
  dead: number;
}

async function upgradePhase(server: BenchServer, total: number): Promise<UpgradePhase> {
  const s0 = await server.stats();
  const { ms, s1, others } = await guarded(async () => {
    const ms = await upgradeWindow(server.port, total, UPGRADE_CONCURRENCY);
    const s1 = await server.drained(s0.accepted + total);
    return { ms, s1, ours: cpu(s1) - cpu(s0) };
  });
  return {
    others,
    rate: total / (ms / 1000),
    cpu: (cpu(s1) - cpu(s0)) / total,
    applied: s1.applied - s0.applied,
    dead: s1.dead - s0.dead,
  };
}

async function benchUpgrade(record: Recorder, servers: Map<Mode, BenchServer>): Promise<void> {
  const n = UPGRADES;
  for (const mode of UPGRADE_MODES) await upgradePhase(servers.get(mode)!, UPGRADE_WARMUP);
  const { kept, note: disturbed } = await rounds(
    "upgrade",
    UPGRADE_MODES,
    UPGRADE_ROUNDS,
    GUARDS,
    (mode) => upgradePhase(servers.get(mode)!, n),
    progress,
  );
  const of = (mode: Mode): UpgradePhase[] => kept.map((round) => round.get(mode)!);
  const [plain, tracked] = [of("plain"), of("tracked")];
  const applied = Math.min(...tracked.map((p) => p.applied));
  const dead = [...tracked, ...of("noffi")].reduce((sum, p) => sum + p.dead, 0);
  const note = notes([
    applied < n && `user timeout applied on ${applied} of ${n} connections`,
    dead > 0 && `${dead} deaths in the windows`,
    disturbed ?? false,
  ]);
  record.record(
    n,
    "ws.upgrade.ratio",
    "tracked/plain",
    tracked.map((p, i) => p.rate / plain[i].rate),
    { min: 0.95, text: ">= 0.95" },
    note,
  );
  // A server that is the bottleneck upgrades in inverse proportion to its CPU time per upgrade.
  record.record(
    n,
    "ws.upgrade.capacity",
    "tracked/plain",
    tracked.map((p, i) => plain[i].cpu / p.cpu),
    { min: 0.95, text: ">= 0.95 (server-bound)" },
  );
  record.record(
    n,
    "ws.upgrade.capacity.noffi",
    "noffi/plain",
    of("noffi").map((p, i) => plain[i].cpu / p.cpu),
  );
  record.record(
    n,
    "ws.upgrade.others",
    "cores",
    kept.flatMap((round) => [...round.values()].map((p) => p.others)),
  );
  for (const mode of UPGRADE_MODES) {
    const list = of(mode);
    record.record(n, `ws.upgrade.rate.${mode}`, "upgrades/s", list.map((p) => p.rate));
    record.record(n, `ws.upgrade.cpu.${mode}`, "µs/upgrade", list.map((p) => p.cpu));
  }
  for (const mode of ["noffi", "tracked"] as const) {
    record.record(
      n,
      `ws.upgrade.cpuExtra.${mode}`,
      "µs/upgrade",
      of(mode).map((p, i) => p.cpu - plain[i].cpu),
    );
  }
}

// ---- main --------------------------------------------------------------------------------------

const started = performance.now();
const recorder = new Recorder(family(target), versionOf(target));
let ok = true;
const modes = [
  ...new Set([
    ...(groups.has("echo") ? ECHO_MODES : []),
    ...(groups.has("upgrade") ? UPGRADE_MODES : []),
  ]),
];
const servers = new Map<Mode, BenchServer>(
  modes.map((mode) => [mode, new BenchServer(target, "_ws_server", { mode }, mode, progress)]),
);
try {
  await Promise.all([...servers.values()].map((server) => server.start()));
  if (groups.has("echo")) await benchEcho(recorder, servers);
  if (groups.has("upgrade")) await benchUpgrade(recorder, servers);
} catch (error) {
  ok = false;
  progress(`failed: ${(error as Error)?.stack ?? error}`);
} finally {
  for (const server of servers.values()) await server.stop();
}
process.stderr.write(`\n${recorder.table()}\n`);
progress(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
if (!ok) process.exitCode = 1;
