/**
 * The Node adapter: tunes `node:net` sockets (keepalive idle, interval, count and user timeout) and
 * maps their events onto a {@linkcode LivenessMonitor}.
 *
 * - `'end'` (the peer's FIN) → `ended(id)`; `'error'` → `failed(id, error)`; `'close'` →
 *   `closed(id)`. Errors are observed through `events.errorMonitor`, which does not count as a
 *   handler: keep your own `'error'` listener, as Node requires. `'end'` comes when the stream has
 *   been read to its end, as Node emits it.
 * - Reads are seen as they happen: the socket's own `push` (which Node's stream internals call with
 *   every chunk read from the kernel) reports them, and no `'data'` listener is added (it would
 *   switch your stream to flowing mode, and data you meant to read later could be lost). Writes are
 *   sampled: when one of the connection's deadlines comes, or it fails, `socket.bytesWritten` is
 *   compared with what was seen last (so a write keeps an idle timeout at bay from the deadline
 *   that sees it). Bytes a consumer takes straight from the handle (Node's HTTP parser) are sampled
 *   the same way through `bytesRead`.
 * - A connection declared dead (or closed by max-idle / max-age after its grace) is destroyed
 *   without an error, so no `'error'` event can crash a process that has no listener: the reason
 *   is in the monitor's transition.
 * - Keepalive: `socket.setKeepAlive` first (Node ≥ 24.19 sets idle, interval and count; older Node
 *   the idle time only, with interval 1 s and count 10), then `setsockopt` through koffi (an
 *   optional dependency, Linux) for the rest, on a descriptor proven to be the socket's.
 *   {@linkcode tuningReport} tells what took effect.
 *
 * @example Watch every connection of a server
 * ```ts
 * import { connect, createServer, type Socket } from "node:net";
 * import { LivenessMonitor } from "../mod.ts";
 * import { tuningReport, watchServer } from "./node.ts";
 *
 * const monitor = new LivenessMonitor<Socket>({
 *   keepalive: { idle: "30s", interval: "5s", count: 4, userTimeout: "50s" },
 *   onTransition: (t) => console.log(`${t.id}: ${t.from} -> ${t.to} (${t.reason})`),
 * });
 * const server = createServer((socket) => {
 *   socket.on("error", () => {}); // the reason reaches onTransition
 *   console.log(tuningReport(socket)?.bound.idleMs); // 50000: a silent peer is gone by then
 *   socket.end();
 *   server.close();
 * });
 * watchServer(monitor, server);
 * server.listen(0, "127.0.0.1", () => {
 *   connect((server.address() as { port: number }).port, "127.0.0.1").resume();
 * });
 * ```
 *
 * @module
 */

import { errorMonitor, type EventEmitter } from "node:events";
import { connect as netConnect, type NetConnectOpts, Server, Socket } from "node:net";
import process from "node:process";
import {
  type ConnectionId,
  type Driver,
  type LivenessMonitor,
  type NativeKeepalive,
  tuneKeepalive,
  type TuningReport,
} from "../mod.ts";
import { keepaliveProbesOf, type SockAddr, type SockoptBackend } from "../src/_sockopt.ts";
import { describe, knownKeys } from "../src/_validate.ts";
import { loadNodeBackend, nodeSocketFd } from "./_ffi_node.ts";

/** Options of {@linkcode watchSocket}, {@linkcode watchServer} and {@linkcode connect}. */
export interface WatchOptions {
  /**
   * Whether to use `setsockopt` through koffi for what `setKeepAlive` cannot set (default `true`).
   * With `false` only Node's own API is used and the report says what is missing.
   */
  ffi?: boolean;
}

/** What the adapter keeps per socket, under one symbol. */
interface Watch {
  readonly monitor: LivenessMonitor<Socket>;
  readonly id: ConnectionId;
  readonly ffi: boolean;
  read: number;
  written: number;
  report: TuningReport | undefined;
}

const WATCH = Symbol("socket-liveness");
type Watched = Socket & { [WATCH]?: Watch };

const OTHER_RUNTIME = "Deno" in globalThis
  ? "deno"
  : process.versions.bun !== undefined
  ? "bun"
  : undefined;
// Node ≥ 24.19 declares setKeepAlive(enable, initialDelay, interval, count); older Node two.
const SETS_INTERVAL_AND_COUNT = Socket.prototype.setKeepAlive.length >= 4;

// One driver and one set of listeners for every socket: they find their state on `this`.
const driver: Driver<Socket> = {
  destroy(socket: Socket): void {
    socket.destroy();
  },
  sample(socket: Watched, id: ConnectionId): void {
    const watch = socket[WATCH];
    if (watch === undefined || watch.id !== id) return;
    const read = socket.bytesRead;
    const written = socket.bytesWritten;
    if (read !== watch.read) {
      watch.read = read;
      watch.monitor.received(id);
    }
    if (written !== watch.written) {
      watch.written = written;
      watch.monitor.sent(id);
    }
    if (watch.monitor.watchKernel && !socket.destroyed) {
      const loaded = loadNodeBackend();
      const fd = nodeSocketFd(socket);
      const probes = loaded.ok && fd !== undefined
        ? keepaliveProbesOf(loaded.backend, fd)
        : undefined;
      if (probes !== undefined) watch.monitor.keepaliveProbes(id, probes);
    }
  },
};

/**
 * Installed as the socket's own `push`: Node's stream internals hand every chunk read from the
 * kernel to `push`, so reads are seen as they happen, without a `'data'` listener (which would
 * switch the stream to flowing mode).
 */
function observedPush(this: Watched, chunk: unknown, encoding?: BufferEncoding): boolean {
  const watch = this[WATCH];
  if (watch !== undefined && chunk !== null) {
    watch.read = this.bytesRead;
    watch.monitor.received(watch.id);
  }
  return Object.getPrototypeOf(this).push.call(this, chunk, encoding);
}

function onConnect(this: Watched): void {
  const watch = this[WATCH];
  if (watch !== undefined) watch.report = tune(watch.monitor, this, watch.ffi);
}

function onEnd(this: Watched): void {
  const watch = this[WATCH];
  if (watch !== undefined) watch.monitor.ended(watch.id);
}

function onError(this: Watched, error: Error): void {
  const watch = this[WATCH];
  if (watch !== undefined) watch.monitor.failed(watch.id, error);
}

function onClose(this: Watched): void {
  const watch = this[WATCH];
  if (watch !== undefined) watch.monitor.closed(watch.id);
}

/**
 * Tracks a socket in a monitor and tunes its keepalive: at once when it is connected, on
 * `'connect'` otherwise. Watching a socket again with the same monitor returns its id.
 *
 * @param monitor The monitor to feed.
 * @param socket An open `net.Socket`, accepted or outgoing.
 * @param options See {@linkcode WatchOptions}.
 * @returns The connection's id in the monitor.
 * @throws {TypeError} When an argument is not what it must be, or the socket is destroyed or
 * watched by another monitor.
 * @throws {Error} When the monitor is closed, or this is not Node.
 *
 * @example Watch a connection the application opened itself
 * ```ts
 * import { connect, createServer, type Socket } from "node:net";
 * import { LivenessMonitor } from "../mod.ts";
 * import { watchSocket } from "./node.ts";
 *
 * const monitor = new LivenessMonitor<Socket>({ keepalive: "10s:2s:3" });
 * const server = createServer((peer) => peer.end()).listen(0, "127.0.0.1", () => {
 *   const { port } = server.address() as { port: number };
 *   const socket = connect(port, "127.0.0.1");
 *   const id = watchSocket(monitor, socket, { ffi: false });
 *   socket.on("close", () => {
 *     console.log(monitor.state(id)); // undefined: closed and forgotten
 *     server.close();
 *   });
 *   socket.resume();
 * });
 * ```
 */
export function watchSocket(
  monitor: LivenessMonitor<Socket>,
  socket: Socket,
  options?: WatchOptions,
): ConnectionId {
  checkRuntime();
  checkMonitor(monitor);
  if (!(socket instanceof Socket)) {
    throw new TypeError(`Argument "socket" must be a net.Socket, got ${describe(socket)}`);
  }
  if (options !== undefined) knownKeys(checkOptions(options), "", ["ffi"]);
  return watch(monitor, socket, options?.ffi !== false);
}

/**
 * Watches every connection a server accepts from now on (HTTP servers included), before the
 * server's own `'connection'` listeners run, so they can already read {@linkcode connectionId}.
 * Nothing thrown while watching reaches the accept path: a connection that cannot be watched (for
 * instance after `monitor.close()`) is left alone with a process warning.
 *
 * @param monitor The monitor to feed.
 * @param server A `net.Server` (or `http.Server`, `tls.Server`: the raw TCP socket is watched).
 * @param options See {@linkcode WatchOptions}.
 * @returns A function that stops watching new connections (those watched stay watched).
 * @throws {TypeError} When an argument is not what it must be.
 * @throws {Error} When this is not Node.
 *
 * @example A heartbeat on a line protocol
 * ```ts
 * import { createServer, type Socket } from "node:net";
 * import { LivenessMonitor } from "../mod.ts";
 * import { connectionId, watchServer } from "./node.ts";
 *
 * const monitor = new LivenessMonitor<Socket>({
 *   heartbeat: { interval: "15s", timeout: "5s", send: (socket) => socket.write("PING\n") },
 * });
 * const server = createServer((socket) => {
 *   socket.on("error", () => {});
 *   socket.on("data", (data) => {
 *     if (data.includes("PONG\n")) monitor.acked(connectionId(socket)!);
 *   });
 * });
 * const unwatch = watchServer(monitor, server);
 * unwatch();
 * monitor.close();
 * ```
 */
export function watchServer(
  monitor: LivenessMonitor<Socket>,
  server: Server,
  options?: WatchOptions,
): () => void {
  checkRuntime();
  checkMonitor(monitor);
  if (!(server instanceof Server)) {
    throw new TypeError(`Argument "server" must be a net.Server, got ${describe(server)}`);
  }
  if (options !== undefined) knownKeys(checkOptions(options), "", ["ffi"]);
  const ffi = options?.ffi !== false;
  const onConnection = (socket: Socket): void => {
    try {
      watch(monitor, socket, ffi);
    } catch (error) {
      process.emitWarning(
        `An accepted connection is not watched: ${(error as Error)?.message ?? error}`,
        "SocketLivenessWarning",
      );
    }
  };
  server.prependListener("connection", onConnection);
  return (): void => {
    server.off("connection", onConnection);
  };
}

/**
 * Opens a connection like `net.connect(options)` and watches it; keepalive is tuned on
 * `'connect'`, before `connectListener` runs.
 *
 * @param monitor The monitor to feed.
 * @param options `net.connect` options, plus {@linkcode WatchOptions}.
 * @param connectListener Called once on `'connect'`.
 * @returns The socket.
 * @throws {TypeError} When an argument is not what it must be.
 * @throws {Error} When the monitor is closed, or this is not Node.
 *
 * @example
 * ```ts
 * import { createServer, type Socket } from "node:net";
 * import { LivenessMonitor } from "../mod.ts";
 * import { connect, tuningReport } from "./node.ts";
 *
 * const monitor = new LivenessMonitor<Socket>({ keepalive: "2s:1s:3" });
 * const server = createServer((peer) => peer.end()).listen(0, "127.0.0.1", () => {
 *   const { port } = server.address() as { port: number };
 *   const socket = connect(monitor, { port, host: "127.0.0.1" }, () => {
 *     console.log(tuningReport(socket)?.idle.value); // 2000
 *   });
 *   socket.on("close", () => server.close()).resume();
 * });
 * ```
 */
export function connect(
  monitor: LivenessMonitor<Socket>,
  options: NetConnectOpts & WatchOptions,
  connectListener?: () => void,
): Socket {
  checkRuntime();
  checkMonitor(monitor);
  checkOptions(options);
  const { ffi, ...netOptions } = options;
  if (connectListener !== undefined && typeof connectListener !== "function") {
    throw new TypeError(
      `Argument "connectListener" must be a function, got ${describe(connectListener)}`,
    );
  }
  const socket = netConnect(netOptions);
  watch(monitor, socket, ffi !== false);
  if (connectListener !== undefined) socket.once("connect", connectListener);
  return socket;
}

/**
 * What tuning a watched socket achieved: each control's outcome and the detection bound.
 *
 * @param socket A watched socket.
 * @returns The report, or `undefined` before the socket is connected or when it is not watched.
 * @throws {TypeError} When `socket` is not a `net.Socket`.
 *
 * @example
 * ```ts ignore
 * const report = tuningReport(socket);
 * if (report?.userTimeout.status !== "applied") console.warn(report?.userTimeout.note);
 * ```
 */
export function tuningReport(socket: Socket): TuningReport | undefined {
  return stateOf(socket)?.report;
}

/**
 * The id under which a socket is tracked, for `monitor.acked(id)` and the other inputs.
 *
 * @param socket A watched socket.
 * @returns The id, or `undefined` when the socket is not watched.
 * @throws {TypeError} When `socket` is not a `net.Socket`.
 *
 * @example
 * ```ts ignore
 * socket.on("data", (data) => {
 *   if (data.includes("PONG\n")) monitor.acked(connectionId(socket)!);
 * });
 * ```
 */
export function connectionId(socket: Socket): ConnectionId | undefined {
  return stateOf(socket)?.id;
}

function watch(monitor: LivenessMonitor<Socket>, socket: Watched, ffi: boolean): ConnectionId {
  const known = socket[WATCH];
  if (known !== undefined) {
    if (known.monitor === monitor) return known.id;
    throw new TypeError(`Argument "socket" is already watched by another monitor`);
  }
  if (socket.destroyed) {
    throw new TypeError(`Argument "socket" must be an open socket, got a destroyed one`);
  }
  const id = monitor.track(socket, driver);
  const state: Watch = {
    monitor,
    id,
    ffi,
    read: socket.bytesRead,
    written: socket.bytesWritten,
    report: undefined,
  };
  socket[WATCH] = state;
  socket.push = observedPush;
  socket.on("end", onEnd);
  // Observes errors without counting as a handler: a socket without one still throws, as before.
  (socket as EventEmitter).on(errorMonitor, onError);
  socket.on("close", onClose);
  if (socket.pending) socket.once("connect", onConnect);
  else state.report = tune(monitor, socket, ffi);
  return id;
}

function tune(monitor: LivenessMonitor<Socket>, socket: Socket, ffi: boolean): TuningReport {
  const settings = monitor.keepalive;
  if (socket.remotePort === undefined) {
    // An IPC socket (Node's setKeepAlive does nothing there), or a peer already gone.
    return tuneKeepalive(settings, { unavailable: "not a connected TCP socket" }, monitor.policy);
  }
  const native = nativeKeepalive(socket, settings.enabled && settings.idleMs !== undefined);
  const without = (unavailable: string) =>
    tuneKeepalive(settings, { native, unavailable }, monitor.policy);
  if (!ffi) return without("setsockopt is off (the ffi option is false)");
  const loaded = loadNodeBackend();
  if (!loaded.ok) return without(loaded.reason);
  const fd = nodeSocketFd(socket);
  if (fd === undefined) return without("the socket has no file descriptor");
  const backend = loaded.backend;
  // Tuned through a dup(2) proven by its endpoints: a number reused meanwhile (by a worker thread)
  // is never touched.
  const prove = (held: number) => notThisSocket(backend, held, socket);
  return tuneKeepalive(settings, { native, sockopt: { backend, fd, prove } }, monitor.policy);
}

function nativeKeepalive(socket: Socket, withIdle: boolean): NativeKeepalive {
  // Node sets interval and count only along with an initial delay (1 s and 10 when not given);
  // without one it only switches SO_KEEPALIVE.
  const more = SETS_INTERVAL_AND_COUNT && withIdle;
  return {
    idle: true,
    interval: more,
    count: more,
    sideEffects: withIdle ? { interval: 1000, count: 10 } : undefined,
    set(enable, idleMs, intervalMs, count): void {
      socket.setKeepAlive(enable, idleMs ?? 0, intervalMs, count);
    },
  };
}

/** Why `fd` is not proven to be `socket`'s, or `undefined` when its endpoints match. */
function notThisSocket(backend: SockoptBackend, fd: number, socket: Socket): string | undefined {
  const local = backend.localAddress(fd);
  const remote = backend.remoteAddress(fd);
  if (
    sameEndpoint(local, socket.localAddress, socket.localPort) &&
    sameEndpoint(remote, socket.remoteAddress, socket.remotePort)
  ) return undefined;
  return `descriptor ${fd} is ${show(local)} -> ${show(remote)}, not this socket's ${
    socket.localAddress ?? "?"
  }:${socket.localPort ?? "?"} -> ${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
}

function sameEndpoint(
  kernel: SockAddr | undefined,
  address: string | undefined,
  port: number | undefined,
): boolean {
  return kernel !== undefined && address !== undefined && kernel.port === port &&
    plainAddress(kernel.address) === plainAddress(address);
}

/** Lower case, without a zone, and `::ffff:1.2.3.4` as `1.2.3.4`. */
function plainAddress(address: string): string {
  const bare = address.toLowerCase().replace(/%.*$/, "");
  return bare.startsWith("::ffff:") && bare.includes(".") ? bare.slice(7) : bare;
}

function show(endpoint: SockAddr | undefined): string {
  return endpoint === undefined ? "?" : `${endpoint.address}:${endpoint.port}`;
}

function stateOf(socket: Socket): Watch | undefined {
  if (!(socket instanceof Socket)) {
    throw new TypeError(`Argument "socket" must be a net.Socket, got ${describe(socket)}`);
  }
  return (socket as Watched)[WATCH];
}

function checkRuntime(): void {
  if (OTHER_RUNTIME !== undefined) {
    throw new Error(
      `The Node adapter runs on Node.js only: on ${OTHER_RUNTIME} use "socket-liveness/${OTHER_RUNTIME}"`,
    );
  }
}

function checkMonitor(monitor: unknown): void {
  const candidate = monitor as Partial<LivenessMonitor<Socket>> | null;
  if (
    typeof candidate !== "object" || candidate === null ||
    typeof candidate.track !== "function" || typeof candidate.keepalive !== "object"
  ) {
    throw new TypeError(`Argument "monitor" must be a LivenessMonitor, got ${describe(monitor)}`);
  }
}

function checkOptions(options: unknown): Record<string, unknown> {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`Argument "options" must be an object, got ${describe(options)}`);
  }
  const ffi = (options as WatchOptions).ffi;
  if (ffi !== undefined && typeof ffi !== "boolean") {
    throw new TypeError(`Option "ffi" must be a boolean, got ${describe(ffi)}`);
  }
  return options as Record<string, unknown>;
}
