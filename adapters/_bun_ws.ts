/**
 * WebSockets of `Bun.serve`, watched: {@linkcode watchWebSocket} wraps your `websocket` handler so
 * that every `ServerWebSocket` it serves is tracked by a {@linkcode LivenessMonitor}, with the
 * WebSocket itself as the monitor's context. Re-exported by `./bun.ts`.
 *
 * - `open` → `track()`; `message`, `ping` → `received()` (a message `isPong` accepts →
 *   `acked()`); `pong` → `acked()`, so the heartbeat's round trip is measured; `close` with a close
 *   frame → `ended()` and `closed()`; `close` without one (code 1006) → `failed()`, unless your
 *   `open` hook threw (Bun then closes the WebSocket itself: `closed()`, a local close).
 * - Sends are never proof of life: `send`, `sendText` and `sendBinary` only count as `sent()`.
 *   Bun's own `idleTimeout` restarts on every send, so a server that keeps pushing never reaps a
 *   client whose cable was cut; the monitor's heartbeat ({@linkcode pingWebSocket}) and the
 *   listener's user timeout do. The returned handler turns Bun's `idleTimeout` and `sendPings`
 *   off, unless your handler sets them.
 * - A WebSocket the monitor declares dead is `terminate()`d: closed at once, without a close
 *   handshake the dead peer could not answer, the kernel's queue dropped.
 * - Keepalive: a `ServerWebSocket` exposes no descriptor; tune the server's listening socket with
 *   `tuneServer(monitor, server)`, and every connection it accepts inherits keepalive and
 *   `TCP_USER_TIMEOUT`. When the kernel then ends a connection, Bun reports code 1006 and nothing
 *   more (not whether it timed out or was reset): the death's reason is `error`, its error a
 *   `WebSocketAbnormalClose`.
 *
 * @module
 */

import process from "node:process";
import type { LivenessMonitor } from "../src/monitor.ts";
import type { ConnectionId, Driver } from "../src/connection.ts";
import { AdapterKit, notWatched, tunedByListener } from "../src/_kit.ts";
import { describe } from "../src/_validate.ts";
import {
  abnormalClose,
  checkWebSocketOptions,
  heard,
  observedClose,
  observedSend,
  over,
  type WebSocketWatch,
  type WebSocketWatchOptions,
} from "./_ws.ts";

export { type Pingable, pingWebSocket, type WebSocketWatchOptions } from "./_ws.ts";

/**
 * The part of Bun's `ServerWebSocket` the adapter and its users touch, declared here so that no Bun
 * type package is needed. `ServerWebSocket<Data>` from `bun-types` fits it: type a monitor with
 * either.
 */
export interface BunWebSocket<Data = unknown> {
  /** Your per-connection data, from `server.upgrade(request, { data })` (never touched). */
  data: Data;
  /** `0` connecting, `1` open, `2` closing, `3` closed. */
  readonly readyState: number;
  /** The peer's address text. */
  readonly remoteAddress: string;
  /** Sends a message: bytes sent, `-1` under backpressure, `0` when dropped. */
  send(data: string | Blob | ArrayBufferView | ArrayBufferLike, compress?: boolean): number;
  /** Sends a ping frame. */
  ping(data?: string | Blob | ArrayBufferView | ArrayBufferLike): number;
  /** Starts the close handshake. */
  close(code?: number, reason?: string): void;
  /** Closes at once, without a close frame. */
  terminate(): void;
}

/** What Bun hands `message`: text as a string, binary as a `Buffer` (or per `binaryType`). */
export type WebSocketMessage = string | Uint8Array;

/** Bun's `WebSocketHandler`, as `Bun.serve({ websocket })` takes it, typed by its WebSocket. */
export interface WebSocketHandler<W = BunWebSocket> {
  /** The upgrade completed. */
  open?(ws: W): void | Promise<void>;
  /** A message arrived. */
  message?(ws: W, message: WebSocketMessage): void | Promise<void>;
  /** The WebSocket can take more sends. */
  drain?(ws: W): void | Promise<void>;
  /** Closed: the peer's close code, or 1006 when no close frame came. */
  close?(ws: W, code: number, reason: string): void | Promise<void>;
  /** The peer pinged (Bun answers by itself). */
  ping?(ws: W, data: Uint8Array): void | Promise<void>;
  /** The peer answered a ping. */
  pong?(ws: W, data: Uint8Array): void | Promise<void>;
  /** Called when another handler throws. */
  error?(error: Error, ws: W): void | Promise<void>;
  /** Bun's idle timeout in seconds; the returned handler sets `0` unless you set it. */
  idleTimeout?: number;
  /** Bun's automatic pings; the returned handler sets `false` unless you set it. */
  sendPings?: boolean;
  /** Largest message, in bytes. */
  maxPayloadLength?: number;
  /** Bytes buffered per connection before sends are dropped. */
  backpressureLimit?: number;
  /** Close at the backpressure limit. */
  closeOnBackpressureLimit?: boolean;
  /** `ws.publish()` also to itself. */
  publishToSelf?: boolean;
  /** permessage-deflate. */
  perMessageDeflate?: boolean | Record<string, unknown>;
}

const webSocketKit = new AdapterKit<BunWebSocket>({
  runtime: "bun",
  argument: "ws",
  kind: "ServerWebSocket",
  is: (value): value is BunWebSocket => {
    const ws = value as Partial<BunWebSocket> | null;
    return typeof ws?.ping === "function" && typeof ws.terminate === "function" &&
      typeof ws.send === "function" && typeof ws.readyState === "number";
  },
  isOpen: (ws) => ws.readyState <= 1,
  ...tunedByListener("a ServerWebSocket"),
});

/** @internal The kit of `ServerWebSocket`s, for the lookups of `./bun.ts`. */
export const bunWebSocketKit: AdapterKit<BunWebSocket> = webSocketKit;

const lookup = (ws: object): WebSocketWatch | undefined =>
  webSocketKit.watchOf(ws) as WebSocketWatch | undefined;
const sendObserved = observedSend(lookup, "send");
const sendTextObserved = observedSend(lookup, "sendText");
const sendBinaryObserved = observedSend(lookup, "sendBinary");
const closeObserved = observedClose(lookup);

// The handlers watchWebSocket() made, by the monitor they feed.
const HANDLERS = new WeakMap<object, unknown>();
const HOOKS = ["open", "message", "drain", "close", "ping", "pong", "error"] as const;
type Hook = (this: unknown, ws: BunWebSocket, a?: unknown, b?: unknown) => unknown;

// Closed by the monitor: terminated. Bun then reports 1006, which is the adapter's own doing.
const driver: Driver<BunWebSocket> = {
  destroy(ws): void {
    const watch = lookup(ws);
    if (watch !== undefined) watch.destroyed = true;
    ws.terminate();
  },
};

/**
 * Wraps a `Bun.serve` WebSocket handler so that every WebSocket it serves is tracked by `monitor`,
 * the `ServerWebSocket` being the connection's context: pass the result as `websocket`. The
 * monitor sees each event before your hook runs, so nothing your hooks throw can leave it behind;
 * what they throw reaches your `error` hook as Bun does it.
 *
 * The heartbeat uses protocol pings: give the monitor `heartbeat: { …, send: pingWebSocket }`. Bun's
 * own `idleTimeout` and `sendPings` are turned off in the returned handler, unless your handler
 * sets them (then both run). Tune the listener with `tuneServer(monitor, server)` for keepalive
 * and the user timeout.
 *
 * A WebSocket is watched by one monitor for its life. Wrapping a handler this returned again with
 * the same monitor returns it as it is.
 *
 * @param monitor The monitor to feed; type it by the WebSocket: `LivenessMonitor<BunWebSocket>`.
 * @param handler Your `websocket` handler; it is not modified.
 * @param options `isPong`, for a heartbeat in your own protocol.
 * @returns A new handler with your hooks and settings, and the adapter's.
 * @throws {TypeError} When an argument is not what it must be, the monitor is closed, or the
 * handler is one this returned for another monitor.
 * @throws {Error} When this is not Bun.
 *
 * @example A server whose dead clients are reaped within 2.3 s
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { type BunWebSocket, pingWebSocket, watchWebSocket } from "./bun.ts";
 *
 * const monitor = new LivenessMonitor<BunWebSocket>({
 *   heartbeat: { interval: "1s", timeout: "1s", send: pingWebSocket },
 *   onTransition: (t) => t.to === "dead" && console.log(`${t.id} is gone: ${t.reason}`),
 * });
 * const websocket = watchWebSocket(monitor, { message: (ws, message) => void ws.send(message) });
 * console.log(websocket.idleTimeout, websocket.sendPings); // 0 false
 * console.log(monitor.bound().idleMs); // 2300
 * monitor.close();
 * ```
 */
export function watchWebSocket<W extends BunWebSocket, H extends WebSocketHandler<W>>(
  monitor: LivenessMonitor<W>,
  handler: H,
  options: WebSocketWatchOptions<WebSocketMessage> = {},
): H & WebSocketHandler<W> {
  webSocketKit.checkRuntime();
  webSocketKit.checkMonitor(monitor);
  if (handler === null || typeof handler !== "object" || Array.isArray(handler)) {
    throw new TypeError(
      `Argument "handler" must be a WebSocket handler object, got ${describe(handler)}`,
    );
  }
  const user: Partial<Record<(typeof HOOKS)[number], Hook>> = {};
  for (const name of HOOKS) {
    const hook = (handler as Record<string, unknown>)[name];
    if (hook !== undefined && typeof hook !== "function") {
      throw new TypeError(`Argument "handler.${name}" must be a function, got ${describe(hook)}`);
    }
    user[name] = hook as Hook | undefined;
  }
  const { isPong } = checkWebSocketOptions(options);
  const owner = HANDLERS.get(handler);
  if (owner === monitor) return handler;
  if (owner !== undefined) {
    throw new TypeError(`Argument "handler" is already watched by another monitor`);
  }
  const mine = (ws: BunWebSocket): WebSocketWatch | undefined => {
    const watch = lookup(ws);
    return watch?.monitor === monitor ? watch : undefined;
  };
  const watch = (ws: W): void => {
    try {
      if (webSocketKit.owner(monitor, ws) !== undefined) return; // this monitor's already
      const id: ConnectionId = monitor.track(ws, driver as Driver<W>);
      webSocketKit.register<WebSocketWatch>([ws], {
        monitor,
        id,
        report: undefined,
        isPong,
        destroyed: false,
        over: false,
      });
      const own = ws as unknown as Record<string, unknown>;
      own.send = sendObserved;
      own.sendText = sendTextObserved;
      own.sendBinary = sendBinaryObserved;
      own.close = closeObserved;
    } catch (error) {
      // Another monitor's WebSocket, or a monitor closed since: the upgrade must not break.
      process.emitWarning(notWatched(error), "SocketLivenessWarning");
    }
  };
  const wrapped: WebSocketHandler<W> = {
    ...(handler as WebSocketHandler<W>),
    idleTimeout: handler.idleTimeout ?? 0,
    sendPings: handler.sendPings ?? false,
    open(ws) {
      watch(ws);
      if (user.open === undefined) return;
      try {
        return user.open.call(handler, ws) as void;
      } catch (error) {
        // Bun closes the WebSocket (1006): this side's doing, not the peer's death.
        const watch = mine(ws);
        if (watch !== undefined) {
          watch.local = true;
          monitor.endedLocally(watch.id);
        }
        throw error;
      }
    },
    message(ws, message) {
      const watch = mine(ws);
      if (watch !== undefined) heard(watch, message);
      return user.message?.call(handler, ws, message) as void;
    },
    ping(ws, data) {
      const watch = mine(ws);
      if (watch !== undefined) monitor.received(watch.id);
      return user.ping?.call(handler, ws, data) as void;
    },
    pong(ws, data) {
      const watch = mine(ws);
      if (watch !== undefined) monitor.acked(watch.id);
      return user.pong?.call(handler, ws, data) as void;
    },
    close(ws, code, reason) {
      const watch = mine(ws);
      if (watch !== undefined && !watch.destroyed) {
        if (code === 1006 && !watch.local) {
          over(
            watch,
            abnormalClose(code, "Bun does not say why (a kernel time-out, a reset, a FIN)"),
          );
        } else {
          monitor.ended(watch.id); // the peer's close frame (or ours answered)
          over(watch);
        }
      }
      return user.close?.call(handler, ws, code, reason) as void;
    },
  };
  HANDLERS.set(wrapped, monitor);
  return wrapped as H & WebSocketHandler<W>;
}
