/**
 * WebSockets of the `ws` package on Node, watched: {@linkcode watchWebSocketServer} tracks every
 * WebSocket a `WebSocketServer` hands to its `'connection'` listeners, {@linkcode watchWebSocket}
 * one WebSocket, each in a {@linkcode LivenessMonitor} with the WebSocket itself as the
 * connection's context. Re-exported by `./node.ts`. The `ws` package is never imported: any object
 * of its shape works.
 *
 * - Reads → `received()`, seen on the TCP socket as they happen (its own `push`, as `./node.ts`
 *   observes sockets), before `ws` parses them: no second `'message'` listener (with two, Node's
 *   `EventEmitter` copies its listener array on every message). With `isPong`, `'message'` and
 *   `'ping'` are listened to instead (a message `isPong` accepts → `acked()`). `'pong'` →
 *   `acked()`, so the heartbeat's round trip is measured; sends are sampled from the TCP socket's
 *   `bytesWritten` and only ever count as `sent()`, never as proof of life.
 * - The TCP socket under it (`request.socket`) gets the monitor's keepalive (idle, interval, count,
 *   `TCP_USER_TIMEOUT`) from its server's listening socket, tuned once (by `tuneServer`, or by
 *   {@linkcode watchWebSocketServer} on the first WebSocket of each server): Linux copies it to every
 *   connection accepted afterwards, so such a socket costs no call into the kernel and its report
 *   is the listener's (`via: "listener"`, one in 64 or fewer read back). A socket accepted before,
 *   or whose listener could not be tuned, is tuned on its own like any Node socket. Its `'end'` and
 *   `'error'` tell the monitor what ended the connection: a keepalive or user time-out is told as
 *   such, not as a bare 1006.
 * - A WebSocket declared dead is `terminate()`d; the kernel frees what it still queues within the
 *   user timeout.
 *
 * @module
 */

import { errorMonitor, type EventEmitter } from "node:events";
import { type Server, Socket } from "node:net";
import process from "node:process";
import type { LivenessMonitor } from "../src/monitor.ts";
import type { ConnectionId, Driver } from "../src/connection.ts";
import {
  AdapterKit,
  type AnyMonitor,
  endpointsOf,
  messageOf,
  notWatched,
  type WatchOptions,
} from "../src/_kit.ts";
import { describe } from "../src/_validate.ts";
import { loadNodeBackend, nodeSocketFd } from "./_ffi_node.ts";
import { descriptors } from "./_descriptors.ts";
import { inheritingServer, listenerOf, whereOf } from "./_node_listener.ts";
import {
  abnormalClose,
  checkWebSocketOptions,
  heard,
  observedClose,
  over,
  type WebSocketWatch,
  type WebSocketWatchOptions,
} from "./_ws.ts";

export { type Pingable, pingWebSocket, type WebSocketWatchOptions } from "./_ws.ts";

/** The part of a `ws` WebSocket the adapter uses; `WebSocket` from `ws` fits it. */
export interface NodeWebSocket {
  /** `0` connecting, `1` open, `2` closing, `3` closed. */
  readonly readyState: number;
  /** Sends a ping frame. */
  ping(data?: unknown, mask?: boolean, callback?: (error?: Error) => void): void;
  /** Starts the close handshake. */
  close(code?: number, reason?: string | Buffer): void;
  /** Destroys the TCP socket at once. */
  terminate(): void;
  /** Adds a listener. */
  // deno-lint-ignore no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/** The part of a `ws` `WebSocketServer` the adapter uses. */
export interface NodeWebSocketServer {
  /** Adds a listener (`'connection'`: the WebSocket and its upgrade request). */
  on(event: string, listener: (...args: never[]) => void): unknown;
  /** Removes a listener. */
  off(event: string, listener: (...args: never[]) => void): unknown;
  /** Completes an upgrade (with `noServer`, call it yourself and emit `'connection'`). */
  handleUpgrade(...args: never[]): void;
}

/** Options of {@linkcode watchWebSocket} and {@linkcode watchWebSocketServer}. */
export interface WebSocketOptions extends WatchOptions, WebSocketWatchOptions<unknown> {
  /**
   * The TCP socket under the WebSocket (`request.socket` of its upgrade), to tune and to learn why
   * it ended; default: the one the `ws` WebSocket holds.
   */
  socket?: Socket;
}

/** What the adapter keeps per WebSocket, besides the shared watch. */
interface NodeWebSocketWatch extends WebSocketWatch {
  readonly socket: Socket | undefined;
  /** The TCP socket's `push` before the adapter observed it. */
  push?: Socket["push"];
  readonly ffi: boolean;
  written: number;
}

// A TCP socket's WebSocket watch, kept on the socket: a `WeakMap` insert per upgrade costs more.
const WATCH = Symbol("socket-liveness.node-ws");
type Carrier = Socket & { [WATCH]?: NodeWebSocketWatch };

// Node ≥ 24.19 declares setKeepAlive(enable, initialDelay, interval, count); older Node two.
const SETS_INTERVAL_AND_COUNT = Socket.prototype.setKeepAlive.length >= 4;

const lookup = (ws: object): NodeWebSocketWatch | undefined =>
  webSocketKit.watchOf(ws) as NodeWebSocketWatch | undefined;
const tcp = (ws: NodeWebSocket): Socket | undefined => lookup(ws)?.socket ?? underlying(ws);

/** The TCP socket `ws` keeps (a field of the package, not its API: an explicit one comes first). */
function underlying(ws: NodeWebSocket): Socket | undefined {
  const socket = (ws as { _socket?: unknown })._socket;
  return socket instanceof Socket ? socket : undefined;
}

const webSocketKit = new AdapterKit<NodeWebSocket>({
  runtime: "node",
  argument: "ws",
  kind: "WebSocket",
  is: (value): value is NodeWebSocket => {
    const ws = value as Partial<NodeWebSocket> | null;
    return typeof ws?.ping === "function" && typeof ws.terminate === "function" &&
      typeof ws.on === "function" && typeof ws.readyState === "number";
  },
  isOpen: (ws) => ws.readyState <= 1,
  native(ws, settings) {
    const socket = tcp(ws);
    const withIdle = settings.enabled && settings.idleMs !== undefined;
    const more = SETS_INTERVAL_AND_COUNT && withIdle;
    return {
      idle: true,
      interval: more,
      count: more,
      sideEffects: withIdle ? { interval: 1000, count: 10 } : undefined,
      set(enable, idleMs, intervalMs, count): void {
        socket?.setKeepAlive(enable, idleMs ?? 0, intervalMs, count);
      },
    };
  },
  backend: loadNodeBackend,
  descriptors,
  unref: (timer) => (timer as { unref?(): void }).unref?.(),
  fd: (ws) => {
    const socket = tcp(ws);
    return socket === undefined ? undefined : nodeSocketFd(socket);
  },
  endpoints: (ws) => {
    const socket = tcp(ws);
    return socket === undefined ? undefined : endpointsOf(
      socket.localAddress,
      socket.localPort,
      socket.remoteAddress,
      socket.remotePort,
    );
  },
});

/** @internal The kit of `ws` WebSockets, for the lookups of `./node.ts`. */
export const nodeWebSocketKit: AdapterKit<NodeWebSocket> = webSocketKit;

// Listeners this adapter has tried to tune (once each), and sockets that were in a listener's
// accept queue when it was tuned: they inherited nothing, so each is tuned on its own.
const attempted = new WeakSet<object>();
const queuedBefore = new WeakSet<Socket>();

/**
 * Gives a WebSocket's TCP socket its report: derived from its listener's when the listener is tuned
 * by this monitor (with `tune`, it is tuned now if no one tried yet), else its own tuning.
 */
function tuneSocket(
  monitor: AnyMonitor,
  ws: NodeWebSocket,
  socket: Socket,
  watch: NodeWebSocketWatch,
  tune: boolean,
): void {
  const server = inheritingServer(socket);
  // A TLS socket's listener accepted the TCP socket it wraps.
  const raw = (socket as unknown as { _parent?: unknown })._parent;
  const queued = queuedBefore.has(socket) || (raw instanceof Socket && queuedBefore.has(raw));
  if (server === undefined || queued) {
    watch.report = webSocketKit.tune(monitor, ws, watch.ffi);
    return;
  }
  const listener = listenerOf(server);
  if (tune && watch.ffi && !attempted.has(listener)) {
    attempted.add(listener);
    if (webSocketKit.listenerReport(listener) === undefined) {
      tuneListener(monitor, server, listener, ws);
    }
  }
  webSocketKit.accepted(monitor, ws, listener, watch.ffi, watch);
}

/**
 * Tunes a server's listener for the connections it accepts from now on; those it had accepted
 * are tuned by the kit, and those in its accept queue are marked as Node accepts them (in queue
 * order, the first ones after this), to be tuned on their own when they upgrade.
 */
function tuneListener(monitor: AnyMonitor, server: Server, listener: object, ws: NodeWebSocket) {
  try {
    const report = webSocketKit.tuneListener(monitor, listener, whereOf(server), true, false, ws);
    let queued = report.earlier.queued;
    if (queued <= 0 || webSocketKit.listenerReport(listener) !== report) return;
    const mark = (socket: Socket): void => {
      queuedBefore.add(socket);
      if (--queued <= 0) server.off("connection", mark);
    };
    server.prependListener("connection", mark);
  } catch (error) {
    // Never thrown into the upgrade: each connection is tuned on its own instead.
    process.emitWarning(`A listener is not tuned: ${messageOf(error)}`, "SocketLivenessWarning");
  }
}

// `ws` calls its own close() when the peer's close frame arrives: that close is the peer's. Read
// from the package's field (not its API); another implementation's closes all count as ours.
const closeObserved = observedClose(
  (ws) =>
    (ws as { _closeFrameReceived?: boolean })._closeFrameReceived === true ? undefined : lookup(ws),
);

const driver: Driver<NodeWebSocket> = {
  destroy(ws): void {
    const watch = lookup(ws);
    if (watch !== undefined) watch.destroyed = true;
    ws.terminate();
  },
  sample(ws, id): void {
    const watch = lookup(ws);
    if (watch === undefined || watch.id !== id || watch.socket === undefined) return;
    const written = watch.socket.bytesWritten;
    if (written !== watch.written) {
      watch.written = written;
      watch.monitor.sent(id);
    }
    if (!watch.socket.destroyed) webSocketKit.sample(watch.monitor, id, ws, watch.ffi);
  },
};

// One set of listeners for every WebSocket and TCP socket: they find their watch by `this`.

/**
 * Installed as the TCP socket's own `push`: Node's stream internals hand it every chunk read from
 * the kernel, before `ws` parses it into frames, so a read is `received()` before any `'message'`
 * listener runs, and without one of ours.
 */
function observedPush(this: Carrier, chunk: unknown, encoding?: BufferEncoding): boolean {
  const watch = this[WATCH];
  if (watch !== undefined && chunk !== null) watch.monitor.received(watch.id);
  return (watch?.push ?? Object.getPrototypeOf(this).push).call(this, chunk, encoding);
}

function onMessage(this: NodeWebSocket, data: unknown, isBinary: boolean): void {
  const watch = lookup(this);
  if (watch !== undefined) heard(watch, isBinary ? data : String(data));
}

function onPing(this: NodeWebSocket): void {
  const watch = lookup(this);
  if (watch !== undefined) watch.monitor.received(watch.id);
}

function onPong(this: NodeWebSocket): void {
  const watch = lookup(this);
  if (watch !== undefined) watch.monitor.acked(watch.id);
}

function onClose(this: NodeWebSocket, code: number): void {
  const watch = lookup(this);
  if (watch === undefined || watch.destroyed) return;
  // With the TCP socket known, its 'error' has told a death before this; without it, only the code.
  if (code === 1006 && watch.socket === undefined) {
    over(watch, abnormalClose(code, "its TCP socket is not known"));
  } else {
    over(watch);
  }
}

function onSocketEnd(this: Carrier): void {
  const watch = this[WATCH];
  // Who began the close handshake is known from `ws.close()` (observed), not from this FIN: `ws`
  // answers the peer's close frame and ends its side before the peer's FIN arrives.
  if (watch !== undefined) watch.monitor.ended(watch.id);
}

function onSocketError(this: Carrier, error: Error): void {
  const watch = this[WATCH];
  if (watch !== undefined && !watch.destroyed) over(watch, error);
}

/**
 * Tracks a WebSocket; `tune`: its server's listener may be tuned now (the accept path of
 * {@linkcode watchWebSocketServer}).
 */
function watch(
  monitor: AnyMonitor,
  ws: NodeWebSocket,
  socket: Socket | undefined,
  options: Omit<WebSocketOptions, "socket">,
  tune: boolean,
): ConnectionId {
  const known = webSocketKit.owner(monitor, ws);
  if (known !== undefined) return known.id;
  socket ??= underlying(ws);
  const id = monitor.track(ws, driver);
  const watch = webSocketKit.register<NodeWebSocketWatch>([ws], {
    monitor,
    id,
    report: undefined,
    isPong: options.isPong,
    destroyed: false,
    over: false,
    socket,
    ffi: options.ffi !== false,
    written: socket?.bytesWritten ?? 0,
  });
  (ws as unknown as Record<string, unknown>).close = closeObserved;
  // Reads are seen on the TCP socket, unless messages must be looked at, or there is no socket, or
  // its `push` is observed already (`watchServer` watches it too: its hook would be lost).
  const onSocket = socket !== undefined && options.isPong === undefined &&
    !Object.hasOwn(socket, "push");
  if (!onSocket) {
    ws.on("message", onMessage);
    ws.on("ping", onPing);
  }
  ws.on("pong", onPong);
  ws.on("close", onClose);
  if (socket !== undefined) {
    (socket as Carrier)[WATCH] = watch;
    if (onSocket) {
      watch.push = socket.push;
      socket.push = observedPush;
    }
    socket.on("end", onSocketEnd);
    // Observes errors without counting as a handler (ws keeps its own).
    (socket as EventEmitter).on(errorMonitor, onSocketError);
    tuneSocket(monitor, ws, socket, watch, tune);
  }
  return id;
}

function checkOptions(options: WebSocketOptions): WebSocketOptions {
  checkWebSocketOptions(options, OPTION_KEYS);
  webSocketKit.checkOptions(options);
  if (options.socket !== undefined && !(options.socket instanceof Socket)) {
    throw new TypeError(`Option "socket" must be a net.Socket, got ${describe(options.socket)}`);
  }
  return options;
}

const OPTION_KEYS = ["ffi", "isPong", "socket"];

/**
 * Tracks one `ws` WebSocket in `monitor` and tunes its TCP socket. A WebSocket is watched by one
 * monitor for its life: watching it again with the same monitor returns its id.
 *
 * @param monitor The monitor to feed; type it by the WebSocket: `LivenessMonitor<WebSocket>`.
 * @param ws An open (or opening) WebSocket of the `ws` package.
 * @param options `isPong`, `ffi`, and the TCP `socket` when `ws` is not the package's own.
 * @returns The connection's id in the monitor.
 * @throws {TypeError} When an argument is not what it must be, the monitor is closed, or the
 * WebSocket is closed or watched by another monitor — before anything is tracked.
 * @throws {Error} When this is not Node.
 *
 * @example
 * ```ts ignore
 * wss.handleUpgrade(request, socket, head, (ws) => {
 *   watchWebSocket(monitor, ws, { socket });
 *   ws.on("message", (data) => ws.send(data));
 * });
 * ```
 */
export function watchWebSocket<W extends NodeWebSocket>(
  monitor: LivenessMonitor<W>,
  ws: W,
  options: WebSocketOptions = {},
): ConnectionId {
  webSocketKit.checkRuntime();
  webSocketKit.checkMonitor(monitor);
  webSocketKit.checkSocket(ws);
  const checked = checkOptions(options);
  return watch(monitor as AnyMonitor, ws, checked.socket, checked, false);
}

/**
 * Watches every WebSocket a `ws` `WebSocketServer` accepts from now on, before the server's own
 * `'connection'` listeners run (they can already read `connectionId(ws)`). With `noServer`, emit
 * `'connection'` from your `handleUpgrade` callback, as `ws` documents, or call
 * {@linkcode watchWebSocket} there. A WebSocket that cannot be watched (after `monitor.close()`,
 * say) is left alone with a process warning.
 *
 * @param monitor The monitor to feed; type it by the WebSocket: `LivenessMonitor<WebSocket>`.
 * @param wss The `WebSocketServer`.
 * @param options `isPong` and `ffi`.
 * @returns A function that stops watching new WebSockets (those watched stay watched).
 * @throws {TypeError} When an argument is not what it must be, or the monitor is closed.
 * @throws {Error} When this is not Node.
 *
 * @example
 * ```ts ignore
 * const monitor = new LivenessMonitor<WebSocket>({
 *   keepalive: { idle: "30s", interval: "5s", count: 4, userTimeout: "50s" },
 *   heartbeat: { interval: "20s", timeout: "10s", send: pingWebSocket },
 * });
 * const wss = new WebSocketServer({ port: 8080 });
 * watchWebSocketServer(monitor, wss);
 * ```
 */
export function watchWebSocketServer<W extends NodeWebSocket>(
  monitor: LivenessMonitor<W>,
  wss: NodeWebSocketServer,
  options: Omit<WebSocketOptions, "socket"> = {},
): () => void {
  webSocketKit.checkRuntime();
  webSocketKit.checkMonitor(monitor);
  const server = wss as Partial<NodeWebSocketServer> | null;
  if (
    typeof server?.on !== "function" || typeof server.off !== "function" ||
    typeof server.handleUpgrade !== "function"
  ) {
    throw new TypeError(`Argument "wss" must be a WebSocketServer, got ${describe(wss)}`);
  }
  checkWebSocketOptions(options, ["ffi", "isPong"]);
  webSocketKit.checkOptions(options);
  const onConnection = (ws: NodeWebSocket, request?: { socket?: unknown }): void => {
    try {
      const socket = request?.socket instanceof Socket ? request.socket : undefined;
      watch(monitor as AnyMonitor, ws, socket, options, true);
    } catch (error) {
      process.emitWarning(notWatched(error), "SocketLivenessWarning");
    }
  };
  const emitter = wss as unknown as EventEmitter;
  if (typeof emitter.prependListener === "function") {
    emitter.prependListener("connection", onConnection);
  } else {
    wss.on("connection", onConnection);
  }
  return (): void => {
    wss.off("connection", onConnection);
  };
}
