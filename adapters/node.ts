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
 * - A socket is watched by one monitor for its life; what is refused is refused before anything is
 *   opened, tracked or attached. {@linkcode connectionId}, {@linkcode tuningReport} and
 *   {@linkcode connectionState} look a socket up.
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
import type {
  ConnectionId,
  ConnectionState,
  Driver,
  LivenessMonitor,
  TuningReport,
} from "../mod.ts";
import { AdapterKit, endpointsOf, notWatched, type Watch, type WatchOptions } from "../src/_kit.ts";
import { describe } from "../src/_validate.ts";
import { loadNodeBackend, nodeSocketFd } from "./_ffi_node.ts";

export type {
  ConnectionId,
  ConnectionState,
  ControlReport,
  ControlStatus,
  TuningReport,
} from "../mod.ts";
export type { WatchOptions } from "../src/_kit.ts";

/** What the adapter keeps per socket, besides the kit's. */
interface NodeWatch extends Watch {
  readonly ffi: boolean;
  read: number;
  written: number;
}

// Node ≥ 24.19 declares setKeepAlive(enable, initialDelay, interval, count); older Node two.
const SETS_INTERVAL_AND_COUNT = Socket.prototype.setKeepAlive.length >= 4;

const kit = new AdapterKit<Socket>({
  runtime: "node",
  argument: "socket",
  kind: "net.Socket",
  is: (value): value is Socket => value instanceof Socket,
  isOpen: (socket) => !socket.destroyed,
  native(socket, settings) {
    // Node sets interval and count only along with an initial delay (1 s and 10 when not given);
    // without one it only switches SO_KEEPALIVE.
    const withIdle = settings.enabled && settings.idleMs !== undefined;
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
  },
  backend: loadNodeBackend,
  fd: nodeSocketFd,
  // No remote port: an IPC socket (Node's setKeepAlive does nothing there), or a peer gone.
  endpoints: (socket) =>
    endpointsOf(socket.localAddress, socket.localPort, socket.remoteAddress, socket.remotePort),
});

const watchOf = (socket: Socket): NodeWatch | undefined => kit.watchOf(socket) as NodeWatch;

// One driver and one set of listeners for every socket: they find their watch by the socket.
const driver: Driver<Socket> = {
  destroy(socket: Socket): void {
    socket.destroy();
  },
  sample(socket: Socket, id: ConnectionId): void {
    const watch = watchOf(socket);
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
    if (!socket.destroyed) kit.sample(watch.monitor, id, socket, watch.ffi);
  },
};

/**
 * Installed as the socket's own `push`: Node's stream internals hand every chunk read from the
 * kernel to `push`, so reads are seen as they happen, without a `'data'` listener (which would
 * switch the stream to flowing mode).
 */
function observedPush(this: Socket, chunk: unknown, encoding?: BufferEncoding): boolean {
  const watch = watchOf(this);
  if (watch !== undefined && chunk !== null) {
    watch.read = this.bytesRead;
    watch.monitor.received(watch.id);
  }
  return Object.getPrototypeOf(this).push.call(this, chunk, encoding);
}

function onConnect(this: Socket): void {
  const watch = watchOf(this);
  if (watch === undefined) return;
  watch.monitor.connected(watch.id);
  watch.report = kit.tune(watch.monitor, this, watch.ffi);
}

function onEnd(this: Socket): void {
  const watch = watchOf(this);
  if (watch === undefined) return;
  // Our side ended first (end() was called): the close that follows is ours, not the peer's.
  if (this.writableEnded) watch.monitor.endedLocally(watch.id);
  watch.monitor.ended(watch.id);
}

function onError(this: Socket, error: Error): void {
  const watch = watchOf(this);
  if (watch !== undefined) watch.monitor.failed(watch.id, error);
}

function onClose(this: Socket): void {
  const watch = watchOf(this);
  if (watch !== undefined) watch.monitor.closed(watch.id);
}

/**
 * Tracks a socket in a monitor and tunes its keepalive: at once when it is connected, on
 * `'connect'` otherwise. A socket is watched by one monitor for its life: watching it again with
 * the same monitor returns its id, and nothing is attached twice.
 *
 * @param monitor The monitor to feed.
 * @param socket An open `net.Socket`, accepted or outgoing.
 * @param options See {@linkcode WatchOptions}.
 * @returns The connection's id in the monitor.
 * @throws {TypeError} When an argument is not what it must be, the monitor is closed, or the
 * socket is destroyed or watched by another monitor — before anything is tracked or attached.
 * @throws {Error} When this is not Node.
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
  options: WatchOptions = {},
): ConnectionId {
  kit.checkRuntime();
  kit.checkMonitor(monitor);
  kit.checkSocket(socket);
  return watch(monitor, socket, kit.checkOptions(options, WATCH_KEYS).ffi !== false);
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
 * @throws {TypeError} When an argument is not what it must be, or the monitor is closed — before
 * any listener is added.
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
  options: WatchOptions = {},
): () => void {
  kit.checkRuntime();
  kit.checkMonitor(monitor);
  if (!(server instanceof Server)) {
    throw new TypeError(`Argument "server" must be a net.Server, got ${describe(server)}`);
  }
  const ffi = kit.checkOptions(options, WATCH_KEYS).ffi !== false;
  const onConnection = (socket: Socket): void => {
    try {
      watch(monitor, socket, ffi);
    } catch (error) {
      process.emitWarning(notWatched(error), "SocketLivenessWarning");
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
 * @throws {TypeError} When an argument is not what it must be, or the monitor is closed — before
 * any socket is opened.
 * @throws {Error} When this is not Node.
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
  kit.checkRuntime();
  kit.checkMonitor(monitor);
  const { ffi, ...netOptions } = kit.checkOptions(options);
  if (connectListener !== undefined && typeof connectListener !== "function") {
    throw new TypeError(
      `Argument "connectListener" must be a function, got ${describe(connectListener)}`,
    );
  }
  const socket = netConnect(netOptions);
  try {
    watch(monitor, socket, ffi !== false);
  } catch (error) {
    socket.destroy(); // only a full monitor gets here: the caller never sees this socket
    throw error;
  }
  if (connectListener !== undefined) socket.once("connect", connectListener);
  return socket;
}

/**
 * The id under which a socket is tracked, for `monitor.acked(id)` and the other inputs.
 *
 * @param socket A socket.
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
  return kit.lookup(socket)?.id;
}

/**
 * What tuning a watched socket achieved: each control's outcome and the detection bound.
 *
 * @param socket A socket.
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
  return kit.lookup(socket)?.report;
}

/**
 * The monitor's state of a watched socket.
 *
 * @param socket A socket.
 * @returns The state (`closed` or `dead` at its end), or `undefined` when it is not watched or
 * the monitor has forgotten it.
 * @throws {TypeError} When `socket` is not a `net.Socket`.
 *
 * @example
 * ```ts ignore
 * if (connectionState(socket) === "idle") socket.write("PING\n");
 * ```
 */
export function connectionState(socket: Socket): ConnectionState | undefined {
  return kit.state(socket);
}

const WATCH_KEYS = ["ffi"];

/** The ownership rule, then tracking: nothing can throw once `track` has succeeded. */
function watch(monitor: LivenessMonitor<Socket>, socket: Socket, ffi: boolean): ConnectionId {
  const known = kit.owner(monitor, socket);
  if (known !== undefined) return known.id;
  // A socket still connecting is under the monitor's connect timeout only, until 'connect'.
  const id = monitor.track(socket, driver, { connecting: socket.pending });
  const watch = kit.register<NodeWatch>([socket], {
    monitor,
    id,
    ffi,
    read: socket.bytesRead,
    written: socket.bytesWritten,
    report: undefined,
  });
  socket.push = observedPush;
  socket.on("end", onEnd);
  // Observes errors without counting as a handler: a socket without one still throws, as before.
  (socket as EventEmitter).on(errorMonitor, onError);
  socket.on("close", onClose);
  if (socket.pending) socket.once("connect", onConnect);
  else watch.report = kit.tune(monitor, socket, ffi);
  return id;
}
