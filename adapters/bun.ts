/**
 * The Bun adapter: one socket handler, declared once for `Bun.listen` or `Bun.connect`, that
 * tracks every connection in a {@linkcode LivenessMonitor} and tunes its keepalive.
 *
 * - `open` → `track()` and tuning, then yours; `data` → `received()`; `end` (the peer's FIN) →
 *   `ended()`; `close(socket, error)` → `failed()` with an error, `closed()` without. Bun reports a
 *   dead peer (`ETIMEDOUT`, `ECONNRESET`) only there, never through `error`.
 * - Unless a write met the kernel's time-out first: `send` then takes the error (the write returns
 *   -1), and Bun reports `end` and a close without one. At `end` the adapter reads the kernel's view
 *   (`TCP_INFO`, the descriptor still open): a connection the kernel closed with probes or
 *   retransmissions unanswered is `failed()` (`ETIMEDOUT`), not ended.
 * - A time-out whose peer was alive with its window closed is `stalled`: Bun closes the descriptor
 *   before it reports the error, so the last look `watchKernel` took decides (without
 *   `watchKernel`, such a death is `user-timeout`).
 * - {@linkcode connect} tracks an attempt as `connecting`, under the monitor's connect timeout;
 *   a `watchHandler` you pass to `Bun.connect` yourself sees a connection only at `open`.
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
 * - Listeners: the first connection a `Bun.listen` server accepts has its listening socket tuned (as
 *   {@linkcode tuneServer} does): Linux copies its keepalive options to every connection it accepts
 *   afterwards, so those cost no call into the kernel, their report is the listener's with
 *   `via: "listener"`, and the first and then one in 64 or fewer is read back a moment after
 *   `open`. `tuneServer` also tunes the listener of `Bun.serve`, whose connections no handler sees.
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
 *   socket: watchHandler(monitor, { data: (socket) => void socket.end() }),
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
import type { LivenessMonitor } from "../src/monitor.ts";
import type { ConnectionId, ConnectionState, Driver } from "../src/connection.ts";
import type { ListenerReport, TuningReport } from "../src/tune.ts";
import {
  AdapterKit,
  CONNECTING,
  endpointsOf,
  type ListenerWhere,
  messageOf,
  notWatched,
  WATCH,
  type Watch,
  type WatchOptions,
} from "../src/_kit.ts";
import { describe } from "../src/_validate.ts";
import { bunSocketFd, loadBunBackend } from "./_ffi_bun.ts";
import { descriptors } from "./_descriptors.ts";

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
  type BunWebSocket,
  type Pingable,
  pingWebSocket,
  watchWebSocket,
  type WebSocketHandler,
  type WebSocketMessage,
  type WebSocketWatchOptions,
} from "./_bun_ws.ts";
import type { BunWebSocket } from "./_bun_ws.ts";
export { type StreamBody, type StreamWatchOptions, watchStream } from "./_bun_sse.ts";
import { bunStreamKit } from "./_bun_sse.ts";

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
  descriptors,
  unref: (timer) => (timer as { unref?(): void }).unref?.(),
});

/**
 * A TCP server of Bun's: the `Server` of `Bun.serve` or the listener of `Bun.listen`. Only where it
 * listens is read.
 */
export interface BunServer {
  /** `Bun.serve`: where it listens (a path for a Unix socket). */
  readonly address?: { readonly address: string; readonly port: number } | string | null;
  /** `Bun.listen`: the host name or address it was given. */
  readonly hostname?: string;
  /** The port. */
  readonly port?: number;
  /** `Bun.listen`: the listening socket's descriptor. */
  readonly fd?: number;
  /** `Bun.listen`: the path of a Unix socket listener. */
  readonly unix?: string;
}

/** Where a Bun server listens, as `tuneListener` wants it. */
function whereOf(server: BunServer): ListenerWhere {
  const address = server.address;
  if (typeof address === "string" || typeof server.unix === "string") {
    return { address: "a Unix socket listener, where TCP keepalive does not apply" };
  }
  if (address !== null && typeof address === "object") {
    return { address: { address: address.address, port: address.port } };
  }
  if (typeof server.hostname !== "string" || typeof server.port !== "number") {
    return { address: "no TCP address is known for this server" };
  }
  return { fd: bunSocketFd(server), address: { address: server.hostname, port: server.port } };
}

/** The listener that accepted a socket (`socket.listener`), or `undefined` for an outgoing one. */
function listenerOf(socket: BunSocket): BunServer | undefined {
  const listener = (socket as { listener?: unknown }).listener;
  return typeof listener === "object" && listener !== null ? listener : undefined;
}

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
  const user: Hooks = {};
  for (const name of HOOKS) {
    const hook = (handler as Record<string, unknown>)[name];
    if (hook !== undefined && typeof hook !== "function") {
      throw new TypeError(`Argument "handler.${name}" must be a function, got ${describe(hook)}`);
    }
    user[name] = hook as Hook | undefined;
  }
  const binaryType = (handler as { binaryType?: unknown }).binaryType;
  if (binaryType !== undefined && !BINARY_TYPES.includes(binaryType as never)) {
    throw new TypeError(
      `Argument "handler.binaryType" must be "arraybuffer", "buffer" or "uint8array", got ${
        describe(binaryType)
      }`,
    );
  }
  const ffi = kit.checkOptions(options, WATCH_KEYS).ffi !== false;
  const owner = HANDLERS.get(handler);
  if (owner === monitor) return handler;
  if (owner !== undefined) {
    throw new TypeError(`Argument "handler" is already watched by another monitor`);
  }
  return wrap(monitor, handler, user, ffi, undefined);
}

/** A handler's hooks, checked. */
type Hooks = Partial<Record<(typeof HOOKS)[number], Hook>>;

/**
 * The handler {@linkcode watchHandler} returns; with an `attempt`, the one {@linkcode connect}
 * passes to `Bun.connect`: the attempt is tracked as `connecting` now, and its socket adopted at
 * `open`.
 */
function wrap<S extends BunSocket, H extends SocketHandler<S>>(
  monitor: LivenessMonitor<S>,
  handler: H,
  user: Hooks,
  ffi: boolean,
  attempt: Attempt | undefined,
): H & SocketHandler<S> {
  const mine = (socket: BunSocket): BunWatch | undefined => {
    // Read in place (one kind of object at this site, for the engine); the registry only for a
    // socket that takes no property.
    const watch = (socket as { [WATCH]?: Watch })[WATCH] ?? kit.watchOf(socket);
    return watch?.monitor === monitor ? watch as BunWatch : undefined;
  };
  // One driver for every socket of this handler. An attempt's stand-in ends the attempt.
  const driver: Driver<S> = {
    destroy: (socket) => {
      if (attempt !== undefined && socket === attempt.standIn && attempt.socket === undefined) {
        attempt.abandon(connectTimedOut(attempt));
      } else {
        socket.terminate();
      }
    },
    sample(socket, id) {
      const watch = mine(socket);
      if (watch?.id !== id) return;
      wrote(socket, watch);
      kit.sample(monitor, id, socket, ffi);
    },
  };
  // The listeners this handler tried to tune: one attempt each.
  const tried = new WeakSet<object>();
  if (attempt !== undefined) {
    attempt.id = monitor.track(attempt.standIn as S, driver, CONNECTING);
    kit.register<BunWatch>([attempt.standIn], {
      monitor,
      id: attempt.id,
      written: 0,
      report: undefined,
    });
    attempt.closed = () => monitor.closed(attempt.id);
  }
  const watch = (socket: S): void => {
    try {
      if (attempt !== undefined && attempt.socket === undefined) {
        // The attempt connect() tracks as connecting: this is its socket.
        attempt.socket = socket;
        const watch = kit.watchOf(attempt.standIn) as BunWatch;
        watch.written = socket.bytesWritten;
        kit.register([socket], watch);
        kit.accepted(monitor, socket, undefined, ffi, watch);
        monitor.connected(attempt.id);
        return;
      }
      if (kit.owner(monitor, socket) !== undefined) return; // watched by this monitor already
      const id = monitor.track(socket, driver);
      const watch = kit.register<BunWatch>([socket], {
        monitor,
        id,
        written: 0, // at `open`, nothing is written yet
        report: undefined,
      });
      const listener = listenerOf(socket);
      if (listener !== undefined && ffi && !tried.has(listener)) {
        // Once per listener: connections accepted after this inherit its options.
        tried.add(listener);
        try {
          kit.tuneListener(monitor, listener, whereOf(listener), ffi, false, socket);
        } catch (error) {
          process.emitWarning(
            `A listener is not tuned: ${messageOf(error)}`,
            "SocketLivenessWarning",
          );
        }
      }
      kit.accepted(monitor, socket, listener, ffi, watch);
    } catch (error) {
      // Another monitor's socket, or a monitor closed since: the accept path must not break.
      process.emitWarning(notWatched(error), "SocketLivenessWarning");
    }
  };

  const wrapped: SocketHandler<S> = {
    ...(handler as SocketHandler<S>),
    open(socket) {
      // Given up on (its connect timeout passed): the connection is not wanted any more.
      if (attempt?.abandoned) {
        attempt.socket = socket;
        return void socket.terminate();
      }
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
      if (watch !== undefined) {
        // A write that met the kernel's time-out first took its error (Bun's write returned -1),
        // and Bun reads the end of the stream: the kernel's view tells such an end from a FIN.
        const lost = kit.lostTimeout(monitor, socket, ffi);
        if (lost === undefined) {
          monitor.ended(watch.id);
        } else {
          wrote(socket, watch);
          monitor.failed(watch.id, lost);
        }
      }
      if (user.end !== undefined) return call(user.end, handler, socket) as void;
    },
    close(socket, error) {
      if (attempt?.abandoned && attempt.socket === socket) return; // terminated at open
      const watch = mine(socket);
      if (watch === undefined) {
        // Not this monitor's.
      } else if (error === undefined || error === null) {
        monitor.closed(watch.id); // what was written last does not change a close
      } else {
        wrote(socket, watch);
        // Bun closes the descriptor before it reports: a stall is told by watchKernel's last look.
        monitor.failed(watch.id, kit.failure(monitor, socket, error, ffi, false));
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
  if (attempt !== undefined) {
    const hook = user.connectError;
    wrapped.connectError = (socket, error) => {
      if (attempt.abandoned) return;
      attempt.abandon(error); // first: the monitor's verdict ends the attempt through the driver
      monitor.failed(attempt.id, error); // refused, unreachable, or the kernel's SYN time-out
      if (hook !== undefined) return call(hook, handler, socket, error) as void;
    };
  }
  if (handler.binaryType !== undefined) wrapped.binaryType = handler.binaryType;
  HANDLERS.set(wrapped, monitor);
  return wrapped as H & SocketHandler<S>;
}

/** `Bun.connect` options, plus {@linkcode WatchOptions}. */
export interface ConnectOptions<S extends BunSocket = BunSocket> extends WatchOptions {
  /** The host name or address to connect to. */
  hostname: string;
  /** The port to connect to. */
  port: number;
  /** Your handler: watched as {@linkcode watchHandler} watches it (do not wrap it yourself). */
  socket: SocketHandler<S>;
  /** The socket's initial `data`. */
  data?: unknown;
  /** Bun's other options (`tls`, `allowHalfOpen`, ...), passed on as they are. */
  [option: string]: unknown;
}

/** What `Bun.connect` is to the adapter. */
interface BunConnect {
  connect(options: Record<string, unknown>): Promise<BunSocket>;
}

/** A connection {@linkcode connect} is establishing. */
class Attempt {
  /** Its id in the monitor, tracked as `connecting`. */
  id = 0 as ConnectionId;
  /** The socket, once `open` came. */
  socket: BunSocket | undefined;
  /** Whether it was given up on before `open`: by the monitor's connect timeout, or the caller. */
  abandoned = false;
  /** Tells the monitor of a close by the caller. */
  closed: () => void = () => {};
  /** Rejects connect()'s promise. */
  reject: (error: unknown) => void = () => {};
  /** The monitor's context: forwards to the socket once `open` came. */
  readonly standIn: BunSocket;
  readonly hostname: string;
  readonly port: number;
  #data: unknown;

  constructor(hostname: string, port: number, data: unknown) {
    this.hostname = hostname;
    this.port = port;
    this.#data = data;
    this.standIn = new Proxy({} as BunSocket, {
      get: (_, key) => {
        const socket = this.socket;
        if (socket === undefined) return this.#pending(key);
        const value = Reflect.get(socket, key, socket);
        return typeof value === "function" ? value.bind(socket) : value;
      },
      set: (_, key, value) => {
        const socket = this.socket;
        if (socket !== undefined) return Reflect.set(socket, key, value, socket);
        if (key === "data") this.#data = value;
        return key === "data";
      },
    });
  }

  abandon(error: unknown): void {
    if (this.abandoned) return;
    this.abandoned = true;
    this.reject(error);
  }

  /** What the stand-in is before `open`: no descriptor, nothing written, and closing gives up. */
  #pending(key: string | symbol): unknown {
    switch (key) {
      case "data":
        return this.#data;
      case "readyState":
        return 0;
      case "bytesWritten":
        return 0;
      case "write":
        return () => -1;
      case "setKeepAlive":
        return () => false;
      case "end":
      case "shutdown":
      case "terminate":
        return () => {
          this.abandon(Object.assign(new Error("The connection was closed while it connected"), {
            name: "AbortError",
          }));
          this.closed();
        };
      default:
        return undefined;
    }
  }
}

/** The error connect() rejects with when the monitor's connect timeout ends the attempt. */
function connectTimedOut(attempt: Attempt): Error {
  return Object.assign(
    new Error(
      `connect ETIMEDOUT ${attempt.hostname}:${attempt.port}: not established within the monitor's connect timeout`,
    ),
    { code: "ETIMEDOUT", errno: -110, syscall: "connect" },
  );
}

/**
 * `Bun.connect()` with a watched handler, the connection tracked from the attempt on: as `connecting`
 * under the monitor's `connectTimeout` (default 20 s), as Node's and Deno's `connect()` are. A peer
 * that never answers the SYN (a cut cable) is `connecting -> dead (connect-timeout)` when it
 * passes, and this rejects with an `ETIMEDOUT` error; a refused or unreachable attempt is
 * `connecting -> dead (refused)` / `(unreachable)`, and this rejects with Bun's error.
 * Established, it is `connecting -> open (connected)`, tuned, and this resolves with the socket.
 *
 * Bun hands out no socket before `open`: the monitor's context for this connection is a stand-in
 * that forwards every property and method to the socket once it is open (the socket your hooks get
 * is Bun's own; `connectionId` knows both). Closing the stand-in while it connects gives up
 * (`connecting -> closed (local-close)`). Nor can the attempt be cancelled: the kernel goes on with
 * it (Linux gives up after `tcp_syn_retries`, about two minutes), and should it connect after all,
 * the adapter terminates it at once, unseen by your hooks.
 *
 * @param monitor The monitor to feed.
 * @param options `Bun.connect` options, and `ffi`.
 * @returns The socket, once open.
 * @throws {TypeError} When an argument is not what it must be, or the monitor is closed — before
 * anything connects.
 * @throws {Error} When this is not Bun. The promise rejects with `ETIMEDOUT` when the monitor's
 * connect timeout ends the attempt, with Bun's error when it fails otherwise.
 *
 * @example Connect, and learn in time when the peer cannot be reached
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { type BunSocket, connect } from "./bun.ts";
 *
 * const monitor = new LivenessMonitor<BunSocket>({
 *   keepalive: "30s:5s:4",
 *   connectTimeout: "5s",
 *   onTransition: (t) => console.log(`${t.from} -> ${t.to} (${t.reason})`),
 * });
 * const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
 * const socket = await connect(monitor, {
 *   hostname: "127.0.0.1",
 *   port: server.port,
 *   socket: { data() {} },
 * }); // connecting -> open (connected)
 * socket.end();
 * server.stop(true);
 * monitor.close();
 * ```
 */
export function connect<S extends BunSocket>(
  monitor: LivenessMonitor<S>,
  options: ConnectOptions<S>,
): Promise<S> {
  kit.checkRuntime();
  kit.checkMonitor(monitor);
  const { ffi, socket: handler, ...rest } = kit.checkOptions(options);
  if (handler === null || typeof handler !== "object" || Array.isArray(handler)) {
    throw new TypeError(
      `Option "socket" must be a socket handler object, got ${describe(handler)}`,
    );
  }
  const user: Hooks = {};
  for (const name of HOOKS) {
    const hook = (handler as Record<string, unknown>)[name];
    if (hook !== undefined && typeof hook !== "function") {
      throw new TypeError(`Option "socket.${name}" must be a function, got ${describe(hook)}`);
    }
    user[name] = hook as Hook | undefined;
  }
  const attempt = new Attempt(String(rest.hostname), Number(rest.port), rest.data);
  const wrapped = wrap(monitor, handler, user, ffi !== false, attempt);
  const bun = (globalThis as unknown as { Bun: BunConnect }).Bun;
  return new Promise<S>((resolve, reject) => {
    attempt.reject = reject;
    let pending: Promise<BunSocket>;
    try {
      pending = bun.connect({ ...rest, socket: wrapped });
    } catch (error) {
      attempt.abandon(error);
      monitor.failed(attempt.id, error);
      return;
    }
    pending.then(
      (socket) => {
        if (!attempt.abandoned) resolve(socket as S);
      },
      (error) => {
        if (attempt.abandoned) return;
        attempt.abandon(error);
        monitor.failed(attempt.id, error);
      },
    );
  });
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
 * Tunes a server's listening socket once: Linux copies its keepalive options to every connection it
 * accepts afterwards, so those connections are tuned without a call into the kernel each — the
 * only way to tune the connections of `Bun.serve`, which no socket handler sees. The listening
 * socket is the `Bun.listen` listener's descriptor, or (`Bun.serve`) found among the process's
 * descriptors by its address (`SO_ACCEPTCONN`); it is proven on a `dup(2)`, tuned and read back.
 * Connections it had already accepted are found the same way and tuned one by one, and those
 * waiting in its accept queue are tuned as they are accepted (for `Bun.serve`, by a few scans in the
 * second that follows): `report.earlier` counts both. A {@linkcode watchHandler} handler tunes its
 * `Bun.listen` listener itself at the first connection; tuning a server again with the same
 * monitor returns its report.
 *
 * With `ffi: false`, off Linux or where `bun:ffi` cannot load libc, the report says why (each
 * control `unsupported`), and the monitor warns once with what that costs.
 *
 * @param monitor The monitor whose `keepalive` settings apply.
 * @param server The `Server` of `Bun.serve`, or the listener of `Bun.listen`.
 * @param options See {@linkcode WatchOptions}.
 * @returns The listener's report: each control's outcome, read back from the listening socket, its
 * address, and the connections that were there before.
 * @throws {TypeError} When an argument is not what it must be, the monitor is closed, or another
 * monitor tuned the server.
 * @throws {Error} When this is not Bun.
 *
 * @example Tune the listener of `Bun.serve`
 * ```ts
 * import { LivenessMonitor } from "../mod.ts";
 * import { tuneServer } from "./bun.ts";
 *
 * const monitor = new LivenessMonitor({ keepalive: "30s:5s:4" });
 * const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
 * const report = tuneServer(monitor, server);
 * console.log(report.idle.status, report.earlier.accepted); // applied 0
 * server.stop(true);
 * monitor.close();
 * ```
 */
export function tuneServer<C>(
  monitor: LivenessMonitor<C>,
  server: BunServer,
  options: WatchOptions = {},
): ListenerReport {
  kit.checkRuntime();
  kit.checkMonitor(monitor);
  if (server === null || typeof server !== "object" || !("port" in server || "unix" in server)) {
    throw new TypeError(
      `Argument "server" must be a Bun.serve server or a Bun.listen listener, got ${
        describe(server)
      }`,
    );
  }
  const ffi = kit.checkOptions(options, WATCH_KEYS).ffi !== false;
  return kit.tuneListener(monitor, server, whereOf(server), ffi, true);
}

/**
 * The id under which a socket is tracked, for `monitor.acked(id)` and the other inputs.
 *
 * @param socket A socket served by a {@linkcode watchHandler} handler, a `ServerWebSocket` served
 * by a {@linkcode watchWebSocket} handler, or a `Request` whose response {@linkcode watchStream}
 * watches.
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
export function connectionId(
  socket: BunSocket<unknown> | BunWebSocket<unknown> | Request,
): ConnectionId | undefined {
  return kitOf(socket).lookup(socket)?.id;
}

/**
 * What tuning a tracked socket achieved: each control's outcome and the detection bound.
 *
 * @param socket A socket served by a {@linkcode watchHandler} handler, a `ServerWebSocket` served
 * by a {@linkcode watchWebSocket} handler, or a `Request` whose response {@linkcode watchStream}
 * watches (`undefined` for a request: tune the listener with {@linkcode tuneServer}).
 * @returns The report, or `undefined` when the socket is not tracked.
 * @throws {TypeError} When `socket` is not a Bun socket.
 *
 * @example
 * ```ts ignore
 * const report = tuningReport(socket);
 * if (report?.userTimeout.status !== "applied") console.warn(report?.userTimeout.note);
 * ```
 */
export function tuningReport(
  socket: BunSocket<unknown> | BunWebSocket<unknown> | Request,
): TuningReport | undefined {
  return kitOf(socket).lookup(socket)?.report;
}

/**
 * The monitor's state of a tracked socket.
 *
 * @param socket A socket served by a {@linkcode watchHandler} handler, a `ServerWebSocket` served
 * by a {@linkcode watchWebSocket} handler, or a `Request` whose response {@linkcode watchStream}
 * watches.
 * @returns The state (`closed` or `dead` at its end), or `undefined` when it is not watched or
 * the monitor has forgotten it.
 * @throws {TypeError} When `socket` is not a Bun socket.
 *
 * @example
 * ```ts ignore
 * if (connectionState(socket) === "idle") socket.write("PING\n");
 * ```
 */
export function connectionState(
  socket: BunSocket<unknown> | BunWebSocket<unknown> | Request,
): ConnectionState | undefined {
  return kitOf(socket).state(socket);
}

/** The kit that knows a lookup's argument: the requests' whose responses stream, or the sockets'. */
function kitOf(value: unknown): AdapterKit<BunSocket> | AdapterKit<Request> {
  return bunStreamKit.kind.is(value) ? bunStreamKit : kit;
}

const WATCH_KEYS = ["ffi"];
const BINARY_TYPES = ["arraybuffer", "buffer", "uint8array"] as const;

/** Reports writes made since the last look. */
function wrote(socket: BunSocket, watch: BunWatch): void {
  const written = socket.bytesWritten;
  if (written !== watch.written) {
    watch.written = written;
    watch.monitor.sent(watch.id);
  }
}
