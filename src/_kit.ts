/**
 * The adapter kit: every step the Node, Deno and Bun adapters share, written once, so that an
 * adapter is the mapping of its runtime's events onto monitor inputs and little else (crossws's
 * `adapterUtils` is the model).
 *
 * - **One ownership rule.** A socket is watched by one monitor for its life. Before anything is
 *   opened, tracked or attached, {@linkcode AdapterKit.checkMonitor} refuses what is not an open
 *   {@linkcode LivenessMonitor} and {@linkcode AdapterKit.owner} refuses a socket that is closed or
 *   watched by another monitor; watching a socket again with its own monitor returns the watch it
 *   has. Watches are kept in one registry per process (under a `Symbol.for` key on `globalThis`),
 *   so two copies of the library (an npm and a JSR install side by side) agree.
 * - **One tuning path.** {@linkcode AdapterKit.tune}: the runtime's own keepalive API, then
 *   `setsockopt` on a `dup(2)` of the descriptor proven to be the socket's by both endpoints
 *   (one address comparison, {@linkcode sameAddress}), each missing step named in the report.
 * - **One kernel sampler.** {@linkcode AdapterKit.sample} reads unanswered keepalive probes from
 *   `TCP_INFO` for monitors with `watchKernel`.
 * - **One wording** for argument and runtime errors.
 *
 * Runtime-neutral: what differs between runtimes comes in as a {@linkcode SocketKind}, a few small
 * functions each adapter declares once.
 *
 * @module
 */

import { type ConnectionId, type ConnectionState, LivenessMonitor } from "./monitor.ts";
import type { KeepaliveSettings } from "./keepalive.ts";
import { type NativeKeepalive, tuneKeepalive, type TuningReport } from "./tune.ts";
import {
  type BackendResult,
  keepaliveProbesOf,
  type SockAddr,
  type SockoptBackend,
} from "./_sockopt.ts";
import { describe, knownKeys } from "./_validate.ts";

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
}

/** One end of a connection as the runtime reports it. */
export interface Endpoint {
  /** The address text, in whatever form the runtime prints it. */
  readonly address: string;
  /** The port. */
  readonly port: number;
}

/** Both ends of a connection as the runtime reports them. */
export interface Endpoints {
  /** This side. */
  readonly local: Endpoint;
  /** The peer. */
  readonly remote: Endpoint;
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
  /** The socket's descriptor, or `undefined` when it cannot be known. */
  fd(socket: S, backend: SockoptBackend): number | undefined;
  /** Both ends, or `undefined` for a socket that is not connected TCP (IPC, or the peer is gone). */
  endpoints(socket: S): Endpoints | undefined;
}

// Process-wide, so that two copies of the library see each other's watches.
const REGISTRY = Symbol.for("socket-liveness.watches");
const watches: WeakMap<object, Watch> =
  ((globalThis as Record<symbol, unknown>)[REGISTRY] ??= new WeakMap<object, Watch>()) as WeakMap<
    object,
    Watch
  >;

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
 * The message of an error: its `message`, or the value as text.
 *
 * @param error What was thrown.
 * @returns The text.
 */
export function messageOf(error: unknown): string {
  return (error as Error | undefined)?.message ?? String(error);
}

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
 * Whether two address texts name the same address, as runtimes and `getsockname` print them:
 * case, brackets and a zone id are ignored, and `::ffff:1.2.3.4` is `1.2.3.4`.
 *
 * @param a One address.
 * @param b The other.
 * @returns Whether they are the same.
 */
export function sameAddress(a: string, b: string): boolean {
  return plainAddress(a) === plainAddress(b);
}

/**
 * An address in the one form {@linkcode sameAddress} compares.
 *
 * @param text An address as a runtime or `getsockname` prints it.
 * @returns Lower case, without brackets or zone, IPv4-mapped IPv6 as IPv4.
 */
export function plainAddress(text: string): string {
  let address = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = address.indexOf("%");
  if (zone >= 0) address = address.slice(0, zone);
  address = address.toLowerCase();
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
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
 * Why descriptor `fd` is not the socket whose ends are `endpoints`, or `undefined` when
 * `getsockname` and `getpeername` both match.
 *
 * @param backend The socket-option backend.
 * @param fd The descriptor (a `dup(2)` taken for tuning).
 * @param endpoints The socket's ends as its runtime reports them.
 * @returns The reason, or `undefined`.
 */
export function notThisSocket(
  backend: SockoptBackend,
  fd: number,
  endpoints: Endpoints,
): string | undefined {
  const local = backend.localAddress(fd);
  const remote = backend.remoteAddress(fd);
  if (sameEndpoint(local, endpoints.local) && sameEndpoint(remote, endpoints.remote)) {
    return undefined;
  }
  return `descriptor ${fd} is ${show(local)} -> ${show(remote)}, not this socket's ${
    show(endpoints.local)
  } -> ${show(endpoints.remote)}`;
}

function sameEndpoint(kernel: SockAddr | undefined, end: Endpoint): boolean {
  return kernel !== undefined && kernel.port === end.port &&
    sameAddress(kernel.address, end.address);
}

function show(end: Endpoint | undefined): string {
  return end === undefined ? "?" : `${end.address}:${end.port}`;
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
    const here = currentRuntime();
    if (here === runtime) return;
    const only = `The ${ADAPTER_TITLES[runtime]} adapter runs only on ${RUNTIME_TITLES[runtime]}`;
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
    const known = watches.get(socket);
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
    for (const key of keys) watches.set(key, watch);
    return watch;
  }

  /**
   * The watch of a socket, for the adapter's own events: no checks.
   *
   * @param socket A socket.
   * @returns Its watch, or `undefined`.
   */
  watchOf(socket: object): Watch | undefined {
    return watches.get(socket);
  }

  /**
   * The watch of a socket, for the public lookups.
   *
   * @param value The argument.
   * @returns Its watch, or `undefined` when it is not watched.
   * @throws {TypeError} When it is not one of the runtime's sockets.
   */
  lookup(value: unknown): Watch | undefined {
    const watch = isWatched(value) ? watches.get(value) : undefined;
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
    const settings = monitor.keepalive;
    const policy = monitor.policy;
    const endpoints = this.kind.endpoints(socket);
    if (endpoints === undefined) {
      // An IPC socket (keepalive does nothing there), or a peer already gone.
      return tuneKeepalive(settings, { unavailable: "not a connected TCP socket" }, policy);
    }
    const native = this.kind.native(socket, settings);
    const without = (unavailable: string): TuningReport =>
      tuneKeepalive(settings, { native, unavailable }, policy);
    if (!ffi) return without("setsockopt is off (the ffi option is false)");
    const loaded = this.kind.backend();
    if (!loaded.ok) return without(loaded.reason);
    const backend = loaded.backend;
    const fd = this.kind.fd(socket, backend);
    if (fd === undefined) return without("no file descriptor is known for this socket");
    // Tuned through a dup(2) proven by its endpoints: a number closed and reused meanwhile (by a
    // worker thread, by the runtime) is never touched.
    const prove = (held: number): string | undefined => notThisSocket(backend, held, endpoints);
    return tuneKeepalive(settings, { native, sockopt: { backend, fd, prove } }, policy);
  }

  /**
   * With `watchKernel`, reads the socket's unanswered keepalive probes from `TCP_INFO` and hands
   * them to the monitor. Call it from the driver's `sample`, for an open socket.
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
    const fd = this.kind.fd(socket, loaded.backend);
    const probes = fd === undefined ? undefined : keepaliveProbesOf(loaded.backend, fd);
    if (probes !== undefined) monitor.keepaliveProbes(id, probes);
  }
}

function isWatched(value: unknown): value is object {
  return value !== null && typeof value === "object" && watches.has(value);
}
