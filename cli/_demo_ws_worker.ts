/**
 * The process of `demo --websocket` that holds the servers and the clients, run in the demo's
 * private network namespace (or on this machine's loopback where none can be made). It serves
 * WebSockets with this runtime's edge server three times — watched with a heartbeat (for the
 * healthy and the hung client), watched with keepalive and a user timeout alone (for the cut
 * clients), and left to the runtime's own idle timer — and opens each client twice: once to its
 * watched server, once to the runtime's own. The clients speak raw WebSocket over `node:net`
 * (they answer protocol pings and the text `ping` until told to hang), so that nothing the servers
 * do can lean on them.
 *
 * JSON lines on stdout: `ready` (ports, bounds, tuning), `opened` (every client's local port),
 * `transition` (the watched side), `own-close` (the runtime's verdict), `tcp` (the server side of
 * every connection as `ss` shows it), `error`. Commands on stdin: `hang`. Ends when stdin closes,
 * or after 60 s.
 *
 * @module
 */

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { delimiter, join } from "node:path";
import process from "node:process";
import type { KeepaliveOptions, TuningReport } from "../mod.ts";
import { type EdgeEvents, type EdgeServer, loadEdgeKit } from "./_demo_ws_kit.ts";
import { type Output, runtime } from "./_runtime.ts";

/** The demo's clients, in the order the table shows them. */
export const WS_CLIENTS = ["healthy", "hung", "cut-idle", "cut-pushed"] as const;
/** A client of the WebSocket demo. */
export type WsClient = (typeof WS_CLIENTS)[number];
/** Which server a connection goes to: the watched one, or the runtime's own. */
export type Side = "watched" | "own";

/** Keepalive of both watched servers (tuned on their listeners). */
export const WS_KEEPALIVE: KeepaliveOptions = {
  idle: 2000,
  interval: 1000,
  count: 3,
  userTimeout: 3000,
};
/** The heartbeat of the server the healthy and the hung client use. */
export const WS_HEARTBEAT = { interval: 1000, timeout: 1000 } as const;
const RESOLUTION = 100;
const PUSH = "x".repeat(1024);
const PUSH_EVERY_MS = 100;
const TCP_EVERY_MS = 500;
const SETUP_MS = 20_000;
const SAFETY_MS = 60_000;

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One client frame: FIN set, masked as RFC 6455 requires of a client. */
function frame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.byteLength;
  const header = length < 126 ? 2 : 4;
  const out = new Uint8Array(header + 4 + length);
  out[0] = 0x80 | opcode;
  if (length < 126) out[1] = 0x80 | length;
  else {
    out[1] = 0x80 | 126;
    new DataView(out.buffer).setUint16(2, length);
  }
  const mask = randomBytes(4);
  out.set(mask, header);
  for (let i = 0; i < length; i++) out[header + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

/** A raw WebSocket client: answers pings (protocol, or the text `ping`) until it hangs. */
class RawClient {
  readonly name: WsClient;
  readonly side: Side;
  readonly socket: Socket;
  hung = false;
  #buffer = new Uint8Array(0);

  private constructor(name: WsClient, side: Side, socket: Socket) {
    this.name = name;
    this.side = side;
    this.socket = socket;
  }

  /** Connects to `127.0.0.1:port` with the path `/<name>` and completes the upgrade. */
  static open(port: number, name: WsClient, side: Side): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port });
      const client = new RawClient(name, side, socket);
      let head = "";
      let upgraded = false;
      socket.on("error", (error) => {
        if (!upgraded) reject(error); // afterwards: the server's view is what the demo shows
      });
      socket.on("connect", () => {
        socket.write(
          `GET /${name} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n` +
            "Sec-WebSocket-Version: 13\r\n\r\n",
        );
      });
      socket.on("data", (chunk: Uint8Array) => {
        if (upgraded) return client.#read(chunk);
        head += decoder.decode(chunk);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        if (!head.startsWith("HTTP/1.1 101")) {
          socket.destroy();
          return reject(new Error(`${side} ${name}: no upgrade: ${head.slice(0, end)}`));
        }
        upgraded = true;
        resolve(client);
        const rest = encoder.encode(head.slice(end + 4));
        if (rest.byteLength > 0) client.#read(rest);
      });
    });
  }

  #read(chunk: Uint8Array): void {
    const joined = new Uint8Array(this.#buffer.byteLength + chunk.byteLength);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.byteLength);
    let buffer = joined;
    for (;;) {
      if (buffer.byteLength < 2) break;
      let length = buffer[1] & 0x7f;
      let offset = 2;
      const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      if (length === 126) {
        if (buffer.byteLength < 4) break;
        length = view.getUint16(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.byteLength < 10) break;
        length = Number(view.getBigUint64(2));
        offset = 10;
      }
      if (buffer.byteLength < offset + length) break;
      const opcode = buffer[0] & 0x0f;
      const payload = buffer.slice(offset, offset + length);
      buffer = buffer.subarray(offset + length);
      if (opcode === OP_PING) {
        if (!this.hung) this.socket.write(frame(OP_PONG, payload));
      } else if (opcode === OP_TEXT && length === 4 && decoder.decode(payload) === "ping") {
        if (!this.hung) this.socket.write(frame(OP_TEXT, encoder.encode("pong")));
      } else if (opcode === OP_CLOSE) {
        this.socket.end(frame(OP_CLOSE, payload.subarray(0, 2)));
      }
    }
    this.#buffer = buffer.slice();
  }
}

/** Where `ss` is (sbin may not be on PATH), if anywhere. */
function ssPath(): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/bin"];
  return dirs.filter(Boolean).map((dir) => join(dir, "ss")).find((path) => existsSync(path));
}

/**
 * The TCP sockets of the servers on these ports, by `localPort>peerPort`: their state and the
 * bytes not yet acknowledged.
 */
function tcpSockets(
  ss: string,
  ports: readonly number[],
): Promise<Map<string, { state: string; queued: number }>> {
  const filter = ports.flatMap((port, i) => [...(i === 0 ? [] : ["or"]), "sport", "=", `:${port}`]);
  return new Promise((resolve) => {
    const options = { timeout: 2_000, maxBuffer: 16 * 1024 * 1024 };
    execFile(ss, ["-Htan", "(", ...filter, ")"], options, (error, stdout) => {
      const found = new Map<string, { state: string; queued: number }>();
      if (error === null) {
        for (const line of String(stdout).split("\n")) {
          const [state, , sendQ, local, peer] = line.trim().split(/\s+/);
          if (peer === undefined) continue;
          const port = (address: string): string => address.slice(address.lastIndexOf(":") + 1);
          found.set(`${port(local)}>${port(peer)}`, { state, queued: Number(sendQ) });
        }
      }
      resolve(found);
    });
  });
}

/** A short summary of a tuning report: each control's status. */
function tuningOf(report: TuningReport | undefined): Record<string, unknown> | null {
  if (report === undefined) return null;
  return {
    keepalive: report.keepalive.status,
    idle: report.idle.status,
    interval: report.interval.status,
    count: report.count.status,
    userTimeout: report.userTimeout.status,
    unavailable: report.unavailable ?? null,
  };
}

/**
 * Runs the WebSocket demo's servers and clients until stdin closes.
 *
 * @param out Where to print the JSON lines.
 * @returns The exit code.
 */
export async function wsWorker(out: Output): Promise<number> {
  const emit = (line: Record<string, unknown>): void => out.line(JSON.stringify(line));
  const started = performance.now();
  const t = (): number => Math.round(performance.now() - started);
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => finish = resolve);
  const servers: EdgeServer[] = [];
  const clients: RawClient[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (text: string) => {
    if (text.includes("hang")) {
      for (const client of clients) if (client.name === "hung") client.hung = true;
    }
  });
  process.stdin.on("end", () => finish(0));
  process.stdin.on("error", () => finish(0));
  const safety = setTimeout(() => finish(0), SAFETY_MS);
  try {
    const kit = await loadEdgeKit(runtime);
    if (kit.unavailable !== undefined) throw new Error(kit.unavailable);
    const pushers = new Map<string, (text: string) => void>();
    const pingAt = new Map<string, number>();
    let opened: () => void = () => {};
    const allOpen = new Promise<void>((resolve) => opened = resolve);
    const events = (side: Side): EdgeEvents => ({
      opened(tag, push) {
        pushers.set(`${side} ${tag}`, push);
        if (pushers.size === WS_CLIENTS.length * 2) opened();
      },
      transition(tag, change) {
        const at = pingAt.get(tag);
        const ack = change.from === "probing" && change.reason === "ack" && at !== undefined;
        emit({
          event: "transition",
          client: tag,
          t: t(),
          ...change,
          ...(ack ? { rttMs: Math.round((performance.now() - at) * 1000) / 1000 } : {}),
        });
      },
      ping: (tag) => void pingAt.set(tag, performance.now()),
      closed: (tag, code) => emit({ event: "own-close", client: tag, t: t(), code }),
    });
    const beat = await kit.watched(
      { keepalive: WS_KEEPALIVE, heartbeat: WS_HEARTBEAT, resolution: RESOLUTION },
      events("watched"),
    );
    servers.push(beat);
    const quiet = await kit.watched(
      { keepalive: WS_KEEPALIVE, resolution: RESOLUTION },
      events("watched"),
    );
    servers.push(quiet);
    const own = await kit.own(events("own"));
    servers.push(own);
    const serverOf = (name: WsClient, side: Side): EdgeServer =>
      side === "own" ? own : name === "healthy" || name === "hung" ? beat : quiet;
    for (const name of WS_CLIENTS) {
      for (const side of ["watched", "own"] as const) {
        clients.push(await RawClient.open(serverOf(name, side).port, name, side));
      }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      allOpen,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("the servers did not see every client")),
          SETUP_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    emit({
      event: "ready",
      t: t(),
      server: kit.serverLabel,
      own: kit.ownLabel,
      tunes: kit.tunes,
      bounds: {
        healthy: beat.bound?.idleMs,
        hung: beat.bound?.idleMs,
        "cut-idle": quiet.bound?.idleMs,
        "cut-pushed": quiet.bound?.busyMs,
      },
      tuning: tuningOf(beat.report()),
      clients: clients.map((c) => ({
        client: c.name,
        side: c.side,
        port: c.socket.localPort,
        serverPort: serverOf(c.name, c.side).port,
      })),
    });
    // The server pushes to the cut-pushed client on both sides, from the start.
    timers.push(setInterval(() => {
      for (const side of ["watched", "own"]) {
        try {
          pushers.get(`${side} cut-pushed`)?.(PUSH);
        } catch {
          // Closed: its end has been told.
        }
      }
    }, PUSH_EVERY_MS));
    const ss = ssPath();
    if (ss !== undefined) {
      let busy = false;
      const sample = async (): Promise<void> => {
        if (busy) return;
        busy = true;
        const sockets = await tcpSockets(ss, servers.map((server) => server.port));
        busy = false;
        emit({
          event: "tcp",
          t: t(),
          conns: clients.map((c) => {
            const held = sockets.get(`${serverOf(c.name, c.side).port}>${c.socket.localPort}`);
            return {
              client: c.name,
              side: c.side,
              state: held?.state ?? null,
              queued: held?.queued ?? 0,
            };
          }),
        });
      };
      void sample();
      timers.push(setInterval(() => void sample(), TCP_EVERY_MS));
    }
    return await finished;
  } catch (error) {
    emit({ event: "error", t: t(), message: (error as Error)?.message ?? String(error) });
    return 1;
  } finally {
    clearTimeout(safety);
    for (const timer of timers) clearInterval(timer);
    for (const client of clients) client.socket.destroy();
    for (const server of servers) server.close();
  }
}
