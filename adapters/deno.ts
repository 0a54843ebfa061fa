/**
 * The Deno adapter: TCP connections that feed a {@linkcode LivenessMonitor} as they are read and
 * written, with keepalive tuned through `setsockopt` where `--allow-ffi` is granted.
 *
 * Deno's `TcpConn.setKeepAlive()` only switches SO_KEEPALIVE on, which leaves the system's 2 hour
 * idle time. Idle, interval, count and the user timeout need FFI; without `--allow-ffi` each
 * connection's `report` says so, and `report.bound` gives the detection time that really applies.
 *
 * A conn is watched by one monitor for its life; what is refused is refused before anything
 * listens, connects or is tracked. {@linkcode connectionId}, {@linkcode tuningReport} and
 * {@linkcode connectionState} look up a conn or its {@linkcode WatchedConn}, as on Node and Bun.
 *
 * @example Serve with keepalive and a heartbeat, and see what tuning achieved
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { connect, listen, type WatchedConn } from "./deno.ts";
 * import assert from "node:assert/strict";
 *
 * const ping = new TextEncoder().encode("PING\n");
 * const monitor = new LivenessMonitor<WatchedConn>({
 *   keepalive: { idle: "30s", interval: "5s", count: 4, userTimeout: "30s" },
 *   heartbeat: { interval: "20s", timeout: "10s", send: (c) => void c.write(ping).catch(() => {}) },
 *   onTransition: (t) => t.to === "dead" && console.warn(`${t.id} is gone: ${t.reason}`),
 * });
 * using server = listen(monitor, { hostname: "127.0.0.1", port: 0 });
 * using client = await connect(monitor, { port: server.addr.port });
 * using conn = await server.accept();
 * // "applied" with --allow-ffi; "unsupported" without, and the bound says what that costs.
 * console.log(conn.report.idle.status, conn.report.bound.idleMs);
 * await client.write(new TextEncoder().encode("hi"));
 * assert.equal(await conn.read(new Uint8Array(16)), 2);
 * monitor.close();
 * ```
 *
 * @module
 */

import type { LivenessMonitor } from "../src/monitor.ts";
import type { ConnectionId, ConnectionState, Driver } from "../src/connection.ts";
import type { ListenerReport, TuningReport } from "../src/tune.ts";
import {
  AdapterKit,
  CONNECTING,
  type ListenerWhere,
  notWatched,
  type Watch,
  type WatchOptions,
} from "../src/_kit.ts";
import { describe } from "../src/_validate.ts";
import { loadDenoBackend } from "./_ffi_deno.ts";
import { findDenoFd, knownDenoFd, releaseDenoFd } from "./_deno_fd.ts";

export type {
  ConnectionId,
  ConnectionState,
  ControlReport,
  ControlStatus,
  EarlierConnections,
  ListenerReport,
  TuningReport,
} from "../mod.ts";
export type { WatchOptions } from "../src/_kit.ts";
export {
  type DenoWebSocket,
  upgradeWebSocket,
  type UpgradeWebSocketOptions,
  type WebSocketUpgrade,
  type WebSocketWatchOptions,
} from "./_deno_ws.ts";
import { type DenoWebSocket, denoWebSocketKit } from "./_deno_ws.ts";
export { type StreamBody, type StreamWatchOptions, watchStream } from "./_deno_sse.ts";
import { denoStreamKit } from "./_deno_sse.ts";

/** The part of a `Deno.NetAddr` the adapter uses. */
export interface DenoNetAddr {
  /** `"tcp"` for TCP. */
  readonly transport: string;
  /** IP address text. */
  readonly hostname: string;
  /** The port. */
  readonly port: number;
}

/** The part of a `Deno.TcpConn` the adapter uses (Deno's own types are not imported). */
export interface DenoTcpConn {
  /** Reads into `p`: the byte count, or `null` at the peer's FIN. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes from `p`: the byte count. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the conn. */
  close(): void;
  /** Shuts down the write side. */
  closeWrite(): Promise<void>;
  /** TCP_NODELAY. */
  setNoDelay(noDelay?: boolean): void;
  /** SO_KEEPALIVE, and nothing else. */
  setKeepAlive(keepAlive?: boolean): void;
  /** Keeps the event loop alive. */
  ref(): void;
  /** Lets the event loop end. */
  unref(): void;
  /** The local address. */
  readonly localAddr: DenoNetAddr;
  /** The peer's address. */
  readonly remoteAddr: DenoNetAddr;
}

interface DenoTcpListener extends AsyncIterable<DenoTcpConn> {
  accept(): Promise<DenoTcpConn>;
  close(): void;
  ref(): void;
  unref(): void;
  readonly addr: DenoNetAddr;
}

interface DenoNet {
  listen(options: Record<string, unknown>): DenoTcpListener;
  connect(options: Record<string, unknown>): Promise<DenoTcpConn>;
}

// What the descriptor scan and the kit's timers use of the Deno namespace.
interface DenoSystem {
  readonly permissions: {
    querySync(descriptor: { name: "read"; path: string }): { readonly state: string };
  };
  readDirSync(path: string): Iterable<{ readonly name: string }>;
  unrefTimer(id: number): void;
}

/**
 * A TCP server of Deno's: the `HttpServer` of `Deno.serve`, a `Deno.Listener` of `Deno.listen`, or
 * the {@linkcode WatchedListener} of {@linkcode listen}. Only its address is read.
 */
export interface DenoServer {
  /** Where it listens (`transport` `"tcp"`: a Unix socket has no TCP keepalive). */
  readonly addr: { readonly transport: string; readonly hostname?: string; readonly port?: number };
}

/** `Deno.TcpListenOptions`, plus {@linkcode WatchOptions}. */
export interface ListenOptions extends WatchOptions {
  /** The port; `0` picks a free one. */
  port?: number;
  /** The address to listen on (Deno's default `"0.0.0.0"`). */
  hostname?: string;
  /** Listen queue length. */
  tcpBacklog?: number;
  /** SO_REUSEPORT (Linux). */
  reusePort?: boolean;
}

/** `Deno.ConnectOptions`, plus {@linkcode WatchOptions}. */
export interface ConnectOptions extends WatchOptions {
  /** The port to connect to. */
  port: number;
  /** Host name or address (Deno's default `"127.0.0.1"`). */
  hostname?: string;
  /** Aborts the attempt. */
  signal?: AbortSignal;
  /** Happy Eyeballs (Deno's default `true`). */
  autoSelectFamily?: boolean;
  /** Milliseconds between Happy Eyeballs attempts. */
  autoSelectFamilyAttemptDelay?: number;
}

/**
 * A `Deno.TcpConn` whose reads and writes a monitor observes. Use it like the conn itself.
 * When the monitor declares it dead, the adapter closes it: from then on `read()` resolves `null`
 * and `close()` does nothing (the death and its error were reported through the monitor), while
 * `write()` rejects with Deno's `BadResource`.
 */
export interface WatchedConn extends Disposable {
  /**
   * The id the monitor knows it by; `0`, which no monitor gives, for a conn a {@linkcode listen}
   * listener accepted after its monitor was closed: handed on unwatched, with a warning, as Node's
   * and Bun's servers do.
   */
  readonly id: ConnectionId;
  /** What keepalive tuning achieved on this socket, and the detection bound that follows. */
  readonly report: TuningReport;
  /**
   * The underlying conn: reading, writing or closing it directly bypasses the monitor. Reading it
   * throws while {@linkcode connect} is still connecting (only the monitor's callbacks can see the
   * `WatchedConn` then).
   */
  readonly conn: DenoTcpConn;
  /** The local address. */
  readonly localAddr: DenoNetAddr;
  /** The peer's address. */
  readonly remoteAddr: DenoNetAddr;
  /** Data received (built on first use; as Deno's own, it closes the conn at EOF or on cancel). */
  readonly readable: ReadableStream<Uint8Array>;
  /** Data to send (built on first use; closing it closes the conn, as Deno's does). */
  readonly writable: WritableStream<Uint8Array>;
  /** `conn.read()`: data counts as received, `null` as the peer's FIN, an error as a death. */
  read(p: Uint8Array): Promise<number | null>;
  /** `conn.write()`: written bytes count as sent, an error as a death. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the conn; the monitor records `closed` (unless it was declared dead first). */
  close(): void;
  /** Half-closes: sends FIN, keeps reading. */
  closeWrite(): Promise<void>;
  /** `conn.setNoDelay()`. */
  setNoDelay(noDelay?: boolean): void;
  /** `conn.ref()`. */
  ref(): void;
  /** `conn.unref()`. */
  unref(): void;
}

/** A `Deno.TcpListener` that hands out {@linkcode WatchedConn}s, tuned and tracked. */
export interface WatchedListener extends AsyncIterable<WatchedConn>, Disposable {
  /** The address listened on. */
  readonly addr: DenoNetAddr;
  /**
   * What tuning the listening socket achieved: with FFI its values hold on every connection it
   * accepts, and those connections' reports are derived from it (`via: "listener"`).
   */
  readonly report: ListenerReport;
  /** Waits for the next connection. */
  accept(): Promise<WatchedConn>;
  /** Stops listening; connections already accepted stay open. */
  close(): void;
  /** `listener.ref()`. */
  ref(): void;
  /** `listener.unref()`. */
  unref(): void;
}

/** What the adapter keeps per conn, besides the kit's. */
interface DenoWatch extends Watch {
  readonly watched: WatchedConn;
}

const kit = new AdapterKit<DenoTcpConn>({
  runtime: "deno",
  argument: "conn",
  kind: "Deno.TcpConn",
  // A TCP conn by its shape: a Unix conn or a node:net socket is not (tuning would fail halfway).
  is: (value): value is DenoTcpConn => {
    const conn = value as Partial<DenoTcpConn> | null;
    return typeof conn?.read === "function" && typeof conn.setKeepAlive === "function" &&
      conn.localAddr?.transport === "tcp" && conn.remoteAddr?.transport === "tcp";
  },
  isOpen(conn, settings): boolean {
    // Deno tells a closed conn only by refusing an option: this sets SO_KEEPALIVE as tuning is
    // about to, on a conn no other monitor watches.
    try {
      conn.setKeepAlive(settings.enabled);
      return true;
    } catch (error) {
      return (error as Error | null)?.name !== "BadResource";
    }
  },
  // Deno's own API only switches SO_KEEPALIVE.
  native: (conn) => ({
    idle: false,
    interval: false,
    count: false,
    set: (enable) => conn.setKeepAlive(enable),
  }),
  backend: loadDenoBackend,
  // Deno exposes no descriptor: the one whose endpoints both match is found (synchronously after
  // accept or connect, before other descriptors can be opened).
  fd: (conn, backend, budget) => findDenoFd(backend, conn, budget),
  // Once the peer is gone its address proves nothing: the descriptor found for the conn before.
  endFd: (conn, backend) => knownDenoFd(backend, conn),
  endpoints: ({ localAddr, remoteAddr }) => ({
    local: { address: localAddr.hostname, port: localAddr.port },
    remote: { address: remoteAddr.hostname, port: remoteAddr.port },
  }),
  descriptors,
  unref: (timer) => {
    if (typeof timer === "number") system().unrefTimer(timer);
  },
});

function system(): DenoSystem {
  return (globalThis as unknown as { Deno: DenoSystem }).Deno;
}

/** The process's open descriptors, from `/proc/self/fd` where reading it is allowed. */
function descriptors(): readonly number[] | undefined {
  const deno = system();
  try {
    if (deno.permissions.querySync({ name: "read", path: "/proc/self/fd" }).state !== "granted") {
      return undefined;
    }
    const found: number[] = [];
    for (const entry of deno.readDirSync("/proc/self/fd")) {
      const fd = Number(entry.name);
      if (Number.isInteger(fd)) found.push(fd);
    }
    return found.sort((a, b) => a - b);
  } catch {
    return undefined;
  }
}

// The Deno listener under each WatchedListener: the key its tuning is kept under.
const LISTENERS = new WeakMap<object, object>();

/** Where a Deno server listens, as `tuneListener` wants it. */
function whereOf(server: DenoServer): ListenerWhere {
  const { transport, hostname, port } = server.addr;
  if (transport !== "tcp" || hostname === undefined || port === undefined) {
    return { address: `a ${transport} listener, where TCP keepalive does not apply` };
  }
  return { address: { address: hostname, port } };
}

function runtime(): DenoNet {
  kit.checkRuntime();
  return (globalThis as unknown as { Deno: DenoNet }).Deno;
}

/** The id of a conn handed on unwatched (see {@linkcode WatchedConn.id}): no monitor gives 0. */
const UNWATCHED = 0;

/** A warning the way Node's and Bun's adapters give theirs: Deno has `process` too. */
function warn(text: string): void {
  const process = (globalThis as {
    process?: { emitWarning?(warning: string, type: string): void };
  }).process;
  if (typeof process?.emitWarning === "function") {
    process.emitWarning(text, "SocketLivenessWarning");
  } else console.warn(`SocketLivenessWarning: ${text}`);
}

function quietly(close: () => void): void {
  try {
    close();
  } catch {
    // Already closed underneath.
  }
}

const WATCH_KEYS = ["ffi"] as const;
const LISTEN_KEYS = ["ffi", "port", "hostname", "tcpBacklog", "reusePort"] as const;
const CONNECT_KEYS = [
  "ffi",
  "port",
  "hostname",
  "signal",
  "autoSelectFamily",
  "autoSelectFamilyAttemptDelay",
] as const;

class Watched implements WatchedConn {
  readonly id: ConnectionId;
  #conn: DenoTcpConn | undefined;
  // While connect() establishes it: aborted when the monitor's connect timeout passes.
  #attempt: AbortController | undefined;
  #monitor: LivenessMonitor<WatchedConn>;
  #ffi: boolean;
  #watch: DenoWatch;
  #closed = false;
  #destroyed = false;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;
  // Made on the first read or write: an accepted conn that is never read or written costs none.
  #onRead: ((n: number | null) => number | null) | undefined;
  #onReadError: ((error: unknown) => null) | undefined;
  #onWriteError: ((error: unknown) => never) | undefined;

  // One driver for every conn, so a monitor registers it once.
  static driver: Driver<WatchedConn> = {
    destroy(watched: WatchedConn): void {
      const self = watched as Watched;
      self.#destroyed = self.#closed = true;
      if (self.#conn === undefined) return self.#attempt?.abort(); // connect() rejects: TimedOut
      quietly(() => self.conn.close()); // pending reads reject with Interrupted: read() ends them
      self.#release();
    },
    sample(watched: WatchedConn, id: ConnectionId): void {
      const self = watched as Watched;
      if (!self.#closed && self.#conn !== undefined) {
        kit.sample(self.#monitor, id, self.#conn, self.#ffi);
      }
    },
  };

  /**
   * @param conn The conn, or `undefined` for one {@linkcode Watched.open} is to establish: it is
   * tracked as `connecting` from now on.
   * @param listener The Deno listener it was accepted from, if any: when tuned, the conn's report
   * is derived from the listener's without a call into the kernel.
   */
  constructor(
    monitor: LivenessMonitor<WatchedConn>,
    conn: DenoTcpConn | undefined,
    ffi: boolean,
    listener?: object,
    tracked = true,
  ) {
    this.#conn = conn;
    this.#monitor = monitor;
    this.#ffi = ffi;
    if (conn === undefined) this.#attempt = new AbortController();
    this.id = tracked
      ? monitor.track(this, Watched.driver, conn === undefined ? CONNECTING : undefined)
      : UNWATCHED;
    // An unwatched conn's wrapper is known (its report, and `undefined` for its id), its conn not.
    this.#watch = kit.register<DenoWatch>(tracked && conn !== undefined ? [conn, this] : [this], {
      monitor,
      id: this.id,
      report: undefined,
      watched: this,
    });
    if (conn !== undefined) kit.accepted(monitor, conn, listener, ffi, this.#watch);
  }

  /**
   * Establishes the conn of a `Watched` made without one: `Deno.connect` with a signal that the
   * monitor's connect timeout aborts. Refused, unreachable and timed out attempts are reported
   * through the monitor before the error is thrown; an attempt the caller's signal aborts is a
   * local close.
   */
  async open(
    deno: DenoNet,
    options: Record<string, unknown>,
    signal: AbortSignal | undefined,
  ): Promise<WatchedConn> {
    const attempt = this.#attempt!;
    const giveUp = (): void => attempt.abort(signal?.reason);
    if (signal?.aborted) giveUp();
    signal?.addEventListener("abort", giveUp, { once: true });
    let conn: DenoTcpConn;
    try {
      conn = await deno.connect({ ...options, signal: attempt.signal, transport: "tcp" });
    } catch (error) {
      // Declared dead by the monitor (connect-timeout): the abort was its doing.
      if (this.#destroyed) throw connectTimedOut(options, error);
      if (signal?.aborted || this.#closed) this.#monitor.closed(this.id);
      else this.#monitor.failed(this.id, error);
      throw error;
    } finally {
      signal?.removeEventListener("abort", giveUp);
    }
    if (this.#destroyed) {
      conn.close(); // established as its time ran out
      throw connectTimedOut(options, undefined);
    }
    this.#conn = conn;
    this.#attempt = undefined;
    kit.register([conn], this.#watch);
    kit.accepted(this.#monitor, conn, undefined, this.#ffi, this.#watch);
    this.#monitor.connected(this.id);
    return this;
  }

  get conn(): DenoTcpConn {
    if (this.#conn === undefined) throw notEstablished();
    return this.#conn;
  }

  get report(): TuningReport {
    return this.#watch.report!;
  }

  get localAddr(): DenoNetAddr {
    return this.conn.localAddr;
  }

  get remoteAddr(): DenoNetAddr {
    return this.conn.remoteAddr;
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: 65_536,
      pull: async (controller) => {
        const request = controller.byobRequest!;
        const view = request.view!;
        const chunk = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
        let n = await this.read(chunk);
        while (n === 0) n = await this.read(chunk);
        if (n === null) {
          this.#closeQuietly(); // as Deno's own readable does at EOF
          controller.close();
        }
        request.respond(n ?? 0);
      },
      cancel: () => this.#closeQuietly(),
    });
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream({
      write: async (chunk) => {
        for (let done = 0; done < chunk.byteLength;) done += await this.write(chunk.subarray(done));
      },
      close: () => this.#closeQuietly(),
      abort: () => this.#closeQuietly(),
    });
  }

  // No async frame and no closure per call: each outcome is marked by a handler made once per
  // conn, before the caller's code runs on.
  read(p: Uint8Array): Promise<number | null> {
    const conn = this.#conn;
    if (conn === undefined) return Promise.reject(notEstablished());
    let reading: Promise<number | null>;
    try {
      reading = conn.read(p);
    } catch (error) {
      reading = Promise.reject(error);
    }
    return reading.then(
      this.#onRead ??= (n) => this.#readDone(n),
      this.#onReadError ??= (error) => this.#readFailed(error),
    );
  }

  write(p: Uint8Array): Promise<number> {
    const conn = this.#conn;
    if (conn === undefined) return Promise.reject(notEstablished());
    // Sent as it is handed over, not when Deno resolves the write: an answer read in the meantime
    // must come after it (whether data is in flight decides user-timeout or keepalive-timeout).
    if (p.byteLength > 0) this.#monitor.sent(this.id);
    let writing: Promise<number>;
    try {
      writing = conn.write(p);
    } catch (error) {
      writing = Promise.reject(error);
    }
    // A failure is the monitor's first, then the caller's: still rejected (and unhandled when
    // nobody awaits it), as Deno's own write would be.
    return writing.then(
      undefined,
      this.#onWriteError ??= (error) => this.#writeFailed(conn, error),
    );
  }

  #writeFailed(conn: DenoTcpConn, error: unknown): never {
    this.#failed(conn, error);
    throw error;
  }

  #readDone(n: number | null): number | null {
    if (n === null) this.#monitor.ended(this.id);
    else if (n > 0) this.#monitor.received(this.id);
    return n;
  }

  #readFailed(error: unknown): null {
    if (this.#destroyed) return null;
    this.#failed(this.#conn!, error); // ignored after a local close
    throw error;
  }

  /** A read or write failed: the monitor gets the error, or a stall's when the kernel says so. */
  #failed(conn: DenoTcpConn, error: unknown): void {
    this.#monitor.failed(this.id, kit.failure(this.#monitor, conn, error, this.#ffi, true));
  }

  close(): void {
    if (this.#destroyed) return;
    this.#closed = true;
    if (this.#conn === undefined) return this.#attempt?.abort(); // connect() gives up: local close
    try {
      this.conn.close(); // a second close throws BadResource, as Deno's does
    } finally {
      this.#monitor.closed(this.id);
      this.#release();
    }
  }

  closeWrite(): Promise<void> {
    this.#monitor.endedLocally(this.id); // a close after the peer's FIN is then still ours
    return this.conn.closeWrite();
  }

  setNoDelay(noDelay?: boolean): void {
    this.conn.setNoDelay(noDelay);
  }

  ref(): void {
    this.conn.ref();
  }

  unref(): void {
    this.conn.unref();
  }

  [Symbol.dispose](): void {
    this.#closeQuietly();
  }

  #closeQuietly(): void {
    if (!this.#closed) quietly(() => this.close()); // the monitor is told even if this throws
  }

  // The finder learns the descriptor is free, or later lookups rescan the whole table.
  #release(): void {
    if (!this.#ffi || this.#conn === undefined) return;
    const loaded = loadDenoBackend();
    if (loaded.ok) releaseDenoFd(loaded.backend, this.#conn);
  }
}

/** Ends an iteration as Deno's own does: at `BadResource` or `Interrupted`, the listener closed. */
function listenerClosed(error: unknown): IteratorReturnResult<undefined> {
  const name = (error as Error | null)?.name;
  if (name === "BadResource" || name === "Interrupted") return { value: undefined, done: true };
  throw error;
}

function notEstablished(): Error {
  return new Error("The connection is not established yet (connect() is still connecting)");
}

/** What connect() throws when the monitor's connect timeout ends the attempt: Deno's `TimedOut`. */
function connectTimedOut(options: Record<string, unknown>, cause: unknown): Error {
  type Errors = { TimedOut?: new (message: string, options?: ErrorOptions) => Error };
  const deno = (globalThis as unknown as { Deno?: { errors?: Errors } }).Deno;
  const TimedOut = deno?.errors?.TimedOut ?? Error;
  const where = `${options.hostname ?? "127.0.0.1"}:${options.port}`;
  return new TimedOut(
    `Connection to ${where} not established within the monitor's connect timeout`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Tunes an open `Deno.TcpConn` and starts tracking it. Call it right after accept or connect
 * (before other descriptors can be opened), as {@linkcode listen} and {@linkcode connect} do. A conn
 * is watched by one monitor for its life: watching it (or its {@linkcode WatchedConn}) again with
 * the same monitor returns the same `WatchedConn`.
 *
 * @param monitor The monitor to feed; its `keepalive` settings are applied.
 * @param conn The connection (or the `WatchedConn` this monitor already made of it).
 * @param options Whether to use FFI.
 * @returns The watched connection; read and write through it.
 * @throws {TypeError} When an argument is not what it should be, the monitor is closed, or the
 * conn is closed or watched by another monitor — before anything is tracked.
 * @throws {Error} When not running on Deno.
 *
 * @example Watch a conn from `Deno.connect`
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { watchConn, type WatchedConn } from "./deno.ts";
 * import assert from "node:assert/strict";
 *
 * const monitor = new LivenessMonitor<WatchedConn>({ keepalive: "60s:10s:5" });
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const raw = await Deno.connect({ port: listener.addr.port });
 * using conn = watchConn(monitor, raw);
 * assert.equal(monitor.state(conn.id), "open");
 * assert.equal(watchConn(monitor, raw), conn); // watched once
 * console.log(conn.report.bound.idleMs); // 110000: 7875000 without --allow-ffi
 * monitor.close();
 * ```
 */
export function watchConn(
  monitor: LivenessMonitor<WatchedConn>,
  conn: DenoTcpConn | WatchedConn,
  options: WatchOptions = {},
): WatchedConn {
  kit.checkRuntime();
  kit.checkMonitor(monitor);
  kit.checkSocket(conn);
  const ffi = kit.checkOptions(options, WATCH_KEYS).ffi !== false;
  const known = kit.owner(monitor, conn as DenoTcpConn) as DenoWatch | undefined;
  return known?.watched ?? new Watched(monitor, conn as DenoTcpConn, ffi);
}

/**
 * `Deno.listen()` for TCP whose accepted connections are tuned and tracked.
 *
 * @param monitor The monitor to feed.
 * @param options `Deno.listen` options, and `ffi`.
 * @returns The listener: iterate it or call `accept()`. A conn it accepts once the monitor is
 * closed comes unwatched (id `0`), with a process warning, as on Node and Bun.
 * @throws {TypeError} When an argument is not what it should be, or the monitor is closed —
 * before anything listens.
 * @throws {Error} When not running on Deno.
 *
 * @example Accept conns and learn which peers die
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { listen, type WatchedConn } from "./deno.ts";
 * import assert from "node:assert/strict";
 *
 * const monitor = new LivenessMonitor<WatchedConn>({
 *   keepalive: "30s:5s:4",
 *   onTransition: (t) => t.to === "dead" && console.warn(`${t.id} died: ${t.reason}`),
 * });
 * using server = listen(monitor, { hostname: "127.0.0.1", port: 0 });
 * using _peer = await Deno.connect({ port: server.addr.port });
 * for await (using conn of server) {
 *   assert.equal(conn.report.keepalive.status, "applied");
 *   break;
 * }
 * monitor.close();
 * ```
 */
export function listen(
  monitor: LivenessMonitor<WatchedConn>,
  options: ListenOptions,
): WatchedListener {
  const deno = runtime();
  kit.checkMonitor(monitor);
  const { ffi, ...rest } = kit.checkOptions(options, LISTEN_KEYS);
  const listener = deno.listen({ ...rest, transport: "tcp" });
  let report: ListenerReport;
  try {
    report = kit.tuneListener(monitor, listener, whereOf(listener), ffi !== false, false);
  } catch (error) {
    listener.close();
    throw error;
  }
  const watch = (conn: DenoTcpConn): WatchedConn => {
    try {
      return new Watched(monitor, conn, ffi !== false, listener);
    } catch (error) {
      // Closed under a listener still accepting: the conn goes on unwatched (rejecting would end
      // an accept loop, and close the listener of one that iterates), as on Node and Bun.
      if (monitor.isClosed) {
        try {
          const unwatched = new Watched(monitor, conn, ffi !== false, listener, false);
          warn(notWatched(error));
          return unwatched;
        } catch {
          // Not even that: refused, as below.
        }
      }
      conn.close();
      throw error;
    }
  };
  const watched: WatchedListener = {
    get addr(): DenoNetAddr {
      return listener.addr;
    },
    get report(): ListenerReport {
      return kit.listenerReport(listener) ?? report;
    },
    accept: () => listener.accept().then(watch),
    // Deno's own iteration without its async `next()`: each conn watched as `accept()` hands it
    // over, one promise per conn as with Deno's, and the end as Deno tells it (the listener closed).
    [Symbol.asyncIterator]: () => {
      const next = (conn: DenoTcpConn): IteratorResult<WatchedConn> => {
        try {
          return { value: watch(conn), done: false };
        } catch (error) {
          // The listener closes, as a loop that throws closes it.
          quietly(() => listener.close());
          throw error;
        }
      };
      return {
        next: () => listener.accept().then(next, listenerClosed),
        return: (value?: unknown) => {
          quietly(() => listener.close()); // as Deno's own return() does
          return Promise.resolve({ value, done: true as const });
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    },
    close: () => listener.close(),
    ref: () => listener.ref(),
    unref: () => listener.unref(),
    [Symbol.dispose]: () => quietly(() => listener.close()),
  };
  LISTENERS.set(watched, listener);
  return watched;
}

/**
 * Tunes a server's listening socket once: Linux copies its keepalive options to every connection it
 * accepts afterwards, so those connections are tuned without a call into the kernel each — the
 * only way to tune the connections of `Deno.serve`, which hands them to no one. The listening
 * socket is found among the process's descriptors by its address (`SO_ACCEPTCONN`), proven on a
 * `dup(2)`, tuned and read back. Connections it had already accepted are found the same way and
 * tuned one by one, and those waiting in its accept queue are tuned as they are accepted (for
 * `Deno.serve`, by a few scans in the second that follows): `report.earlier` counts both.
 * {@linkcode listen} does this itself; tuning a server again with the same monitor returns its
 * report.
 *
 * Without `--allow-ffi` (or with `ffi: false`, or off Linux) the report says why (each control
 * `unsupported`), and the monitor warns once with what that costs. Reading `/proc/self/fd` (with
 * `--allow-read`) makes the search exact; without it the descriptor table is walked.
 *
 * @param monitor The monitor whose `keepalive` settings apply.
 * @param server The `HttpServer` of `Deno.serve`, a `Deno.Listener`, or a {@linkcode WatchedListener}.
 * @param options See {@linkcode WatchOptions}.
 * @returns The listener's report: each control's outcome, read back from the listening socket, its
 * address, and the connections that were there before.
 * @throws {TypeError} When an argument is not what it must be, the monitor is closed, or another
 * monitor tuned the server.
 * @throws {Error} When not running on Deno.
 *
 * @example Tune the listener of `Deno.serve`
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { tuneServer } from "./deno.ts";
 *
 * const monitor = new LivenessMonitor({ keepalive: "30s:5s:4" });
 * await using server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   () => new Response("ok"),
 * );
 * // Without --allow-ffi: "unsupported", with the reason, and the monitor warns.
 * const report = tuneServer(monitor, server);
 * console.log(report.idle.status, report.earlier.accepted); // applied 0
 * monitor.close();
 * ```
 */
export function tuneServer<C>(
  monitor: LivenessMonitor<C>,
  server: DenoServer,
  options: WatchOptions = {},
): ListenerReport {
  kit.checkRuntime();
  kit.checkMonitor(monitor);
  const addr = (server as Partial<DenoServer> | null)?.addr;
  if (addr === null || typeof addr !== "object" || typeof addr.transport !== "string") {
    throw new TypeError(
      `Argument "server" must be a Deno.HttpServer or Deno.Listener, got ${describe(server)}`,
    );
  }
  const ffi = kit.checkOptions(options, WATCH_KEYS).ffi !== false;
  const listener = LISTENERS.get(server) ?? server;
  return kit.tuneListener(monitor, listener, whereOf(server), ffi, true);
}

/**
 * `Deno.connect()` for TCP; the connection is tuned and tracked, from the attempt on.
 *
 * The attempt is tracked as `connecting` under the monitor's `connectTimeout` (default 20 s), as
 * Node's `connect()` is: a peer that never answers the SYN (a cut cable; Linux alone retries for
 * about two minutes) is `connecting -> dead (connect-timeout)` when it passes, the attempt's signal
 * is aborted and this rejects with `Deno.errors.TimedOut`. A refused or unreachable attempt is
 * `connecting -> dead (refused)` / `(unreachable)`, then this rejects with Deno's error; one that
 * `options.signal` aborts is `connecting -> closed (local-close)`. Established, it is
 * `connecting -> open (connected)`, once tuned. While it connects, the transition's context is
 * the `WatchedConn` to be: its `conn` and addresses are not there yet (reading them throws).
 *
 * @param monitor The monitor to feed.
 * @param options `Deno.connect` options, and `ffi`.
 * @returns The watched connection.
 * @throws {TypeError} When an argument is not what it should be, or the monitor is closed —
 * before anything connects.
 * @throws {Error} When not running on Deno; `Deno.errors.TimedOut` when the monitor's connect
 * timeout ends the attempt; Deno's own error when it fails otherwise.
 *
 * @example Connect without FFI and read what that costs
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { connect, type WatchedConn } from "./deno.ts";
 * import assert from "node:assert/strict";
 *
 * const monitor = new LivenessMonitor<WatchedConn>({ keepalive: { idle: "20s" } });
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await connect(monitor, { port: listener.addr.port, ffi: false });
 * assert.equal(conn.report.idle.status, "unsupported");
 * assert.equal(conn.report.idle.note, "setsockopt is off (the ffi option is false)");
 * assert.equal(conn.report.bound.keepaliveMs, 7_875_000); // the system's 7200 s + 9 × 75 s
 * monitor.close();
 * ```
 */
export async function connect(
  monitor: LivenessMonitor<WatchedConn>,
  options: ConnectOptions,
): Promise<WatchedConn> {
  const deno = runtime();
  kit.checkMonitor(monitor);
  const { ffi, signal, ...rest } = kit.checkOptions(options, CONNECT_KEYS);
  // Tracked as connecting before anything is opened: only a full monitor throws here.
  const watched = new Watched(monitor, undefined, ffi !== false);
  return await watched.open(deno, rest, signal);
}

/**
 * The id under which a conn is tracked, for `monitor.acked(id)` and the other inputs; the same as
 * {@linkcode WatchedConn.id}.
 *
 * @param conn A `WatchedConn`, the `Deno.TcpConn` under it, a WebSocket from
 * {@linkcode upgradeWebSocket}, or a `Request` whose response {@linkcode watchStream} watches.
 * @returns The id, or `undefined` when the conn is not watched.
 * @throws {TypeError} When `conn` is not a `Deno.TcpConn`.
 *
 * @example
 * ```ts ignore
 * if (text.includes("PONG\n")) monitor.acked(connectionId(conn)!);
 * ```
 */
export function connectionId(
  conn: DenoTcpConn | WatchedConn | DenoWebSocket | Request,
): ConnectionId | undefined {
  const id = kitOf(conn).lookup(conn)?.id;
  return id === UNWATCHED ? undefined : id;
}

/**
 * What tuning a watched conn achieved: each control's outcome and the detection bound; the same as
 * {@linkcode WatchedConn.report}.
 *
 * @param conn A `WatchedConn`, the `Deno.TcpConn` under it, a WebSocket from
 * {@linkcode upgradeWebSocket}, or a `Request` whose response {@linkcode watchStream} watches.
 * @returns The report, or `undefined` when the conn is not watched.
 * @throws {TypeError} When `conn` is not a `Deno.TcpConn`.
 *
 * @example
 * ```ts ignore
 * const report = tuningReport(conn);
 * if (report?.userTimeout.status !== "applied") console.warn(report?.userTimeout.note);
 * ```
 */
export function tuningReport(
  conn: DenoTcpConn | WatchedConn | DenoWebSocket | Request,
): TuningReport | undefined {
  return kitOf(conn).lookup(conn)?.report;
}

/**
 * The monitor's state of a watched conn.
 *
 * @param conn A `WatchedConn`, the `Deno.TcpConn` under it, a WebSocket from
 * {@linkcode upgradeWebSocket}, or a `Request` whose response {@linkcode watchStream} watches.
 * @returns The state (`closed` or `dead` at its end), or `undefined` when it is not watched or
 * the monitor has forgotten it.
 * @throws {TypeError} When `conn` is not a `Deno.TcpConn`.
 *
 * @example
 * ```ts ignore
 * if (connectionState(conn) === "idle") await conn.write(ping);
 * ```
 */
export function connectionState(
  conn: DenoTcpConn | WatchedConn | DenoWebSocket | Request,
): ConnectionState | undefined {
  return kitOf(conn).state(conn);
}

/** The kit that knows a lookup's argument: a WebSocket's, a request's, or the TCP conns'. */
function kitOf(
  value: unknown,
): AdapterKit<DenoTcpConn> | AdapterKit<DenoWebSocket> | AdapterKit<Request> {
  if (denoStreamKit.kind.is(value)) return denoStreamKit;
  return denoWebSocketKit.kind.is(value) ? denoWebSocketKit : kit;
}
