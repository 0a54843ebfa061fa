/**
 * WebSockets of `Deno.serve`, watched: {@linkcode upgradeWebSocket} is `Deno.upgradeWebSocket`
 * whose socket a {@linkcode LivenessMonitor} tracks, the `WebSocket` itself being the connection's
 * context. Re-exported by `./deno.ts`.
 *
 * - Tracked as `connecting` at once, `open` on its `open` event; every message → `received()` (a
 *   message `isPong` accepts → `acked()`); `send()` → `sent()`, never proof of life; a close
 *   frame → `ended()` and `closed()`; an error → `failed()`, its cause read from Deno's text
 *   (`Connection timed out (os error 110)` is a keepalive or user timeout).
 * - Deno has no ping API: the heartbeat is yours, through your own encoder (the monitor's
 *   `heartbeat.send`, e.g. `(ws) => ws.send("ping")`), answered by what `isPong` accepts or by your
 *   own `monitor.acked(connectionId(ws)!)`. With a heartbeat on the monitor, Deno's own
 *   `idleTimeout` pings are turned off unless you set `idleTimeout`; without one, Deno's stay (its
 *   give-up, "No response from ping frame", is then the death's error).
 * - Deno tells one death three times (`error`, then `close` 1001, then `close` 1005): the monitor
 *   hears it once.
 * - A WebSocket declared dead is closed with `ws.close()`, which only queues a close frame: to a
 *   peer that is gone, its TCP connection would linger for the kernel's ~15 minutes of
 *   retransmissions. Tune the listener with `tuneServer(monitor, server)`: every connection it
 *   accepts inherits `TCP_USER_TIMEOUT`, and the kernel frees it within the user timeout.
 *
 * @module
 */

import type { LivenessMonitor } from "../src/monitor.ts";
import type { ConnectionId, Driver } from "../src/connection.ts";
import { AdapterKit, CONNECTING, tunedByListener } from "../src/_kit.ts";
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

export type { WebSocketWatchOptions } from "./_ws.ts";

/** The part of a web `WebSocket` (as Deno's upgrade makes it) the adapter uses. */
export interface DenoWebSocket {
  /** `0` connecting, `1` open, `2` closing, `3` closed. */
  readonly readyState: number;
  /** Sends a message. */
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void;
  /** Starts the close handshake. */
  close(code?: number, reason?: string): void;
  /** Adds an event listener. */
  addEventListener(type: string, listener: (event: Event) => void): void;
}

/** `Deno.UpgradeWebSocketOptions`, plus {@linkcode WebSocketWatchOptions}. */
export interface UpgradeWebSocketOptions extends WebSocketWatchOptions<unknown> {
  /** The subprotocol to accept. */
  protocol?: string;
  /**
   * Deno's own ping: seconds of silence before it pings, and again before it gives up. Default:
   * `0` (off) when the monitor has a heartbeat, Deno's 30 otherwise.
   */
  idleTimeout?: number;
}

/** What {@linkcode upgradeWebSocket} returns, as Deno's own. */
export interface WebSocketUpgrade<W = DenoWebSocket> {
  /** The WebSocket, tracked by the monitor. */
  readonly socket: W;
  /** The `101 Switching Protocols` response to return from the handler. */
  readonly response: Response;
}

interface DenoUpgrade {
  upgradeWebSocket(
    request: Request,
    options?: { protocol?: string; idleTimeout?: number },
  ): { socket: DenoWebSocket; response: Response };
}

const webSocketKit = new AdapterKit<DenoWebSocket>({
  runtime: "deno",
  argument: "socket",
  kind: "WebSocket",
  is: (value): value is DenoWebSocket => {
    const ws = value as Partial<DenoWebSocket> | null;
    return typeof ws?.send === "function" && typeof ws.close === "function" &&
      typeof ws.addEventListener === "function" && typeof ws.readyState === "number";
  },
  isOpen: (ws) => ws.readyState <= 1,
  ...tunedByListener("a WebSocket"),
});

/** @internal The kit of WebSockets, for the lookups of `./deno.ts`. */
export const denoWebSocketKit: AdapterKit<DenoWebSocket> = webSocketKit;

const lookup = (ws: object): WebSocketWatch | undefined =>
  webSocketKit.watchOf(ws) as WebSocketWatch | undefined;
const sendObserved = observedSend(lookup, "send");
const closeObserved = observedClose(lookup);

// Deno's text for an OS error ends in "(os error N)": N is the errno.
const OS_ERROR = /\(os error (\d+)\)/;

const driver: Driver<DenoWebSocket> = {
  destroy(ws): void {
    const watch = lookup(ws);
    if (watch !== undefined) watch.destroyed = true;
    try {
      Object.getPrototypeOf(ws).close.call(ws); // the kernel frees it within the user timeout
    } catch {
      // Not open yet, or already closed.
    }
  },
};

/** The error behind Deno's `error` event, with its errno when Deno's text names one. */
function causeOf(event: Event): unknown {
  const { message, error } = event as Event & { message?: string; error?: unknown };
  const text = message ?? (error as Error | undefined)?.message ?? "WebSocket error";
  const errno = OS_ERROR.exec(text)?.[1];
  if (errno !== undefined) {
    return Object.assign(new Error(text), { errno: Number(errno), cause: error });
  }
  if (error instanceof Error) return error;
  return Object.assign(new Error(text), { name: "WebSocketError" });
}

function onOpen(this: DenoWebSocket): void {
  const watch = lookup(this);
  if (watch !== undefined) watch.monitor.connected(watch.id);
}

function onMessage(this: DenoWebSocket, event: Event): void {
  const watch = lookup(this);
  if (watch !== undefined) heard(watch, (event as MessageEvent).data);
}

// Deno fires `error` and then `close`. An error can come on an orderly close too (the peer's close
// frame, then its TCP gone before Deno answered): the close event decides, the error its cause.
const ERROR_WAIT_MS = 1_000; // should Deno ever fire an error without a close after it
const pendingErrors = new WeakMap<WebSocketWatch, unknown>();

function onError(this: DenoWebSocket, event: Event): void {
  const watch = lookup(this);
  if (watch === undefined || watch.destroyed || watch.over || pendingErrors.has(watch)) return;
  const cause = causeOf(event);
  pendingErrors.set(watch, cause);
  const timer = setTimeout(() => over(watch, cause), ERROR_WAIT_MS);
  (timer as { unref?: () => void }).unref?.();
}

function onClose(this: DenoWebSocket, event: Event): void {
  const watch = lookup(this);
  if (watch === undefined || watch.destroyed || watch.over) return;
  const { code, wasClean } = event as CloseEvent;
  const error = pendingErrors.get(watch);
  // "Unexpected EOF": the peer's FIN came before its close frame was answered (or instead of
  // one). The peer's kernel ended the connection in order: a close, the peer's, not a death.
  const eof = error instanceof Error && /unexpected eof/i.test(error.message);
  if (!wasClean && code !== 1000 && !eof) {
    over(watch, error ?? abnormalClose(code, "Deno told no error"));
  } else {
    watch.monitor.ended(watch.id); // the peer's close frame (or ours, answered)
    over(watch);
  }
}

/**
 * `Deno.upgradeWebSocket()` whose socket `monitor` tracks, the `WebSocket` itself being the
 * connection's context: return `response` from your `Deno.serve` handler, use `socket` as Deno's.
 * The adapter's listeners are added first, so the monitor hears each event before yours.
 *
 * Give the monitor a heartbeat in your own protocol (Deno has no ping API) and say what answers it
 * with `isPong`; tune the listener with `tuneServer(monitor, server)` so that the kernel also
 * frees what the monitor declares dead (see the module's notes).
 *
 * @param monitor The monitor to feed; type it by the WebSocket: `LivenessMonitor<WebSocket>`.
 * @param request The upgrade request.
 * @param options Deno's `protocol` and `idleTimeout`, and `isPong`.
 * @returns `{ socket, response }`, as Deno's.
 * @throws {TypeError} When an argument is not what it must be, or the monitor is closed — before
 * anything is upgraded; what Deno throws for a request that is not an upgrade.
 * @throws {Error} When this is not Deno.
 *
 * @example An app-level heartbeat: the client answers "ping" with "pong"
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { upgradeWebSocket } from "./deno.ts";
 *
 * const monitor = new LivenessMonitor<WebSocket>({
 *   heartbeat: { interval: "1s", timeout: "1s", send: (ws) => ws.send("ping") },
 *   onTransition: (t) => t.to === "dead" && console.log(`${t.id} is gone: ${t.reason}`),
 * });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
 *   const { socket, response } = upgradeWebSocket(monitor, request, {
 *     isPong: (message) => message === "pong",
 *   });
 *   socket.onmessage = (event) => event.data !== "pong" && socket.send(event.data);
 *   return response;
 * });
 * console.log(monitor.bound().idleMs); // 2300
 * await server.shutdown();
 * monitor.close();
 * ```
 */
export function upgradeWebSocket<W extends DenoWebSocket = WebSocket>(
  monitor: LivenessMonitor<W>,
  request: Request,
  options: UpgradeWebSocketOptions = {},
): WebSocketUpgrade<W> {
  webSocketKit.checkRuntime();
  webSocketKit.checkMonitor(monitor);
  if (!(request instanceof Request)) {
    throw new TypeError(`Argument "request" must be a Request, got ${describe(request)}`);
  }
  const { isPong, protocol, idleTimeout } = checkWebSocketOptions(options, UPGRADE_KEYS);
  if (protocol !== undefined && typeof protocol !== "string") {
    throw new TypeError(`Option "protocol" must be a string, got ${describe(protocol)}`);
  }
  if (
    idleTimeout !== undefined &&
    (typeof idleTimeout !== "number" || !Number.isInteger(idleTimeout) || idleTimeout < 0)
  ) {
    throw new TypeError(
      `Option "idleTimeout" must be a whole number of seconds from 0, got ${describe(idleTimeout)}`,
    );
  }
  const deno = (globalThis as unknown as { Deno: DenoUpgrade }).Deno;
  const upgraded = deno.upgradeWebSocket(request, {
    ...(protocol === undefined ? {} : { protocol }),
    idleTimeout: idleTimeout ?? (monitor.policy.heartbeat !== undefined ? 0 : 30),
  });
  const socket = upgraded.socket as W;
  const id: ConnectionId = monitor.track(socket, driver as Driver<W>, CONNECTING);
  webSocketKit.register<WebSocketWatch>([socket], {
    monitor,
    id,
    report: undefined,
    isPong,
    destroyed: false,
    over: false,
  });
  const own = socket as unknown as Record<string, unknown>;
  own.send = sendObserved;
  own.close = closeObserved;
  socket.addEventListener("open", onOpen);
  socket.addEventListener("message", onMessage);
  socket.addEventListener("error", onError);
  socket.addEventListener("close", onClose);
  return { socket, response: upgraded.response };
}

const UPGRADE_KEYS = ["isPong", "protocol", "idleTimeout"];
