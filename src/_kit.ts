/**
 * The adapter kit: every step the Node, Deno and Bun adapters share, written once, so that an
 * adapter is the mapping of its runtime's events onto monitor inputs and little else (crossws's
 * `adapterUtils` is the model).
 *
 * - **One ownership rule.** A socket is watched by one monitor for its life. Before anything is
 *   opened, tracked or attached, {@linkcode AdapterKit.checkMonitor} refuses what is not an open
 *   {@linkcode LivenessMonitor} and {@linkcode AdapterKit.owner} refuses a socket that is closed or
 *   watched by another monitor; watching a socket again with its own monitor returns the watch it
 *   has. A watch is kept on its socket under a `Symbol.for` key (objects that take no property: in
 *   one registry per process on `globalThis`), so two copies of the library (an npm and a JSR
 *   install side by side) agree.
 * - **One tuning path.** {@linkcode AdapterKit.tune}: the runtime's own keepalive API, then
 *   `setsockopt` on a `dup(2)` of the descriptor proven to be the socket's by both endpoints
 *   (one address comparison, {@linkcode sameAddress}), each missing step named in the report. The
 *   monitor's settings are resolved into a {@linkcode KeepalivePlan} once per monitor.
 * - **Listeners tuned once.** {@linkcode AdapterKit.tuneListener} and
 *   {@linkcode AdapterKit.accepted}: the connections a tuned listener accepts get a report derived
 *   from its own, read back on a sample (`_inherit.ts`).
 * - **One kernel sampler.** {@linkcode AdapterKit.sample} reads unanswered keepalive probes from
 *   `TCP_INFO` for monitors with `watchKernel`.
 * - **One wording** for argument and runtime errors.
 *
 * Runtime-neutral: what differs between runtimes comes in as a {@linkcode SocketKind}, a few small
 * functions each adapter declares once.
 *
 * @module
 */

import { LivenessMonitor } from "./monitor.ts";
import type { ConnectionId, ConnectionState } from "./connection.ts";
import type { TrackOptions } from "./options.ts";
import type { KeepaliveSettings } from "./keepalive.ts";
import {
  KeepalivePlan,
  type ListenerReport,
  type NativeKeepalive,
  type TuningReport,
} from "./tune.ts";
import type { BackendResult, SockoptBackend } from "./_sockopt.ts";
import { describe, knownKeys } from "./_validate.ts";
import {
  deathError,
  kernelEnd,
  lookStalled,
  lostTimeout,
  readEndView,
  type WindowLook,
  windowLookOf,
} from "./_kernel_end.ts";
import {
  acceptedFrom,
  FFI_OFF,
  type ListenerTuning,
  type ListenerWhere,
  tunedReport,
  tuneListenerOnce,
  verify,
} from "./_inherit.ts";

import { type Endpoints, notThisSocket } from "./_listener.ts";
import { messageOf } from "./_validate.ts";

export { notThisSocket, plainAddress, sameAddress } from "./_listener.ts";
export type { Endpoint, Endpoints, ListenAddress } from "./_listener.ts";
export { messageOf } from "./_validate.ts";
export type { ListenerWhere } from "./_inherit.ts";

/** The runtimes with an adapter, by the name of their entry point. */
export type RuntimeName = "node" | "deno" | "bun";

/** Options every adapter takes. */
export interface WatchOptions {
  /**
   * Whether to set what the runtime's own API cannot (interval, count, user timeout; on Deno also
   * idle) with `setsockopt` through FFI — koffi on Node, `Deno.dlopen` on Deno when `--allow-ffi`
   * is granted (never prompted for), `bun:ffi` on Bun — and to read `TCP_INFO` for `watchKernel`.
   * Default `true`; with `false` only the runtime's own API is used and the report says what is
   * missing.
   */
  ffi?: boolean;
}

/** Any monitor, whatever it keeps as a connection's context. */
// deno-lint-ignore no-explicit-any
export type AnyMonitor = LivenessMonitor<any>;

/** What the kit keeps per watched socket; adapters add their own fields. */
export interface Watch {
  /** The monitor that tracks the socket. */
  readonly monitor: AnyMonitor;
  /** The socket's id in that monitor. */
  readonly id: ConnectionId;
  /** What tuning achieved, once tuned. */
  report: TuningReport | undefined;
  /** The tuned listener it was accepted from, while its report is derived and not read back. */
  inherited?: ListenerTuning;
  /** The last look `watchKernel` took at its window, for a time-out reported after its close. */
  look?: WindowLook;
}

/** What an adapter tells the kit about its runtime's socket objects. */
export interface SocketKind<S extends object> {
  /** The adapter's runtime. */
  readonly runtime: RuntimeName;
  /** The argument's name in messages: `"socket"` or `"conn"`. */
  readonly argument: string;
  /** What the argument must be, in messages: `"net.Socket"`, `"Deno.TcpConn"`, `"Bun socket"`. */
  readonly kind: string;
  /** Whether a value is such a socket. */
  is(value: unknown): value is S;
  /**
   * Whether the socket is open. Asked last, once no other monitor watches it, so that a check with
   * an effect (Deno tells a closed conn only by refusing an option) touches only a socket about to
   * be watched.
   */
  isOpen(socket: S, settings: KeepaliveSettings): boolean;
  /** The runtime's own keepalive API for this socket. */
  native(socket: S, settings: KeepaliveSettings): NativeKeepalive;
  /** The runtime's `setsockopt` backend, or why there is none. */
  backend(): BackendResult;
  /**
   * The runtimes the adapter runs on, when more than its own (the Node adapter also serves the
   * `node:net` of Deno and Bun).
   */
  readonly hosts?: readonly RuntimeName[];
  /** The process's open descriptors (`/proc/self/fd`), or `undefined` when they cannot be listed. */
  descriptors?(): readonly number[] | undefined;
  /** Lets a timer not keep the process alive (`timer.unref()`, `Deno.unrefTimer(id)`). */
  unref?(timer: unknown): void;
  /**
   * The socket's descriptor, or `undefined` when it cannot be known (or, where it must be searched
   * for, not within `budget` calls into the kernel).
   */
  fd(socket: S, backend: SockoptBackend, budget?: number): number | undefined;
  /**
   * The descriptor of a socket whose peer may be gone (no endpoint to prove it by), while the
   * runtime still holds it: where {@linkcode SocketKind.fd} needs the peer's address (Deno), the one
   * found for the socket before. Default: `fd`.
   */
  endFd?(socket: S, backend: SockoptBackend): number | undefined;
  /** Both ends, or `undefined` for a socket that is not connected TCP (IPC, or the peer is gone). */
  endpoints(socket: S): Endpoints | undefined;
}

// A socket's watch is kept on the socket itself, under a `Symbol.for` key that two copies of the
// library share: a process-wide `WeakMap` cost 0.1–8 µs per insert on the accept path (its table
// grows and rehashes with thousands of dead keys waiting for the collector), a property ~20 ns.
// An object that takes no property (frozen, sealed) falls back to a process-wide `WeakMap`.
/**
 * The property a socket's watch is kept under (see {@linkcode AdapterKit.register}): an adapter's
 * hot paths read it in place, where the runtime's engine sees one kind of socket.
 */
export const WATCH: unique symbol = Symbol.for("socket-liveness.watch") as never;
const REGISTRY = Symbol.for("socket-liveness.watch-fallback");
const registry: { fallback: WeakMap<object, Watch> | undefined } =
  ((globalThis as Record<symbol, unknown>)[REGISTRY] ??= { fallback: undefined }) as {
    fallback: WeakMap<object, Watch> | undefined;
  };

/** The watch recorded for an object, on it or in the fallback registry. */
function watchAt(key: object): Watch | undefined {
  const watch = (key as Record<symbol, Watch | undefined>)[WATCH];
  if (watch !== undefined) return watch;
  return registry.fallback === undefined ? undefined : registry.fallback.get(key);
}

/** Records a watch for an object: on it when it takes a property, else in the fallback registry. */
function recordWatch(key: object, watch: Watch): void {
  try {
    (key as Record<symbol, Watch | undefined>)[WATCH] = watch;
    if ((key as Record<symbol, Watch | undefined>)[WATCH] === watch) return;
  } catch {
    // Not extensible: below.
  }
  (registry.fallback ??= new WeakMap()).set(key, watch);
}

// One plan per monitor: its settings and policy never change.
const plans = new WeakMap<AnyMonitor, KeepalivePlan>();

const ADAPTER_TITLES: Record<RuntimeName, string> = { node: "Node", deno: "Deno", bun: "Bun" };
const RUNTIME_TITLES: Record<RuntimeName, string> = { node: "Node.js", deno: "Deno", bun: "Bun" };
// What the adapters call on a monitor: another copy of the library's monitor has all of it.
const MONITOR_METHODS = [
  "track",
  "received",
  "sent",
  "ended",
  "failed",
  "closed",
  "keepaliveProbes",
  "state",
] as const;

/**
 * The runtime running this code, told by what each one puts on `globalThis` (Deno and Bun also
 * have `process.versions.node`).
 *
 * @returns The runtime, or `undefined` elsewhere (a browser, a worker platform).
 */
export function currentRuntime(): RuntimeName | undefined {
  const global = globalThis as Record<string, unknown>;
  if (global["Deno"] !== undefined) return "deno";
  if (global["Bun"] !== undefined) return "bun";
  const versions = (global["process"] as { versions?: { node?: unknown } } | undefined)?.versions;
  return typeof versions?.node === "string" ? "node" : undefined;
}

/**
 * The parts of a {@linkcode SocketKind} for objects with no socket of their own — a WebSocket or a
 * request on a server the runtime owns: nothing is tuned on them and no descriptor is looked for;
 * their server's listener is tuned instead (`tuneServer`), and they inherit its settings.
 *
 * @param what The object, for the report's reason (e.g. "a ServerWebSocket").
 * @returns `native`, `backend`, `fd` and `endpoints` for the kind.
 */
export function tunedByListener<S extends object>(
  what: string,
): Pick<SocketKind<S>, "native" | "backend" | "fd" | "endpoints"> {
  return {
    native: () => ({ idle: false, interval: false, count: false, set: () => {} }),
    backend: () => ({ ok: false, reason: `${what} has no descriptor` }),
    fd: () => undefined,
    endpoints: () => undefined,
  };
}

/**
 * What `track()` is given for a connection not established yet, made once (an established one is
 * given nothing: no object per accepted connection, and no keys to check).
 */
export const CONNECTING: TrackOptions = Object.freeze({ connecting: true });

/**
 * The warning for a connection the accept path leaves unwatched (it never throws at the runtime).
 *
 * @param error Why it is not watched.
 * @returns The warning text, for `process.emitWarning(text, "SocketLivenessWarning")`.
 */
export function notWatched(error: unknown): string {
  return `A connection is not watched: ${messageOf(error)}`;
}

/**
 * Both ends from the four fields Node and Bun sockets have, or `undefined` when one is missing.
 *
 * @param localAddress This side's address.
 * @param localPort This side's port.
 * @param remoteAddress The peer's address.
 * @param remotePort The peer's port.
 * @returns The endpoints, or `undefined`.
 */
export function endpointsOf(
  localAddress: string | undefined,
  localPort: number | undefined,
  remoteAddress: string | undefined,
  remotePort: number | undefined,
): Endpoints | undefined {
  if (
    typeof localAddress !== "string" || typeof remoteAddress !== "string" ||
    typeof localPort !== "number" || typeof remotePort !== "number"
  ) return undefined;
  return {
    local: { address: localAddress, port: localPort },
    remote: { address: remoteAddress, port: remotePort },
  };
}

/**
 * Whether a value is a {@linkcode LivenessMonitor}: an instance, or one of another copy of the
 * library (it has every member the adapters use).
 */
function isMonitor(value: unknown): value is AnyMonitor {
  if (value instanceof LivenessMonitor) return true;
  if (value === null || typeof value !== "object") return false;
  const m = value as Record<string, unknown>;
  const keepalive = m.keepalive as { enabled?: unknown } | null | undefined;
  return MONITOR_METHODS.every((name) => typeof m[name] === "function") &&
    typeof keepalive?.enabled === "boolean" && typeof m.policy === "object" && m.policy !== null &&
    typeof m.watchKernel === "boolean" && typeof m.isClosed === "boolean";
}

/**
 * The steps every adapter shares, bound to one runtime's socket objects. Each adapter builds one.
 *
 * @example The shape of an adapter
 * ```ts ignore
 * const kit = new AdapterKit<Socket>({ runtime: "node", argument: "socket", kind: "net.Socket", ... });
 * export function watchSocket(monitor, socket, options) {
 *   kit.checkRuntime();
 *   kit.checkMonitor(monitor);
 *   kit.checkSocket(socket);
 *   const { ffi } = kit.checkOptions(options ?? {}, ["ffi"]);
 *   const known = kit.owner(monitor, socket);
 *   if (known !== undefined) return known.id;
 *   const id = monitor.track(socket, driver);
 *   kit.register([socket], { monitor, id, report: kit.tune(monitor, socket, ffi !== false) });
 *   return id;
 * }
 * ```
 */
export class AdapterKit<S extends object> {
  /** The runtime's socket objects, as the adapter describes them. */
  readonly kind: SocketKind<S>;

  /** @param kind The runtime's socket objects. */
  constructor(kind: SocketKind<S>) {
    this.kind = kind;
  }

  /**
   * Throws unless this runs on the adapter's runtime.
   *
   * @throws {Error} Naming the runtime, and the adapter to use instead.
   */
  checkRuntime(): void {
    const { runtime } = this.kind;
    const hosts = this.kind.hosts ?? [runtime];
    const here = currentRuntime();
    if (here !== undefined && hosts.includes(here)) return;
    const names = hosts.map((host) => RUNTIME_TITLES[host]);
    const list = names.length === 1
      ? names[0]
      : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
    const only = `The ${ADAPTER_TITLES[runtime]} adapter runs only on ${list}`;
    throw new Error(
      here === undefined
        ? only
        : `${only}: on ${RUNTIME_TITLES[here]} use "socket-liveness/${here}"`,
    );
  }

  /**
   * Throws unless `monitor` is an open {@linkcode LivenessMonitor}.
   *
   * @param monitor The argument.
   * @throws {TypeError} When it is not a monitor, or is closed.
   */
  checkMonitor(monitor: unknown): void {
    if (!isMonitor(monitor)) {
      throw new TypeError(`Argument "monitor" must be a LivenessMonitor, got ${describe(monitor)}`);
    }
    if (monitor.isClosed) {
      throw new TypeError(`Argument "monitor" must be an open LivenessMonitor, got a closed one`);
    }
  }

  /**
   * Throws unless `value` is one of the runtime's sockets, or a watched object (Deno's
   * `WatchedConn`).
   *
   * @param value The argument.
   * @throws {TypeError} Naming the argument and what it must be.
   */
  checkSocket(value: unknown): void {
    if (!this.kind.is(value) && !isWatched(value)) {
      const { argument, kind } = this.kind;
      throw new TypeError(`Argument "${argument}" must be a ${kind}, got ${describe(value)}`);
    }
  }

  /**
   * Checks an options object: an object, with no key outside `keys` (when given: a typo such as
   * `hostnme` must not listen on every interface), and a boolean `ffi`.
   *
   * @param options The argument.
   * @param keys The keys it may have, or `undefined` to allow any (the runtime's own options).
   * @returns The options.
   * @throws {TypeError} Naming the argument or the option.
   */
  checkOptions<O extends WatchOptions>(options: O, keys?: readonly string[]): O {
    if (options === null || typeof options !== "object" || Array.isArray(options)) {
      throw new TypeError(`Argument "options" must be an object, got ${describe(options)}`);
    }
    if (keys !== undefined) knownKeys(options as Record<string, unknown>, "", keys);
    const ffi = options.ffi;
    if (ffi !== undefined && typeof ffi !== "boolean") {
      throw new TypeError(`Option "ffi" must be a boolean, got ${describe(ffi)}`);
    }
    return options;
  }

  /**
   * The ownership rule, checked before a socket is tracked: its watch when `monitor` watches it
   * already (watching again is a no-op), `undefined` when it is free to watch.
   *
   * @param monitor The monitor that wants the socket.
   * @param socket The socket (or a watched object).
   * @returns The socket's watch, or `undefined`.
   * @throws {TypeError} When another monitor watches it, or it is closed.
   */
  owner(monitor: AnyMonitor, socket: S): Watch | undefined {
    const known = watchAt(socket);
    if (known !== undefined) {
      if (known.monitor === monitor) return known;
      throw new TypeError(`Argument "${this.kind.argument}" is already watched by another monitor`);
    }
    if (!this.kind.isOpen(socket, monitor.keepalive)) {
      const { argument, kind } = this.kind;
      throw new TypeError(`Argument "${argument}" must be an open ${kind}, got a closed one`);
    }
    return undefined;
  }

  /**
   * Records a watch, under every object that stands for the socket.
   *
   * @param keys The runtime's socket, and any wrapper the adapter hands out.
   * @param watch The watch.
   * @returns The watch.
   */
  register<W extends Watch>(keys: readonly object[], watch: W): W {
    for (const key of keys) recordWatch(key, watch);
    return watch;
  }

  /**
   * The watch of a socket, for the adapter's own events: no checks.
   *
   * @param socket A socket.
   * @returns Its watch, or `undefined`.
   */
  watchOf(socket: object): Watch | undefined {
    return watchAt(socket);
  }

  /**
   * The watch of a socket, for the public lookups.
   *
   * @param value The argument.
   * @returns Its watch, or `undefined` when it is not watched.
   * @throws {TypeError} When it is not one of the runtime's sockets.
   */
  lookup(value: unknown): Watch | undefined {
    const watch = isWatched(value) ? watchAt(value) : undefined;
    if (watch === undefined) this.checkSocket(value);
    return watch;
  }

  /**
   * The monitor's state of a watched socket.
   *
   * @param value The argument.
   * @returns The state, or `undefined` when it is not watched or the monitor has forgotten it.
   * @throws {TypeError} When it is not one of the runtime's sockets.
   */
  state(value: unknown): ConnectionState | undefined {
    const watch = this.lookup(value);
    return watch === undefined ? undefined : watch.monitor.state(watch.id);
  }

  /**
   * The monitor's settings and policy, resolved once: the same plan for every call.
   *
   * @param monitor The monitor.
   * @returns Its plan.
   */
  plan(monitor: AnyMonitor): KeepalivePlan {
    let plan = plans.get(monitor);
    if (plan === undefined) {
      plan = new KeepalivePlan(monitor.keepalive, monitor.policy);
      plans.set(monitor, plan);
    }
    return plan;
  }

  /**
   * Tunes a socket's keepalive to `monitor.keepalive`: the runtime's own API, then, with `ffi`,
   * `setsockopt` on a `dup(2)` proven by both endpoints. Never throws: the report says what took
   * effect, and why the rest did not.
   *
   * @param monitor The monitor whose settings and policy apply.
   * @param socket The socket.
   * @param ffi Whether `setsockopt` may be used.
   * @returns The report.
   */
  tune(monitor: AnyMonitor, socket: S, ffi: boolean): TuningReport {
    const plan = this.plan(monitor);
    const endpoints = this.kind.endpoints(socket);
    if (endpoints === undefined) {
      // An IPC socket (keepalive does nothing there), or a peer already gone.
      return plan.tune({ unavailable: "not a connected TCP socket" });
    }
    const native = this.kind.native(socket, plan.settings);
    if (!ffi) return plan.tune({ native, unavailable: FFI_OFF });
    const loaded = this.kind.backend();
    if (!loaded.ok) return plan.tune({ native, unavailable: loaded.reason });
    const backend = loaded.backend;
    const fd = this.kind.fd(socket, backend);
    if (fd === undefined) {
      return plan.tune({ native, unavailable: "no file descriptor is known for this socket" });
    }
    // Tuned through a dup(2) proven by its endpoints: a number closed and reused meanwhile (by a
    // worker thread, by the runtime) is never touched.
    const prove = (held: number): string | undefined => notThisSocket(backend, held, endpoints);
    return plan.tune({ native, sockopt: { backend, fd, prove } });
  }

  /**
   * Tunes a listening socket once, so that every connection it accepts from now on inherits the
   * monitor's keepalive, and tunes one by one the connections it accepted before (found among the
   * process's descriptors by their local address). Tuning a listener again with its monitor
   * returns its report. Never throws for what the kernel or the runtime refuses: the report says so
   * and, when `explicit` (or when FFI works but the listener does not), the monitor warns.
   *
   * @param monitor The monitor whose settings apply.
   * @param listener The runtime's listener object, the key the accept path looks it up by.
   * @param where Where the listener is.
   * @param ffi Whether `setsockopt` may be used.
   * @param explicit Whether the application asked for it (`tuneServer`), not an adapter's accept path.
   * @param current A connection being accepted, which the caller tunes: counted, not tuned here.
   * @returns The listener's report.
   * @throws {TypeError} When `explicit` and another monitor tuned the listener.
   */
  tuneListener(
    monitor: AnyMonitor,
    listener: object,
    where: ListenerWhere,
    ffi: boolean,
    explicit: boolean,
    current?: S,
  ): ListenerReport {
    return tuneListenerOnce(this, monitor, listener, where, ffi, explicit, current);
  }

  /**
   * The report of a listener tuned by {@linkcode AdapterKit.tuneListener}.
   *
   * @param listener The runtime's listener object.
   * @returns Its report, or `undefined` when it was not tuned.
   */
  listenerReport(listener: object): ListenerReport | undefined {
    return tunedReport(listener);
  }

  /**
   * Gives a connection just accepted from `listener` its report: one derived from the listener's
   * when the listener was tuned by this monitor (no call into the kernel), a read-back a moment
   * later for the first and then one in `SAMPLE_EVERY` or more (`_inherit.ts`); otherwise it is
   * tuned on its own.
   *
   * @param monitor The monitor that tracks it.
   * @param socket The accepted socket.
   * @param listener The listener object it came from, when known.
   * @param ffi Whether FFI may be used for it.
   * @param watch Its watch: `report` is set here, and again if a sample finds otherwise.
   */
  accepted(
    monitor: AnyMonitor,
    socket: S,
    listener: object | undefined,
    ffi: boolean,
    watch: Watch,
  ): void {
    acceptedFrom(this, monitor, socket, listener, ffi, watch);
  }

  /**
   * With `watchKernel`, reads the socket's unanswered keepalive probes from `TCP_INFO` and hands
   * them to the monitor; a report derived from a listener and not read back yet is read back now.
   * Call it from the driver's `sample`, for an open socket.
   *
   * @param monitor The monitor.
   * @param id The socket's id.
   * @param socket The socket.
   * @param ffi Whether FFI may be used for it.
   */
  sample(monitor: AnyMonitor, id: ConnectionId, socket: S, ffi: boolean): void {
    if (!ffi || !monitor.watchKernel) return;
    const loaded = this.kind.backend();
    if (!loaded.ok) return;
    const watch = watchAt(socket);
    if (watch?.inherited !== undefined && watch.id === id) verify(this, socket, watch, false);
    const fd = this.kind.fd(socket, loaded.backend);
    const bytes = fd === undefined ? undefined : tcpInfoOf(loaded.backend, fd);
    if (bytes === undefined || bytes.length <= 3) return;
    // The window too, for a stall's time-out told only after the descriptor is closed (Bun).
    if (watch?.id === id && (monitor.keepalive.userTimeoutMs ?? 0) > 0) {
      watch.look = windowLookOf(bytes, performance.now(), watch.look);
    }
    monitor.keepaliveProbes(id, bytes[3]); // tcpi_probes
  }

  /**
   * The error to report for a socket that failed: the runtime's own, or, for a time-out whose peer
   * the kernel saw alive with its window closed, a stall's (reason `stalled`). The kernel's view is
   * read now, while the runtime still holds the descriptor; where it does not any more (Bun closes
   * it before it reports), the last look {@linkcode AdapterKit.sample} took decides, when it was
   * taken within a keepalive interval (and a second) of the end.
   *
   * @param monitor The monitor (its user timeout).
   * @param socket The socket.
   * @param error What the runtime reported.
   * @param ffi Whether FFI may be used for it.
   * @param held Whether the runtime still holds the descriptor.
   * @returns What to hand to `monitor.failed()`.
   */
  failure(monitor: AnyMonitor, socket: S, error: unknown, ffi: boolean, held: boolean): unknown {
    const userTimeoutMs = monitor.keepalive.userTimeoutMs ?? 0;
    if (userTimeoutMs <= 0 || !ffi || !isTimeout(error)) return error;
    if (!held) {
      const maxAgeMs = (monitor.keepalive.intervalMs ?? 75_000) + 1_000;
      const look = watchAt(socket)?.look;
      const stalled = lookStalled(look, performance.now(), userTimeoutMs, maxAgeMs);
      return deathError(error, stalled, userTimeoutMs);
    }
    const end = this.#kernelEnd(monitor, socket);
    return deathError(error, end?.stalled === true, userTimeoutMs);
  }

  /**
   * Whether the end of the stream a runtime reports is a time-out it lost (a write took the error
   * first): the kernel's view, read while the runtime still holds the descriptor, shows the
   * connection closed with probes or retransmissions unanswered, or its window stalled.
   *
   * @param monitor The monitor (its user timeout).
   * @param socket The socket.
   * @param ffi Whether FFI may be used for it.
   * @returns The error to report (`ETIMEDOUT`, or a stall's), or `undefined` for an end.
   */
  lostTimeout(monitor: AnyMonitor, socket: S, ffi: boolean): unknown {
    if (!ffi) return undefined;
    const end = this.#kernelEnd(monitor, socket);
    if (end === undefined) return undefined;
    return deathError(lostTimeout(), end.stalled, monitor.keepalive.userTimeoutMs ?? 0);
  }

  #kernelEnd(monitor: AnyMonitor, socket: S): ReturnType<typeof kernelEnd> {
    const loaded = this.kind.backend();
    if (!loaded.ok) return undefined;
    const fd = (this.kind.endFd ?? this.kind.fd)(socket, loaded.backend);
    const view = fd === undefined ? undefined : readEndView(loaded.backend, fd);
    return view === undefined ? undefined : kernelEnd(view, monitor.keepalive.userTimeoutMs ?? 0);
  }
}

function isWatched(value: unknown): value is object {
  return value !== null && typeof value === "object" && watchAt(value) !== undefined;
}

/** A socket's raw `TCP_INFO`, or `undefined` where it cannot be read. */
function tcpInfoOf(backend: SockoptBackend, fd: number): Uint8Array | undefined {
  try {
    return backend.tcpInfo(fd);
  } catch {
    return undefined;
  }
}

/** Whether an error is a time-out (`ETIMEDOUT`, Deno's `TimedOut`), in itself or its causes. */
function isTimeout(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== "object" || depth > 4) return false;
  const { code, name, errno, cause } = error as Record<string, unknown>;
  return code === "ETIMEDOUT" || name === "TimedOut" || errno === 110 || errno === -110 ||
    isTimeout(cause, depth + 1);
}
