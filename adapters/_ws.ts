/**
 * What the three WebSocket adapters (`_bun_ws.ts`, `_deno_ws.ts`, `_node_ws.ts`) share: the
 * options they take, the ready-made protocol ping, and the watch they keep per WebSocket.
 *
 * Runtime-neutral: WebSockets are known by small structural shapes only, so that no runtime's
 * types (nor the `ws` package) are imported.
 *
 * @module
 */

import type { ConnectionId } from "../src/connection.ts";
import type { AnyMonitor, Watch } from "../src/_kit.ts";
import { describe, knownKeys } from "../src/_validate.ts";

/** Options of the WebSocket entry points on every runtime. */
export interface WebSocketWatchOptions<M = unknown> {
  /**
   * Whether a message answers the heartbeat's ping (it then counts as `acked`, and its round trip
   * is measured), for a heartbeat in your own protocol: `(message) => message === "pong"`. Every
   * message counts as received either way. Where the runtime has protocol pings (Bun, Node's `ws`)
   * a pong frame always answers.
   */
  isPong?: (message: M) => boolean;
}

/** What a WebSocket adapter keeps per WebSocket, besides the kit's. */
export interface WebSocketWatch extends Watch {
  /** The `isPong` option, if any. */
  readonly isPong: ((message: never) => boolean) | undefined;
  /** Whether the adapter closed it for the monitor (its close events are then the adapter's). */
  destroyed: boolean;
  /** Whether the connection's end was told to the monitor (Deno tells one death three times). */
  over: boolean;
  /** Whether this side ended it (Bun closes a WebSocket whose `open` hook threw, with 1006). */
  local?: boolean;
}

/** The option keys every WebSocket entry point accepts. */
export const WEBSOCKET_KEYS: readonly string[] = ["isPong"];

/**
 * Checks the options of a WebSocket entry point.
 *
 * @param options The argument.
 * @param keys The keys it may have.
 * @returns The options.
 * @throws {TypeError} Naming the argument or the option.
 */
export function checkWebSocketOptions<O extends WebSocketWatchOptions<never>>(
  options: O,
  keys: readonly string[] = WEBSOCKET_KEYS,
): O {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`Argument "options" must be an object, got ${describe(options)}`);
  }
  knownKeys(options as Record<string, unknown>, "", keys);
  const isPong = options.isPong;
  if (isPong !== undefined && typeof isPong !== "function") {
    throw new TypeError(`Option "isPong" must be a function, got ${describe(isPong)}`);
  }
  return options;
}

/**
 * Reports a message: `acked` when `isPong` says it answers the ping, `received` otherwise. What
 * `isPong` throws is thrown on, as your own handler's would be, once the message has counted as
 * received: the monitor is never left behind.
 *
 * @param watch The WebSocket's watch.
 * @param message The message.
 */
export function heard(watch: WebSocketWatch, message: unknown): void {
  const { monitor, id, isPong } = watch;
  if (isPong === undefined) return monitor.received(id);
  let pong: boolean;
  try {
    pong = (isPong as (message: unknown) => boolean)(message) === true;
  } catch (error) {
    monitor.received(id);
    throw error;
  }
  if (pong) monitor.acked(id);
  else monitor.received(id);
}

/** A WebSocket with a protocol ping: Bun's `ServerWebSocket`, a `ws` WebSocket. */
export interface Pingable {
  /** Sends a ping frame. */
  ping(): unknown;
}

/**
 * Sends a protocol ping frame: pass it as the monitor's `heartbeat.send` where the runtime has
 * protocol pings (Bun's `ServerWebSocket`, Node's `ws`). The peer's pong frame answers it (browsers
 * and every conforming client answer pings by themselves) and its round trip is measured. A
 * WebSocket that is closing or closed is not pinged: the monitor learns of its end from its close.
 *
 * @typeParam W The monitor's WebSocket type.
 * @param ws The WebSocket, as the monitor holds it.
 *
 * @example
 * ```ts ignore
 * const monitor = new LivenessMonitor<ServerWebSocket>({
 *   heartbeat: { interval: "20s", timeout: "10s", send: pingWebSocket },
 * });
 * ```
 */
export function pingWebSocket<W extends Pingable>(ws: W): void {
  try {
    ws.ping();
  } catch {
    // Closing or closed: its close event tells the monitor.
  }
}

/**
 * The adapter's `ws.close` for one WebSocket: the close that follows is this side's
 * (`local-close`), even when the peer's close frame or FIN arrives before the socket ends. Shared
 * by every WebSocket (installed as an own property), so nothing is allocated per connection.
 *
 * @param lookup The watch of a WebSocket.
 * @returns The method to install.
 */
export function observedClose(
  lookup: (ws: object) => Watch | undefined,
): (this: { close(...args: unknown[]): unknown }, ...args: unknown[]) => unknown {
  return function (this, ...args) {
    const watch = lookup(this);
    if (watch !== undefined) watch.monitor.endedLocally(watch.id);
    return Object.getPrototypeOf(this).close.apply(this, args);
  };
}

/**
 * The adapter's `ws.send` (and `sendText`, `sendBinary`) for one WebSocket: data sent is `sent`
 * (never proof of life: a server that keeps pushing to a dead client still reaps it), so that a
 * time-out with data in flight is told as a user timeout.
 *
 * @param lookup The watch of a WebSocket.
 * @param name The method's name on the prototype.
 * @returns The method to install.
 */
export function observedSend(
  lookup: (ws: object) => Watch | undefined,
  name: string,
): (this: object, ...args: unknown[]) => unknown {
  return function (this, ...args) {
    const watch = lookup(this);
    if (watch !== undefined) watch.monitor.sent(watch.id);
    return (Object.getPrototypeOf(this)[name] as (...a: unknown[]) => unknown).apply(this, args);
  };
}

/**
 * Records a WebSocket's end once, however many events tell it (Deno fires error, then close twice,
 * for one death): with an error the connection is `failed`, without one `closed`.
 *
 * @param watch The watch.
 * @param error What ended it, or `undefined` for an orderly close.
 * @returns Whether this call told the monitor (the first one does).
 */
export function over(watch: WebSocketWatch, error?: unknown): boolean {
  if (watch.over) return false;
  watch.over = true;
  const monitor: AnyMonitor = watch.monitor;
  const id: ConnectionId = watch.id;
  if (error === undefined) monitor.closed(id);
  else monitor.failed(id, error);
  return true;
}

/**
 * The error for a WebSocket that ended without a close frame and without a cause its runtime tells.
 *
 * @param code The close code the runtime reported (1006, or 0 on Deno).
 * @param why What the runtime does not say.
 * @returns An error with `code` set to the close code.
 */
export function abnormalClose(code: number, why: string): Error {
  return Object.assign(
    new Error(`The WebSocket ended without a close frame (code ${code}): ${why}`),
    { name: "WebSocketAbnormalClose", closeCode: code },
  );
}
