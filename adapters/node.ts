/**
 * The Node adapter: tunes `node:net` sockets (keepalive idle, interval, count and user timeout) and
 * maps their events onto a {@linkcode LivenessMonitor}.
 *
 * - The peer's FIN → `ended(id)`; `'error'` → `failed(id, error)`; `'close'` → `closed(id)`.
 *   Errors are observed through `events.errorMonitor`, which does not count as a handler: keep
 *   your own `'error'` listener, as Node requires. The FIN is seen when it is read from the kernel
 *   (`push(null)`), not at `'end'`, which Node emits only once the stream has been read to its end.
 * - Reads are seen as they happen: the socket's own `push` (which Node's stream internals call with
 *   every chunk read from the kernel) reports them, and no `'data'` listener is added (it would
 *   switch your stream to flowing mode, and data you meant to read later could be lost). Writes are
 *   sampled: before every chunk read (so a write the peer answered counts as before its answer),
 *   when one of the connection's deadlines comes, or it fails, `socket.bytesWritten` is compared
 *   with what was seen last (so a write keeps an idle timeout at bay from the deadline that sees
 *   it). Bytes a consumer takes straight from the handle (Node's HTTP parser) are sampled
 *   the same way through `bytesRead`.
 * - A socket destroyed with a time-out is looked at before Node closes its descriptor (the socket's
 *   own `destroy` is observed): when the kernel's view (`TCP_INFO`) shows the peer alive with its
 *   window closed, the death is `stalled`, not `user-timeout`.
 * - A connection declared dead (or closed by max-idle / max-age after its grace) is destroyed
 *   without an error, so no `'error'` event can crash a process that has no listener: the reason
 *   is in the monitor's transition.
 * - Keepalive: `socket.setKeepAlive` first (Node ≥ 24.19 sets idle, interval and count; older Node
 *   the idle time only, with interval 1 s and count 10), then `setsockopt` through koffi (an
 *   optional dependency, Linux) for the rest, on a descriptor proven to be the socket's.
 *   {@linkcode tuningReport} tells what took effect.
 * - Listeners: {@linkcode watchServer} tunes the server's listening socket once it listens (and
 *   {@linkcode tuneServer} does so for any server), and Linux copies its keepalive options to every
 *   connection it accepts: such a connection costs no call into the kernel, its report is the
 *   listener's with `via: "listener"`, and the first and then one in 64 or fewer is read back a
 *   moment after it was accepted.
 * - The same on Deno's and Bun's `node:net` (Express, Fastify and the like there): `setsockopt`
 *   goes through `Deno.dlopen` (with `--allow-ffi`) or `bun:ffi`, on the descriptor the socket's
 *   handle has or, on Deno, the one found by both endpoints among the process's descriptors.
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
  ListenerReport,
  LivenessMonitor,
  TuningReport,
} from "../mod.ts";
import {
  AdapterKit,
  CONNECTING,
  currentRuntime,
  endpointsOf,
  messageOf,
  notWatched,
  WATCH,
  type Watch,
  type WatchOptions,
} from "../src/_kit.ts";
import type { BackendResult, SockoptBackend } from "../src/_sockopt.ts";
import { describe } from "../src/_validate.ts";
import { loadNodeBackend, nodeSocketFd } from "./_ffi_node.ts";
import { loadDenoBackend } from "./_ffi_deno.ts";
import { loadBunBackend } from "./_ffi_bun.ts";
import { type ConnLike, findDenoFd, releaseDenoFd } from "./_deno_fd.ts";

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
  type NodeWebSocket,
  type NodeWebSocketServer,
  type Pingable,
  pingWebSocket,
  watchWebSocket,
  watchWebSocketServer,
  type WebSocketOptions,
  type WebSocketWatchOptions,
} from "./_node_ws.ts";
import { type NodeWebSocket, nodeWebSocketKit } from "./_node_ws.ts";
import { descriptors } from "./_descriptors.ts";
import { inheritingServer, listenerOf, whereOf } from "./_node_listener.ts";
export { type ResponseWatchOptions, type StreamWatchOptions, watchStream } from "./_node_sse.ts";
import { nodeStreamKit } from "./_node_sse.ts";
import type { IncomingMessage, ServerResponse } from "node:http";

/** What the adapter keeps per socket, besides the kit's. */
interface NodeWatch extends Watch {
  readonly ffi: boolean;
  read: number;
  written: number;
  /** The socket's `push` and `destroy` before the adapter observed them. */
  readonly push: Socket["push"];
  readonly destroy: Socket["destroy"];
  /** What `failed()` gets for the error the socket was destroyed with, decided before its close. */
  failure?: unknown;
}

// Node ≥ 24.19 declares setKeepAlive(enable, initialDelay, interval, count); older Node two.
const SETS_INTERVAL_AND_COUNT = Socket.prototype.setKeepAlive.length >= 4;
// The runtime whose node:net this is: Deno's and Bun's run this adapter too.
const HOST = currentRuntime();
// Deno's node:net sets the idle time only; Node's and Bun's fix interval 1 s and count 10 with it.
const FIXES_INTERVAL_AND_COUNT = HOST !== "deno";

// Each runtime's own FFI: koffi on Node, Deno.dlopen, bun:ffi.
function loadBackend(): BackendResult {
  if (HOST === "deno") return loadDenoBackend();
  if (HOST === "bun") return loadBunBackend();
  return loadNodeBackend();
}

// Deno's node:net has no descriptor on its handles: the one both endpoints match is found, through
// the finder the Deno adapter uses (hints kept per socket, released when it closes).
const conns = new WeakMap<Socket, ConnLike>();

function socketFd(socket: Socket, backend: SockoptBackend, budget?: number): number | undefined {
  const fd = nodeSocketFd(socket);
  if (fd !== undefined || HOST !== "deno") return fd;
  let conn = conns.get(socket);
  if (conn === undefined) {
    const ends = kit.kind.endpoints(socket);
    if (ends === undefined) return undefined;
    conn = {
      localAddr: { hostname: ends.local.address, port: ends.local.port },
      remoteAddr: { hostname: ends.remote.address, port: ends.remote.port },
    };
    conns.set(socket, conn);
  }
  return findDenoFd(backend, conn, budget);
}

function releaseFd(socket: Socket): void {
  const conn = conns.get(socket);
  if (conn === undefined) return;
  conns.delete(socket);
  const loaded = loadBackend();
  if (loaded.ok) releaseDenoFd(loaded.backend, conn);
}

const kit = new AdapterKit<Socket>({
  runtime: "node",
  hosts: ["node", "deno", "bun"],
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
      sideEffects: withIdle && FIXES_INTERVAL_AND_COUNT ? { interval: 1000, count: 10 } : undefined,
      set(enable, idleMs, intervalMs, count): void {
        socket.setKeepAlive(enable, idleMs ?? 0, intervalMs, count);
      },
    };
  },
  backend: loadBackend,
  fd: socketFd,
  // No remote port: an IPC socket (Node's setKeepAlive does nothing there), or a peer gone.
  endpoints: (socket) =>
    endpointsOf(socket.localAddress, socket.localPort, socket.remoteAddress, socket.remotePort),
  descriptors,
  unref: (timer) => (timer as { unref?(): void }).unref?.(),
});

/**
 * The listener an accepted socket came from, when its connections inherit from it: not when the
 * server sets keepalive on each itself (`net.createServer({ keepAlive: true })`).
 */
function acceptedFrom(socket: Socket): object | undefined {
  const server = inheritingServer(socket);
  return server === undefined ? undefined : listenerOf(server);
}

// Read in place (one kind of object at this site, for the engine), the registry only for a socket
// that takes no property.
const watchOf = (socket: Socket): NodeWatch | undefined =>
  ((socket as Socket & { [WATCH]?: NodeWatch })[WATCH] ?? kit.watchOf(socket)) as NodeWatch;

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
 * switch the stream to flowing mode), and so is the peer's FIN (`push(null)`), even when the
 * application never reads to the `'end'` it would be told at.
 */
function observedPush(this: Socket, chunk: unknown, encoding?: BufferEncoding): boolean {
  const watch = watchOf(this);
  if (watch !== undefined) {
    // Writes made before this data come first: sampled later, they would count as sent after the
    // peer's answer, and its death as user-timeout instead of keepalive-timeout.
    if (chunk !== null) {
      const written = this.bytesWritten;
      if (written !== watch.written) {
        watch.written = written;
        watch.monitor.sent(watch.id);
      }
      watch.read = this.bytesRead;
      watch.monitor.received(watch.id);
    } else if (!this.destroyed) {
      // The peer's FIN (Bun's node:net also ends a socket it destroys: no FIN then). Our side
      // ended first when end() was called: the close that follows is ours, not the peer's.
      if (this.writableEnded) watch.monitor.endedLocally(watch.id);
      watch.monitor.ended(watch.id);
    }
  }
  return (watch?.push ?? Object.getPrototypeOf(this).push).call(this, chunk, encoding);
}

/**
 * Installed as the socket's own `destroy`: Node destroys a socket with the error that ended it,
 * and closes its descriptor, before `'error'` is emitted. A time-out is looked at here, while the
 * kernel still holds the connection: its view tells a stalled peer from a vanished one.
 */
function observedDestroy(
  this: Socket,
  error?: Error | null,
  callback?: (error: Error | null) => void,
): Socket {
  const watch = watchOf(this);
  if (watch !== undefined && error != null && !this.destroyed && watch.failure === undefined) {
    watch.failure = kit.failure(watch.monitor, this, error, watch.ffi, true);
  }
  return (watch?.destroy ?? Object.getPrototypeOf(this).destroy).call(this, error, callback);
}

function onConnect(this: Socket): void {
  const watch = watchOf(this);
  if (watch === undefined) return;
  watch.monitor.connected(watch.id);
  watch.report = kit.tune(watch.monitor, this, watch.ffi);
}

function onError(this: Socket, error: Error): void {
  const watch = watchOf(this);
  if (watch === undefined) return;
  // The kernel's verdict on the error it was destroyed with (a stall), if that is this one.
  const failure = watch.failure !== undefined && (watch.failure === error ||
      (watch.failure as { cause?: unknown }).cause === error)
    ? watch.failure
    : error;
  watch.monitor.failed(watch.id, failure);
}

function onClose(this: Socket): void {
  const watch = watchOf(this);
  if (watch !== undefined) watch.monitor.closed(watch.id);
  if (HOST === "deno") releaseFd(this);
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
 * The server's listening socket is tuned as {@linkcode tuneServer} does, now or when it starts
 * listening: the connections it accepts then inherit the monitor's keepalive and cost no call into
 * the kernel (their report says `via: "listener"`). Where the listener cannot be tuned (`ffi: false`,
 * no FFI, not Linux), or the server sets keepalive on each connection itself
 * (`createServer({ keepAlive: true })`), each connection is tuned on its own as it is accepted.
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
      watch(monitor, socket, ffi, true);
    } catch (error) {
      process.emitWarning(notWatched(error), "SocketLivenessWarning");
    }
  };
  // Each listen() makes a new listening socket: each is tuned once it listens.
  const onListening = (): void => {
    if (monitor.isClosed || (server as { keepAlive?: unknown }).keepAlive === true) return;
    try {
      kit.tuneListener(monitor, listenerOf(server), whereOf(server), ffi, false);
    } catch (error) {
      // Never thrown into the server's own event: each connection is tuned on its own instead.
      process.emitWarning(`A listener is not tuned: ${messageOf(error)}`, "SocketLivenessWarning");
    }
  };
  server.prependListener("connection", onConnection);
  server.on("listening", onListening);
  if (server.listening) onListening();
  return (): void => {
    server.off("connection", onConnection);
    server.off("listening", onListening);
  };
}

/**
 * Tunes a listening server's listening socket once: Linux copies its keepalive options to every
 * connection it accepts afterwards, so those connections are tuned without a call into the kernel
 * each, whoever serves them (`http.createServer`, Express, Fastify, a server
 * {@linkcode watchServer} watches or not). Connections it had already accepted are found among the
 * process's descriptors and tuned one by one, and those waiting in its accept queue are tuned as
 * they are accepted: `report.earlier` counts both. Tuning a server again with the same monitor
 * returns its report.
 *
 * Where it cannot be tuned — `ffi: false`, koffi missing (Deno: `--allow-ffi` missing), not Linux,
 * a Unix socket — the report says why (each control `unsupported`), and the monitor warns once
 * with what that costs: a vanished peer goes unnoticed for as long as the system's keepalive takes.
 *
 * @param monitor The monitor whose `keepalive` settings apply.
 * @param server A listening `net.Server` (`http.Server`, `https.Server`, Express's or Fastify's).
 * @param options See {@linkcode WatchOptions}.
 * @returns The listener's report: each control's outcome, read back from the listening socket, its
 * address, and the connections that were there before.
 * @throws {TypeError} When an argument is not what it must be, the monitor is closed, the server
 * is not listening, or another monitor tuned it.
 * @throws {Error} When this is not Node, Deno or Bun.
 *
 * @example Tune an HTTP server's listener
 * ```ts
 * import { createServer } from "node:http";
 * import { LivenessMonitor } from "../mod.ts";
 * import { tuneServer } from "./node.ts";
 *
 * const monitor = new LivenessMonitor({ keepalive: "30s:5s:4" });
 * const server = createServer((_request, response) => response.end("ok"));
 * server.listen(0, "127.0.0.1", () => {
 *   // Without koffi: "unsupported", with the reason, and the monitor warns.
 *   const report = tuneServer(monitor, server);
 *   console.log(report.idle.status, report.earlier.accepted); // applied 0
 *   server.close();
 *   monitor.close();
 * });
 * ```
 */
export function tuneServer<C>(
  monitor: LivenessMonitor<C>,
  server: Server,
  options: WatchOptions = {},
): ListenerReport {
  kit.checkRuntime();
  kit.checkMonitor(monitor);
  if (!(server instanceof Server)) {
    throw new TypeError(`Argument "server" must be a net.Server, got ${describe(server)}`);
  }
  const ffi = kit.checkOptions(options, WATCH_KEYS).ffi !== false;
  if (!server.listening) {
    throw new TypeError(`Argument "server" must be a listening net.Server, got one not listening`);
  }
  return kit.tuneListener(monitor, listenerOf(server), whereOf(server), ffi, true);
}

/**
 * Opens a connection like `net.connect(options)` and watches it; keepalive is tuned on
 * `'connect'`, before `connectListener` runs.
 *
 * Until `'connect'` the socket is `connecting`, under the monitor's `connectTimeout` (default
 * 20 s) only: a peer that never answers the SYN (a cut cable; Linux alone retries for about two
 * minutes) is `connecting -> dead (connect-timeout)` when it passes, heartbeat or not, and the
 * socket is destroyed without an error. A refused or unreachable connect is
 * `connecting -> dead (refused)` / `(unreachable)`, and the socket emits Node's error as usual.
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
 * @param socket A socket, a `ws` WebSocket, or a request (or its response) whose response
 * {@linkcode watchStream} watches.
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
export function connectionId(
  socket: Socket | NodeWebSocket | IncomingMessage | ServerResponse,
): ConnectionId | undefined {
  return kitOf(socket).lookup(socket)?.id;
}

/**
 * What tuning a watched socket achieved: each control's outcome and the detection bound.
 *
 * @param socket A socket, a `ws` WebSocket, or a request (or its response) whose response
 * {@linkcode watchStream} watches.
 * @returns The report, or `undefined` before the socket is connected or when it is not watched.
 * @throws {TypeError} When `socket` is not a `net.Socket`.
 *
 * @example
 * ```ts ignore
 * const report = tuningReport(socket);
 * if (report?.userTimeout.status !== "applied") console.warn(report?.userTimeout.note);
 * ```
 */
export function tuningReport(
  socket: Socket | NodeWebSocket | IncomingMessage | ServerResponse,
): TuningReport | undefined {
  return kitOf(socket).lookup(socket)?.report;
}

/**
 * The monitor's state of a watched socket.
 *
 * @param socket A socket, a `ws` WebSocket, or a request (or its response) whose response
 * {@linkcode watchStream} watches.
 * @returns The state (`closed` or `dead` at its end), or `undefined` when it is not watched or
 * the monitor has forgotten it.
 * @throws {TypeError} When `socket` is not a `net.Socket`.
 *
 * @example
 * ```ts ignore
 * if (connectionState(socket) === "idle") socket.write("PING\n");
 * ```
 */
export function connectionState(
  socket: Socket | NodeWebSocket | IncomingMessage | ServerResponse,
): ConnectionState | undefined {
  return kitOf(socket).state(socket);
}

/** The kit that knows a lookup's argument: a WebSocket's, a streamed response's, or the sockets'. */
function kitOf(
  value: unknown,
): AdapterKit<Socket> | AdapterKit<NodeWebSocket> | AdapterKit<IncomingMessage> {
  if (value instanceof Socket) return kit; // the common case first: no other kind is a Socket
  if (nodeStreamKit.kind.is(value)) return nodeStreamKit;
  return nodeWebSocketKit.kind.is(value) ? nodeWebSocketKit : kit;
}

const WATCH_KEYS = ["ffi"];

/**
 * The ownership rule, then tracking: nothing can throw once `track` has succeeded. `fresh`: just
 * accepted by a server, nothing read or written yet.
 */
function watch(
  monitor: LivenessMonitor<Socket>,
  socket: Socket,
  ffi: boolean,
  fresh = false,
): ConnectionId {
  const known = kit.owner(monitor, socket);
  if (known !== undefined) return known.id;
  // A socket still connecting is under the monitor's connect timeout only, until 'connect'.
  const id = monitor.track(socket, driver, socket.pending ? CONNECTING : undefined);
  const watch = kit.register<NodeWatch>([socket], {
    monitor,
    id,
    ffi,
    read: fresh ? 0 : socket.bytesRead,
    written: fresh ? 0 : socket.bytesWritten,
    report: undefined,
    push: socket.push,
    destroy: socket.destroy,
  });
  socket.push = observedPush;
  socket.destroy = observedDestroy;
  // Observes errors without counting as a handler: a socket without one still throws, as before.
  (socket as EventEmitter).on(errorMonitor, onError);
  socket.on("close", onClose);
  if (socket.pending) socket.once("connect", onConnect);
  else kit.accepted(monitor, socket, acceptedFrom(socket), ffi, watch);
  return id;
}
