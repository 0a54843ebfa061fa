/**
 * The Bun adapter: one socket handler, declared once for `Bun.listen` or `Bun.connect`, that
 * tracks every connection in a {@linkcode LivenessMonitor} and tunes its keepalive.
 *
 * - `open` → `track()` and tuning, then yours; `data` → `received()`; `end` (the peer's FIN) →
 *   `ended()`; `close(socket, error)` → `failed()` with an error, `closed()` without. Bun reports a
 *   dead peer (`ETIMEDOUT`, `ECONNRESET`) only there, never through `error`.
 * - `error(socket, error)` → `failed()` for Bun's own errors (a TLS record that does not decrypt:
 *   Bun then closes the socket without an error). What your handlers throw also reaches `error`,
 *   but Bun keeps the socket open: it goes to your `error` handler (or is thrown again, as Bun
 *   does without one) and is no sign of death.
 * - Writes are sampled: `socket.bytesWritten` is compared when data arrives, when one of the
 *   connection's deadlines comes and when it closes, so `write()` stays Bun's own.
 * - A connection declared dead is `terminate()`d: `SO_LINGER` 0 and `close(2)`, so the kernel drops
 *   what it still queues and the peer gets a reset. `end()` would leave an orphan in FIN-WAIT-1,
 *   retransmitting to a peer that is gone.
 * - Keepalive: `socket.setKeepAlive(true, idle)` sets the idle time in whole seconds and fixes the
 *   interval at 1 s and the count at 10; `setsockopt` through `bun:ffi` sets the rest, on the
 *   descriptor `socket.fd` once `getsockname`/`getpeername` prove it is this socket's.
 *   {@linkcode tuningReport} tells what took effect.
 *
 * Per connection the adapter keeps one small record, in the kit's registry (not on the socket):
 * `socket.data` stays yours. A socket is tracked by one monitor for its life: the first whose
 * handler opens it. {@linkcode connectionId}, {@linkcode tuningReport} and
 * {@linkcode connectionState} look a socket up.
 *
 * @example Watch every connection of a server
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { type BunSocket, tuningReport, watchHandler } from "./bun.ts";
 *
 * const monitor = new LivenessMonitor<BunSocket>({
 *   keepalive: { idle: "30s", interval: "5s", count: 4, userTimeout: "50s" },
 *   onTransition: (t) => console.log(`${t.id}: ${t.from} -> ${t.to} (${t.reason})`),
 * });
 * const server = Bun.listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   socket: watchHandler(monitor, {
 *     open: (socket) => console.log(tuningReport(socket)?.bound.idleMs), // 50000
 *     data: (socket, data) => void socket.write(data),
 *   }),
 * });
 * const client = await Bun.connect({
 *   hostname: "127.0.0.1",
 *   port: server.port,
 *   socket: watchHandler(monitor, { data: (socket) => socket.end() }),
 * });
 * client.write("hello");
 * await new Promise((resolve) => setTimeout(resolve, 50)); // echoed, then closed
 * server.stop(true);
 * monitor.close();
 * ```
 *
 * @module
 */

import process from "node:process";
import type { ConnectionId, ConnectionState, Driver, LivenessMonitor } from "../src/monitor.ts";
import type { TuningReport } from "../src/tune.ts";
import { AdapterKit, endpointsOf, notWatched, type Watch, type WatchOptions } from "../src/_kit.ts";
import { describe } from "../src/_validate.ts";
import { bunSocketFd, loadBunBackend } from "./_ffi_bun.ts";

export type {
  ConnectionId,
  ConnectionState,
  ControlReport,
  ControlStatus,
  TuningReport,
} from "../mod.ts";
export type { WatchOptions } from "../src/_kit.ts";

/**
 * The part of a `Bun.Socket` the adapter and its users touch, declared here so that no Bun type
 * package is needed. `Socket<Data>` from `bun-types` fits it: type a monitor with either.
 */
export interface BunSocket<Data = unknown> {
  /** Your per-connection data (the adapter never touches it). */
  data: Data;
  /** The descriptor (not in `bun-types`, but Bun has it). */
  readonly fd?: number;
  /** `1` while established; `-1` (detached) or `0` once closed. */
  readonly readyState: number;
  /** Bytes handed to the kernel since the socket opened. */
  readonly bytesWritten: number;
  /** Local address text. */
  readonly localAddress: string;
  /** Local port. */
  readonly localPort: number;
  /** The peer's address text. */
  readonly remoteAddress: string;
  /** The peer's port. */
  readonly remotePort: number;
  /** Writes without buffering: the bytes the kernel took, or `-1` when closed. */
  write(
    data: string | ArrayBufferView | ArrayBufferLike,
    byteOffset?: number,
    byteLength?: number,
  ): number;
  /** Sends FIN after any final data, then closes. */
  end(data?: string | ArrayBufferView | ArrayBufferLike): number | void;
  /** Half-closes: FIN, or with `true` stops reading. */
  shutdown(halfClose?: boolean): void;
  /** Closes at once with `SO_LINGER` 0: the peer gets RST. */
  terminate(): void;
  /** SO_KEEPALIVE and TCP_KEEPIDLE (whole seconds; with it interval 1 s and count 10). */
  setKeepAlive(enable?: boolean, initialDelay?: number): boolean;
}

/** What `data` receives: a `Buffer` by default, per the handler's `binaryType`. */
export type SocketData = Uint8Array | ArrayBuffer;

/** A Bun socket handler (`Bun.SocketHandler`), typed by the socket it is given. */
export interface SocketHandler<S = BunSocket> {
  /** Connected (after the TLS handshake when there is no `handshake` handler). */
  open?(socket: S): void | Promise<void>;
  /** Data arrived. */
  data?(socket: S, data: SocketData): void | Promise<void>;
  /** The socket can take more writes. */
  drain?(socket: S): void | Promise<void>;
  /** The peer sent FIN. */
  end?(socket: S): void | Promise<void>;
  /** Closed; with the error that closed it, if any. */
  close?(socket: S, error?: Error): void | Promise<void>;
  /** A handler threw, or a TLS session failed. */
  error?(socket: S, error: Error): void | Promise<void>;
  /** `Bun.connect` failed. */
  connectError?(socket: S, error: Error): void | Promise<void>;
  /** The timeout set with `socket.timeout()` passed. */
  timeout?(socket: S): void | Promise<void>;
  /** The TLS handshake completed. */
  handshake?(socket: S, success: boolean, authorizationError: Error | null): void;
  /** What `data` receives: `"buffer"` (default), `"arraybuffer"` or `"uint8array"`. */
  binaryType?: "arraybuffer" | "buffer" | "uint8array";
}

/** What the adapter keeps per socket, besides the kit's. */
interface BunWatch extends Watch {
  written: number;
}

const kit = new AdapterKit<BunSocket>({
  runtime: "bun",
  argument: "socket",
  kind: "Bun socket",
  is: (value): value is BunSocket => typeof (value as BunSocket | null)?.terminate === "function",
  // Bun calls `open` also for a socket whose peer is already gone (no addresses, readyState -1): it
  // is watched all the same, its report saying it is not a connected TCP socket. A warning for each
  // would be noise on a busy server, and `open` is the only way a socket reaches the adapter.
  isOpen: () => true,
  native(socket, settings) {
    const withIdle = settings.enabled && settings.idleMs !== undefined;
    // With an idle time Bun also sets TCP_KEEPINTVL 1 s and TCP_KEEPCNT 10 (with 0, neither): it
    // sets the interval or the count when that is what was asked.
    return {
      idle: true,
      interval: withIdle && settings.intervalMs === 1000,
      count: withIdle && settings.count === 10,
      sideEffects: withIdle ? { interval: 1000, count: 10 } : undefined,
      set(enable, idleMs): void {
        if (!socket.setKeepAlive(enable, idleMs ?? 0)) {
          throw new Error("socket.setKeepAlive returned false");
        }
      },
    };
  },
  backend: loadBunBackend,
  fd: bunSocketFd,
  // Both must be known: Bun reports no addresses for a socket reset before `open`.
  endpoints: (socket) =>
    endpointsOf(socket.localAddress, socket.localPort, socket.remoteAddress, socket.remotePort),
});

// The handlers watchHandler() made, by the monitor they feed.
const HANDLERS = new WeakMap<object, unknown>();

type Hook = (this: unknown, socket: BunSocket, a?: unknown, b?: unknown) => unknown;
const HOOKS = [
  "open",
  "data",
  "drain",
  "end",
  "close",
  "error",
  "connectError",
  "timeout",
  "handshake",
] as const;

// What a handler threw last: Bun hands it to `error` at once, and it says nothing about the peer.
const NOTHING = Symbol("nothing");
let thrown: unknown = NOTHING;

function call(hook: Hook, self: unknown, socket: BunSocket, a?: unknown, b?: unknown): unknown {
  try {
    return hook.call(self, socket, a, b);
  } catch (error) {
    thrown = error;
    throw error;
  }
}

/**
 * Wraps a Bun socket handler so that every socket it serves is tracked by `monitor`: declare it
 * once and pass it to `Bun.listen` or `Bun.connect`. Your hooks run after the monitor has seen
 * the event, so `onTransition` comes before your `close`.
 *
 * A socket is watched by one monitor for its life. A handler of the same monitor that sees it
 * again (nested, or after `socket.reload()`) feeds the watch it has; one of another monitor leaves
 * it alone, with a process warning when it opens. Wrapping a handler this returned again with the
 * same monitor returns it as it is.
 *
 * @param monitor The monitor to feed; type it by the socket, e.g. `LivenessMonitor<BunSocket>`.
 * @param handler Your handler; it is not modified.
 * @param options See {@linkcode WatchOptions}.
 * @returns A new handler with your hooks and `binaryType`, and the adapter's.
 * @throws {TypeError} When an argument is not what it must be, the monitor is closed, or the
 * handler is one this returned for another monitor.
 * @throws {Error} When this is not Bun (checked here, so importing the module anywhere is safe).
 *
 * @example A heartbeat on a line protocol
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { type BunSocket, connectionId, watchHandler } from "./bun.ts";
 *
 * const monitor = new LivenessMonitor<BunSocket>({
 *   heartbeat: { interval: "15s", timeout: "5s", send: (socket) => void socket.write("PING\n") },
 * });
 * const handler = watchHandler(monitor, {
 *   data(socket, data) {
 *     if (String(data).includes("PONG\n")) monitor.acked(connectionId(socket)!);
 *   },
 * });
 * console.log(typeof handler.open); // function: pass the handler as `socket` to Bun.listen
 * monitor.close();
 * ```
 */
export function watchHandler<S extends BunSocket, H extends SocketHandler<S>>(
  monitor: LivenessMonitor<S>,
  handler: H,
  options: WatchOptions = {},
): H & SocketHandler<S> {
  kit.checkRuntime();
  kit.checkMonitor(monitor);
  if (handler === null || typeof handler !== "object" || Array.isArray(handler)) {
    throw new TypeError(
      `Argument "handler" must be a socket handler object, got ${describe(handler)}`,
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
  const ffi = kit.checkOptions(options, WATCH_KEYS).ffi !== false;
  const owner = HANDLERS.get(handler);
  if (owner === monitor) return handler;
  if (owner !== undefined) {
    throw new TypeError(`Argument "handler" is already watched by another monitor`);
  }
  const mine = (socket: BunSocket): BunWatch | undefined => {
    const watch = kit.watchOf(socket);
    return watch?.monitor === monitor ? watch as BunWatch : undefined;
  };
  // One driver for every socket of this handler.
  const driver: Driver<S> = {
    destroy: (socket) => socket.terminate(),
    sample(socket, id) {
      const watch = mine(socket);
      if (watch?.id !== id) return;
      wrote(socket, watch);
      kit.sample(monitor, id, socket, ffi);
    },
  };
  const watch = (socket: S): void => {
    try {
      if (kit.owner(monitor, socket) !== undefined) return; // watched by this monitor already
      const id = monitor.track(socket, driver);
      const watch = kit.register<BunWatch>([socket], {
        monitor,
        id,
        written: socket.bytesWritten,
        report: undefined,
      });
      watch.report = kit.tune(monitor, socket, ffi);
    } catch (error) {
      // Another monitor's socket, or a monitor closed since: the accept path must not break.
      process.emitWarning(notWatched(error), "SocketLivenessWarning");
    }
  };

  const wrapped: SocketHandler<S> = {
    ...(handler as SocketHandler<S>),
    open(socket) {
      watch(socket);
      if (user.open !== undefined) return call(user.open, handler, socket) as void;
    },
    data(socket, data) {
      const watch = mine(socket);
      if (watch !== undefined) {
        wrote(socket, watch); // writes made before this data come first
        monitor.received(watch.id);
      }
      if (user.data !== undefined) return call(user.data, handler, socket, data) as void;
    },
    end(socket) {
      const watch = mine(socket);
      if (watch !== undefined) monitor.ended(watch.id);
      if (user.end !== undefined) return call(user.end, handler, socket) as void;
    },
    close(socket, error) {
      const watch = mine(socket);
      if (watch !== undefined) {
        wrote(socket, watch);
        if (error === undefined || error === null) monitor.closed(watch.id);
        else monitor.failed(watch.id, error);
      }
      if (user.close !== undefined) return call(user.close, handler, socket, error) as void;
    },
    error(socket, error) {
      const own = error === thrown;
      thrown = NOTHING;
      const watch = own ? undefined : mine(socket);
      if (watch !== undefined) {
        wrote(socket, watch);
        monitor.failed(watch.id, error);
      }
      if (user.error !== undefined) return call(user.error, handler, socket, error) as void;
      if (own) throw error; // as Bun does without an error handler: reported as uncaught
    },
  };
  for (const name of ["drain", "connectError", "timeout", "handshake"] as const) {
    const hook = user[name];
    if (hook !== undefined) {
      (wrapped as Record<string, Hook>)[name] = (socket, a, b) => call(hook, handler, socket, a, b);
    }
  }
  if (handler.binaryType !== undefined) wrapped.binaryType = handler.binaryType;
  HANDLERS.set(wrapped, monitor);
  return wrapped as H & SocketHandler<S>;
}

/**
 * The name {@linkcode watchHandler} had first; the same function.
 *
 * @deprecated Use {@linkcode watchHandler}, the name every adapter's entry points follow.
 *
 * @param monitor The monitor to feed.
 * @param handler Your handler; it is not modified.
 * @param options See {@linkcode WatchOptions}.
 * @returns What {@linkcode watchHandler} returns.
 *
 * @example
 * ```ts ignore
 * Bun.listen({ hostname: "127.0.0.1", port: 0, socket: liveness(monitor, { data() {} }) });
 * ```
 */
export const liveness: typeof watchHandler = watchHandler;

/**
 * The id under which a socket is tracked, for `monitor.acked(id)` and the other inputs.
 *
 * @param socket A socket served by a {@linkcode watchHandler} handler.
 * @returns The id, or `undefined` when the socket is not tracked.
 * @throws {TypeError} When `socket` is not a Bun socket.
 *
 * @example
 * ```ts ignore
 * data(socket, data) {
 *   if (String(data).includes("PONG\n")) monitor.acked(connectionId(socket)!);
 * }
 * ```
 */
export function connectionId(socket: BunSocket<unknown>): ConnectionId | undefined {
  return kit.lookup(socket)?.id;
}

/**
 * What tuning a tracked socket achieved: each control's outcome and the detection bound.
 *
 * @param socket A socket served by a {@linkcode watchHandler} handler.
 * @returns The report, or `undefined` when the socket is not tracked.
 * @throws {TypeError} When `socket` is not a Bun socket.
 *
 * @example
 * ```ts ignore
 * const report = tuningReport(socket);
 * if (report?.userTimeout.status !== "applied") console.warn(report?.userTimeout.note);
 * ```
 */
export function tuningReport(socket: BunSocket<unknown>): TuningReport | undefined {
  return kit.lookup(socket)?.report;
}

/**
 * The monitor's state of a tracked socket.
 *
 * @param socket A socket served by a {@linkcode watchHandler} handler.
 * @returns The state (`closed` or `dead` at its end), or `undefined` when it is not watched or
 * the monitor has forgotten it.
 * @throws {TypeError} When `socket` is not a Bun socket.
 *
 * @example
 * ```ts ignore
 * if (connectionState(socket) === "idle") socket.write("PING\n");
 * ```
 */
export function connectionState(socket: BunSocket<unknown>): ConnectionState | undefined {
  return kit.state(socket);
}

const WATCH_KEYS = ["ffi"];

/** Reports writes made since the last look. */
function wrote(socket: BunSocket, watch: BunWatch): void {
  const written = socket.bytesWritten;
  if (written !== watch.written) {
    watch.written = written;
    watch.monitor.sent(watch.id);
  }
}
