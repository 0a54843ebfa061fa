/**
 * Streamed responses of `node:http`, watched: {@linkcode watchStream} tracks a response that stays
 * open (Server-Sent Events, a long poll, any body the server keeps writing) in a
 * {@linkcode LivenessMonitor}, the `IncomingMessage` being the connection's context. Re-exported
 * by `./node.ts`.
 *
 * - Every `response.write()` is `sent()`, never proof of life: SSE is one-way, and nothing but
 *   TCP's acknowledgements comes back. The optional `heartbeat` writes an SSE comment into a quiet
 *   stream (once its headers are sent), so that it has bytes in flight.
 * - The TCP socket under it (`request.socket`) is tuned like any Node socket (keepalive idle,
 *   interval, count, `TCP_USER_TIMEOUT`; once per socket), and what ends it says why: its
 *   `'error'` is a death for the reason the error gives (`user-timeout` for unacknowledged writes,
 *   `keepalive-timeout` on a stream that has written nothing, `reset`, `broken-pipe`); the client's
 *   FIN (`'end'`) and then `'close'` is `peer-close`; `response.end()` (`'finish'`) or your
 *   `response.destroy()` is `local-close`.
 * - A stream the monitor ends: declared dead, it is `response.destroy()`ed (no `'error'` is
 *   emitted; the kernel frees what it still queues within the user timeout); ended by max-idle or
 *   max-age, it is `response.end()`ed.
 *
 * @module
 */

import { errorMonitor, type EventEmitter } from "node:events";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import type { LivenessMonitor } from "../src/monitor.ts";
import type { ConnectionId, Driver } from "../src/connection.ts";
import type { TuningReport } from "../src/tune.ts";
import { AdapterKit, type AnyMonitor, endpointsOf, type WatchOptions } from "../src/_kit.ts";
import { describe } from "../src/_validate.ts";
import { loadNodeBackend, nodeSocketFd } from "./_ffi_node.ts";
import {
  checkStreamOptions,
  startHeartbeat,
  stopHeartbeat,
  STREAM_KEYS,
  type StreamWatch,
  type StreamWatchOptions,
  wrote,
} from "./_sse.ts";

export type { StreamWatchOptions } from "./_sse.ts";

/** Options of {@linkcode watchStream} on Node: the stream's, and the socket's tuning. */
export interface ResponseWatchOptions extends StreamWatchOptions, WatchOptions {}

/** What the adapter keeps per response. */
interface NodeStreamWatch extends StreamWatch {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly socket: Socket | undefined;
  readonly ffi: boolean;
  /** The response's `write` before the adapter's (the prototype's, or a middleware's). */
  readonly write: (this: ServerResponse, ...args: unknown[]) => boolean;
  /** Whether the adapter ended it for the monitor. */
  destroyed: boolean;
}

// Node ≥ 24.19 declares setKeepAlive(enable, initialDelay, interval, count); older Node two.
const SETS_INTERVAL_AND_COUNT = Socket.prototype.setKeepAlive.length >= 4;

const socketOf = (request: IncomingMessage): Socket | undefined =>
  request.socket instanceof Socket ? request.socket : undefined;

const streamKit = new AdapterKit<IncomingMessage>({
  runtime: "node",
  argument: "request",
  kind: "http.IncomingMessage",
  // A request, or its response: both look a stream up (the request is the monitor's context).
  is: (value): value is IncomingMessage =>
    value instanceof IncomingMessage || value instanceof ServerResponse,
  isOpen: (request) => socketOf(request)?.destroyed === false,
  native(request, settings) {
    const socket = socketOf(request);
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
  fd: (request) => {
    const socket = socketOf(request);
    return socket === undefined ? undefined : nodeSocketFd(socket);
  },
  endpoints: (request) => {
    const socket = socketOf(request);
    return socket === undefined ? undefined : endpointsOf(
      socket.localAddress,
      socket.localPort,
      socket.remoteAddress,
      socket.remotePort,
    );
  },
  unref: (timer) => (timer as { unref?(): void }).unref?.(),
});

/** @internal The kit of requests whose response streams, for the lookups of `./node.ts`. */
export const nodeStreamKit: AdapterKit<IncomingMessage> = streamKit;

const lookup = (key: object): NodeStreamWatch | undefined =>
  streamKit.watchOf(key) as NodeStreamWatch | undefined;

// The socket's current stream (a keep-alive socket carries one response after another), and the
// sockets whose listeners are added already: one set of listeners per socket, for its life.
const current = new WeakMap<Socket, NodeStreamWatch>();
const listened = new WeakSet<Socket>();
// The report each socket was tuned to, by monitor: a keep-alive socket is tuned once.
const tunings = new WeakMap<Socket, { monitor: AnyMonitor; report: TuningReport }>();

/** The watch's end: its heartbeat stops, and the socket has no current stream any more. */
function release(watch: NodeStreamWatch): void {
  watch.over = true;
  stopHeartbeat(watch);
  if (watch.socket !== undefined && current.get(watch.socket) === watch) {
    current.delete(watch.socket);
  }
}

const driver: Driver<IncomingMessage> = {
  destroy(request, reason): void {
    const watch = lookup(request);
    if (watch === undefined || watch.over) return;
    watch.destroyed = true;
    release(watch);
    if (reason === "max-idle" || reason === "max-age") watch.response.end();
    else watch.response.destroy();
  },
  sample(request, id): void {
    const watch = lookup(request);
    if (watch === undefined || watch.id !== id || watch.socket?.destroyed !== false) return;
    streamKit.sample(watch.monitor, id, request, watch.ffi);
  },
};

/** Installed as the response's own `write`: every chunk is `sent()`. */
function observedWrite(this: ServerResponse, ...args: unknown[]): boolean {
  const watch = lookup(this);
  if (watch === undefined) {
    return (Object.getPrototypeOf(this).write as (...a: unknown[]) => boolean).apply(this, args);
  }
  if (!watch.over) wrote(watch, args[0]);
  return watch.write.apply(this, args);
}

function onFinish(this: ServerResponse): void {
  const watch = lookup(this);
  if (watch === undefined || watch.over) return;
  release(watch);
  watch.monitor.endedLocally(watch.id);
  watch.monitor.closed(watch.id);
}

function onClose(this: ServerResponse): void {
  const watch = lookup(this);
  if (watch === undefined || watch.over) return;
  // The client's FIN came first (`ended`: peer-close), or this side destroyed it (local-close).
  release(watch);
  watch.monitor.closed(watch.id);
}

function onSocketEnd(this: Socket): void {
  const watch = current.get(this);
  if (watch !== undefined && !watch.over) watch.monitor.ended(watch.id);
}

function onSocketError(this: Socket, error: Error): void {
  const watch = current.get(this);
  if (watch === undefined || watch.over) return;
  release(watch);
  watch.monitor.failed(watch.id, error);
}

/** The heartbeat's write: once the headers are out, never after `end()`, never under backpressure. */
function heartbeatWrite(watch: NodeStreamWatch): (text: string) => boolean {
  return (text) => {
    const { response } = watch;
    if (!response.headersSent || response.writableEnded || response.destroyed) return false;
    if (response.writableNeedDrain) return false; // bytes wait for the socket already
    watch.write.call(response, text);
    return true;
  };
}

/**
 * Tracks the streamed response to `request` in `monitor` (the `IncomingMessage` is the
 * connection's context: `connectionId(request)` and `connectionId(response)` both find it), and
 * tunes its TCP socket. Every `response.write()` counts as sent; the stream's end is told once,
 * with why (see the module's notes). Call it before you write, or at any time the response is
 * open.
 *
 * A request has one watched stream, in one monitor.
 *
 * @typeParam R The monitor's context: `IncomingMessage` (or Express's request, which extends it).
 * @param monitor The monitor to feed: `LivenessMonitor<IncomingMessage>`.
 * @param request The request being answered.
 * @param response Its response, which you write the stream to.
 * @param options `heartbeat` (an SSE comment whenever the stream has been quiet this long) and
 * `ffi`.
 * @returns The connection's id in the monitor.
 * @throws {TypeError} When an argument is not what it must be, the monitor is closed, the response
 * is not the request's, has ended or is destroyed, or the request has a watched stream already —
 * before anything is tracked.
 * @throws {RangeError} When `heartbeat` is out of range.
 * @throws {Error} When this is not Node.
 *
 * @example
 * ```ts ignore
 * const server = createServer((request, response) => {
 *   response.writeHead(200, { "content-type": "text/event-stream" });
 *   watchStream(monitor, request, response, { heartbeat: "15s" });
 *   const timer = setInterval(() => response.write(`data: ${Date.now()}\n\n`), 1_000);
 *   response.on("close", () => clearInterval(timer));
 * });
 * ```
 */
export function watchStream<R extends IncomingMessage>(
  monitor: LivenessMonitor<R>,
  request: R,
  response: ServerResponse,
  options: ResponseWatchOptions = {},
): ConnectionId {
  streamKit.checkRuntime();
  streamKit.checkMonitor(monitor);
  if (!(request instanceof IncomingMessage)) {
    throw new TypeError(
      `Argument "request" must be an http.IncomingMessage, got ${describe(request)}`,
    );
  }
  if (!(response instanceof ServerResponse)) {
    throw new TypeError(
      `Argument "response" must be an http.ServerResponse, got ${describe(response)}`,
    );
  }
  const heartbeatMs = checkStreamOptions(options, OPTION_KEYS);
  const ffi = streamKit.checkOptions(options).ffi !== false;
  if (response.req !== undefined && response.req !== request) {
    throw new TypeError(`Argument "response" must be the response to "request", got another's`);
  }
  if (response.writableEnded || response.destroyed) {
    throw new TypeError(
      `Argument "response" must be an open http.ServerResponse, got an ended one`,
    );
  }
  if (streamKit.owner(monitor as AnyMonitor, request) !== undefined || lookup(response)) {
    throw new TypeError(`Argument "request" has a watched stream already`);
  }
  const socket = socketOf(request);
  const id = monitor.track(request, driver as Driver<R>);
  const own = response as unknown as { write: NodeStreamWatch["write"] };
  const watch = streamKit.register<NodeStreamWatch>([request, response], {
    monitor,
    id,
    report: undefined,
    heartbeatMs,
    over: false,
    timer: undefined,
    lastWrite: performance.now(),
    boundary: true,
    request,
    response,
    socket,
    ffi,
    write: own.write,
    destroyed: false,
  });
  own.write = observedWrite;
  response.on("finish", onFinish);
  response.on("close", onClose);
  if (socket !== undefined) {
    current.set(socket, watch);
    if (!listened.has(socket)) {
      listened.add(socket);
      socket.on("end", onSocketEnd);
      // Observes errors without counting as a handler (the HTTP server keeps its own).
      (socket as EventEmitter).on(errorMonitor, onSocketError);
    }
    const tuned = tunings.get(socket);
    if (tuned?.monitor === monitor) {
      watch.report = tuned.report;
    } else {
      watch.report = streamKit.tune(monitor as AnyMonitor, request, ffi);
      tunings.set(socket, { monitor: monitor as AnyMonitor, report: watch.report });
    }
  }
  startHeartbeat(watch, heartbeatWrite(watch), streamKit.kind.unref);
  return id;
}

const OPTION_KEYS = [...STREAM_KEYS, "ffi"];
