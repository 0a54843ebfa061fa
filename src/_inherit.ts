/**
 * Listeners tuned once, and the reports of the connections they accept.
 *
 * {@linkcode AdapterKit.tuneListener} finds a listening socket (by the runtime's descriptor, or
 * among the process's descriptors by its address), proves it on a `dup(2)`, tunes it and reads it
 * back; connections accepted or queued before that are tuned one by one. Linux copies the
 * listener's keepalive options and `TCP_USER_TIMEOUT` to every connection it accepts afterwards,
 * so {@linkcode AdapterKit.accepted} gives such a connection a report derived from the listener's
 * without a call into the kernel, and reads back the first connection and then one in
 * {@linkcode SAMPLE_EVERY} (ever fewer while they agree, down to one in
 * {@linkcode SAMPLE_EVERY_MOST}) a moment after it was accepted (and any when `watchKernel` looks
 * at it): a connection found to hold other values gets a report of what it holds, the monitor
 * warns, and from then on each connection is tuned on its own.
 *
 * The kit's listener methods delegate here, each function taking the kit it works for; this module
 * imports only types from `_kit.ts`.
 *
 * @module
 */

import type { AdapterKit, AnyMonitor, Watch } from "./_kit.ts";
import { formatDuration } from "./duration.ts";
import {
  type ControlReport,
  CONTROLS,
  type KeepaliveControl,
  type KeepalivePlan,
  type ListenerReport,
  type TuningReport,
} from "./tune.ts";
import type { SockAddr, SockoptBackend } from "./_sockopt.ts";
import {
  acceptedBy,
  acceptQueue,
  chooseListener,
  type Endpoints,
  type FoundSocket,
  type ListenAddress,
  notThisListener,
  notThisSocket,
  type PortScan,
  sameAddress,
  scanPort,
} from "./_listener.ts";
import { messageOf } from "./_validate.ts";

/** Where a listener is, as its runtime tells it. */
export interface ListenerWhere {
  /** Its descriptor, where the runtime exposes it (Node's handle, Bun's listener). */
  readonly fd?: number;
  /** The address and port the runtime reports, or why it is no TCP listener. */
  readonly address: ListenAddress | string;
}

/**
 * Of the connections accepted from a tuned listener, the first is read back, then one in this many;
 * each sample that agrees doubles the period, up to {@linkcode SAMPLE_EVERY_MOST}.
 */
export const SAMPLE_EVERY = 64;
/** The longest period between samples. */
export const SAMPLE_EVERY_MOST = 4096;
// A sample that found its connection closed (each closed as soon as it was handled) is taken again
// this many connections later, twice as many after each such miss in a row (up to
// SAMPLE_EVERY_MOST): a server whose connections all close at once pays a timer per 4,096 of them,
// not per 8.
const RESAMPLE_AFTER = 8;
// What a read-back may spend looking for a descriptor the runtime does not expose (Deno): the first
// one, once, and each later one; beyond it the connection is left unread and the listener itself
// is read back instead.
const FIRST_SEARCH_CALLS = 512;
const SAMPLE_SEARCH_CALLS = 32;
// Follow-up scans for connections that were in a listener's accept queue when it was tuned.
const FOLLOW_UP_MS = [10, 40, 100, 250, 600];

/** A listener tuned by a monitor, and what the accept path needs of it. */
export interface ListenerTuning {
  /** The monitor whose settings it holds. */
  readonly monitor: AnyMonitor;
  /** The listener's report. */
  readonly report: ListenerReport;
  /** Whether the connections it accepts get a derived report: false once a sample disagreed. */
  inherit: boolean;
  /** Connections still to tune one by one as they are accepted: those queued before it was tuned. */
  individually: number;
  /** Connections to accept with a derived report before the next sample. */
  untilSample: number;
  /** Connections between samples now. */
  period: number;
  /**
   * The wait, in connections, after the last of the misses in a row (a sample that closed before it
   * was read); 0 after a read.
   */
  missed: number;
  /**
   * Connections given a derived report since the last sample that agreed, each with the kit that
   * accepted it (a listener may be shared: `watchServer` and `watchWebSocketServer` on one server).
   */
  unverified: [object, Watch, AdapterKit<object>][];
  /** Samples taken. */
  samples: number;
  /** Whether a sample's timer is set: one at a time. */
  sampling: boolean;
  /** Where the listening socket was found: re-proven on a `dup(2)` whenever it is read again. */
  readonly fd: number;
  /** The report its connections get until one is read back: made at the first. */
  derived?: TuningReport;
}

const LISTENERS = Symbol.for("socket-liveness.listeners");
const listeners: WeakMap<object, ListenerTuning> = ((globalThis as Record<symbol, unknown>)[
  LISTENERS
] ??= new WeakMap<object, ListenerTuning>()) as WeakMap<object, ListenerTuning>;

/**
 * {@linkcode AdapterKit.tuneListener} (its parameters and result are the kit's), for the sockets
 * of `kit`'s runtime.
 */
export function tuneListenerOnce<S extends object>(
  kit: AdapterKit<S>,
  monitor: AnyMonitor,
  listener: object,
  where: ListenerWhere,
  ffi: boolean,
  explicit: boolean,
  current?: S,
): ListenerReport {
  const known = listeners.get(listener);
  if (known !== undefined) {
    if (known.monitor !== monitor && explicit) {
      throw new TypeError(`Argument "server" is already tuned by another monitor`);
    }
    return known.report;
  }
  const plan = kit.plan(monitor);
  const address = where.address;
  const place = typeof address === "string"
    ? "A listener"
    : `The listener on ${address.address}:${address.port}`;
  // `tcp`: whether it is a TCP listener at all; `ffiWorks`: whether connections can be tuned.
  const fail = (why: string, tcp: boolean, ffiWorks: boolean): ListenerReport => {
    const report = listenerReport(plan.tune({ unavailable: why }), undefined, NO_EARLIER);
    if (!tcp) return report; // no TCP keepalive to miss
    if (explicit) {
      monitor.warn(
        `${place} is not tuned (${why}): the connections it accepts keep the system's keepalive unless each is tuned on its own, and a peer that vanishes goes unnoticed for ${
          formatDuration(report.bound.idleMs)
        } on a quiet connection, ${formatDuration(report.bound.busyMs)} with data in flight`,
      );
    } else if (ffiWorks) {
      monitor.warn(
        `${place} is not tuned (${why}): each connection it accepts is tuned on its own instead, with a few calls into the kernel each`,
      );
    }
    return report;
  };
  if (typeof address === "string") return fail(address, false, false);
  if (!ffi) return fail(FFI_OFF, true, false);
  const loaded = kit.kind.backend();
  if (!loaded.ok) return fail(loaded.reason, true, false);
  const backend = loaded.backend;

  let scan: PortScan | undefined;
  let fd = where.fd;
  if (fd === undefined) {
    scan = scanPort(backend, address.port, kit.kind.descriptors?.());
    const found = chooseListener(scan, address);
    if (typeof found === "string") return fail(found, true, true);
    fd = found.fd;
  }
  let tuned: { report: TuningReport; local: SockAddr; queued: number } | string;
  try {
    tuned = backend.withDuplicate(fd, (held) => {
      const other = notThisListener(backend, held, address);
      if (other !== undefined) return other;
      const report = plan.tune({ sockopt: { backend, fd: held } });
      return { report, local: backend.localAddress(held)!, queued: acceptQueue(backend, held) };
    });
  } catch (error) {
    tuned = `descriptor ${fd}: ${messageOf(error)}`;
  }
  if (typeof tuned === "string") return fail(tuned, true, true);

  // Connections it accepted before: they inherited nothing, so each is tuned on its own.
  scan ??= scanPort(backend, address.port, kit.kind.descriptors?.());
  const earlier = {
    accepted: 0,
    queued: tuned.queued,
    failed: 0,
    note: undefined as string | undefined,
  };
  const seen = new Set<string>();
  const skip = current === undefined ? undefined : kit.kind.endpoints(current);
  for (const connection of scan.connections) {
    if (!acceptedBy(tuned.local, connection.local)) continue;
    seen.add(tupleOf(connection));
    earlier.accepted++;
    if (skip !== undefined && sameEnds(connection, skip)) continue;
    const report = tuneFound(plan, backend, connection);
    if (unsupported(report) !== undefined) {
      earlier.failed++;
      earlier.note ??= unsupported(report);
    }
  }
  const report = listenerReport(tuned.report, tuned.local, earlier);
  const inherit = unsupported(tuned.report) === undefined;
  const state: ListenerTuning = {
    monitor,
    report,
    inherit,
    // Those queued now come first (and the one being accepted): those accepted before were
    // handed over already, and are tuned above.
    individually: earlier.queued + (current === undefined ? 0 : 1),
    untilSample: 0,
    period: SAMPLE_EVERY,
    missed: 0,
    unverified: [],
    samples: 0,
    sampling: false,
    fd,
  };
  listeners.set(listener, state);
  if (!inherit) {
    const instead = explicit
      ? "the connections it accepts keep the system's values for what was not set"
      : "each connection it accepts is tuned on its own instead";
    monitor.warn(`${place} is only partly tuned (${unsupported(tuned.report)}): ${instead}`);
  } else if (earlier.queued > 0) {
    followUp(kit, state, backend, tuned.local, seen, 0, 0);
  }
  return report;
}

/** {@linkcode AdapterKit.listenerReport}. */
export function tunedReport(listener: object): ListenerReport | undefined {
  return listeners.get(listener)?.report;
}

/**
 * {@linkcode AdapterKit.accepted} (its parameters are the kit's), for the sockets of `kit`'s
 * runtime. It runs for every connection accepted: one call from the kit, no closure but a sample's
 * timer (one at a time per listener).
 */
export function acceptedFrom<S extends object>(
  kit: AdapterKit<S>,
  monitor: AnyMonitor,
  socket: S,
  listener: object | undefined,
  ffi: boolean,
  watch: Watch,
): void {
  const state = listener === undefined ? undefined : listeners.get(listener);
  if (state === undefined || state.monitor !== monitor) {
    watch.report = kit.tune(monitor, socket, ffi);
    return;
  }
  if (!state.inherit || state.individually > 0) {
    // Queued before the listener was tuned (it inherited nothing), or inheriting is off.
    if (state.individually > 0) state.individually--;
    watch.report = fromListener(kit.tune(monitor, socket, ffi), state.report);
    return;
  }
  watch.report = state.derived ??= kit.plan(monitor).inherit(state.report, false);
  if (!ffi) return; // nothing can be read back
  watch.inherited = state;
  if (state.untilSample-- > 0) {
    if (state.unverified.length < SAMPLE_EVERY) {
      state.unverified.push([socket, watch, kit as AdapterKit<object>]);
    }
    return;
  }
  state.untilSample = state.period;
  if (state.sampling) return;
  state.sampling = true;
  // A moment later: after the application's own handling of the connection, which may change it.
  const timer = setTimeout(() => {
    state.sampling = false;
    verify(kit, socket, watch, true);
  }, 0);
  kit.kind.unref?.(timer);
}

/**
 * Reads back a connection whose report is derived from its listener's. Agreeing: its report says
 * so (`verified`). Differing: its report says what it holds, the monitor warns, the listener's
 * other connections since the last agreeing sample are read back too, and from now on each
 * connection is tuned on its own.
 *
 * @param kit The kit that accepted it.
 * @param socket The connection.
 * @param watch Its watch, whose report is derived.
 * @param sampled Whether it is the listener's sample (not a look `watchKernel` took).
 */
export function verify<S extends object>(
  kit: AdapterKit<S>,
  socket: S,
  watch: Watch,
  sampled: boolean,
): void {
  const state = watch.inherited;
  if (state === undefined || kit.watchOf(socket) !== watch) return;
  if (watch.monitor.state(watch.id) === undefined) {
    // Closed meanwhile (looking for it would cost a search for nothing): one some connections
    // later is, after more of them at each miss in a row.
    if (sampled) {
      state.missed = Math.min(Math.max(state.missed * 2, RESAMPLE_AFTER), SAMPLE_EVERY_MOST);
      state.untilSample = state.missed;
    }
    return;
  }
  if (sampled) state.missed = 0;
  const budget = state.samples++ === 0 ? FIRST_SEARCH_CALLS : SAMPLE_SEARCH_CALLS;
  const held = readBack(kit, socket, state, sampled ? budget : undefined);
  if (held === undefined) {
    // Not found within the budget (Deno): the derived report stays, and the listener is read.
    if (sampled) checkListener(kit, state);
    return;
  }
  watch.inherited = undefined;
  watch.report = held.report;
  if (held.differs === undefined) {
    if (sampled) {
      state.unverified.length = 0;
      state.period = Math.min(state.period * 2, SAMPLE_EVERY_MOST);
    }
    return;
  }
  const first = state.inherit;
  state.inherit = false;
  rereadUnverified(state);
  if (first) {
    const where = state.report.address;
    state.monitor.warn(
      `A connection accepted on ${where?.address}:${where?.port} holds ${held.differs}: something changed it after it was accepted (the runtime, or the application); from now on each connection this listener accepts is tuned on its own`,
    );
  }
}

/**
 * The listener itself read back, when no connection could be: values changed on it since it was
 * tuned (by other code) end inheriting, with a warning.
 */
function checkListener<S extends object>(kit: AdapterKit<S>, state: ListenerTuning): void {
  const loaded = kit.kind.backend();
  const address = state.report.address;
  if (!loaded.ok || address === undefined || !state.inherit) return;
  const backend = loaded.backend;
  const prove = (held: number): string | undefined => notThisListener(backend, held, address);
  const plan = kit.plan(state.monitor);
  const read = plan.tune({ sockopt: { backend, fd: state.fd, prove, readOnly: true } });
  if (read.unavailable !== undefined) return; // closed: nothing more is accepted from it
  const differs = differences(read, state.report, "what it was tuned to");
  if (differs === undefined) return;
  state.inherit = false;
  rereadUnverified(state);
  state.monitor.warn(
    `The listener on ${address.address}:${address.port} now holds ${differs}: something changed it after it was tuned; from now on each connection it accepts is tuned on its own`,
  );
}

/**
 * Once inheriting has ended: the connections given a derived report since the last agreeing
 * sample are read back, those that can be (within the search budget where descriptors must be
 * searched for), and their reports say what they hold.
 */
function rereadUnverified(state: ListenerTuning): void {
  for (const [other, otherWatch, kit] of state.unverified.splice(0)) {
    if (otherWatch.inherited !== state || kit.watchOf(other) !== otherWatch) continue;
    const read = readBack(kit, other, state, SAMPLE_SEARCH_CALLS);
    if (read === undefined) continue;
    otherWatch.inherited = undefined;
    otherWatch.report = read.report;
  }
}

/** What a connection holds, read back (nothing set), against its listener's values. */
function readBack<S extends object>(
  kit: AdapterKit<S>,
  socket: S,
  state: ListenerTuning,
  budget: number | undefined,
): { report: TuningReport; differs: string | undefined } | undefined {
  const loaded = kit.kind.backend();
  const endpoints = kit.kind.endpoints(socket);
  if (!loaded.ok || endpoints === undefined) return undefined;
  const backend = loaded.backend;
  const fd = kit.kind.fd(socket, backend, budget);
  if (fd === undefined) return undefined;
  const plan = kit.plan(state.monitor);
  const prove = (held: number): string | undefined => notThisSocket(backend, held, endpoints);
  const read = plan.tune({ sockopt: { backend, fd, prove, readOnly: true } });
  if (read.unavailable !== undefined) return undefined;
  const listener = state.report;
  const differs = differences(read, listener, "the listener's");
  if (differs === undefined) return { report: plan.inherit(listener, true), differs: undefined };
  // What it holds: the values it shares with the listener came from there.
  const controls = {} as Record<KeepaliveControl, ControlReport>;
  for (const control of CONTROLS) {
    const mine = read[control];
    const same = mine.value === listener[control].value && listener[control].via !== undefined;
    controls[control] = same ? Object.freeze({ ...mine, via: "listener" }) : mine;
  }
  return { report: Object.freeze({ ...read, ...controls }), differs };
}

/**
 * Connections that were in the listener's accept queue when it was tuned, accepted by the runtime
 * without the adapter seeing them (`Deno.serve`, `Bun.serve`): found by their values, which are
 * not the listener's, on a few scans in the following second, and tuned.
 */
function followUp<S extends object>(
  kit: AdapterKit<S>,
  state: ListenerTuning,
  backend: SockoptBackend,
  local: SockAddr,
  seen: Set<string>,
  found: number,
  attempt: number,
): void {
  if (attempt >= FOLLOW_UP_MS.length || state.monitor.isClosed) return;
  const timer = setTimeout(() => {
    let more = found;
    const plan = kit.plan(state.monitor);
    const scan = scanPort(backend, local.port, kit.kind.descriptors?.());
    for (const connection of scan.connections) {
      const tuple = tupleOf(connection);
      if (!acceptedBy(local, connection.local) || seen.has(tuple)) continue;
      seen.add(tuple);
      const report = tuneFound(plan, backend, connection);
      if (CONTROLS.some((control) => report[control].via === "setsockopt")) more++;
    }
    if (more < state.report.earlier.queued) {
      followUp(kit, state, backend, local, seen, more, attempt + 1);
    }
  }, FOLLOW_UP_MS[attempt]);
  kit.kind.unref?.(timer);
}

const NO_EARLIER = Object.freeze({ accepted: 0, queued: 0, failed: 0 });

/** A listener's report: its tuning, where it is, and what it had accepted or queued before. */
function listenerReport(
  report: TuningReport,
  address: SockAddr | undefined,
  earlier: { accepted: number; queued: number; failed: number; note?: string },
): ListenerReport {
  const { note, ...counts } = earlier;
  return Object.freeze({
    ...report,
    address: address === undefined ? undefined : Object.freeze({ ...address }),
    earlier: Object.freeze(note === undefined ? counts : { ...counts, note }),
  });
}

// Reports of connections tuned on their own, as seen against their listener's: by both.
const againstListener = new WeakMap<TuningReport, WeakMap<TuningReport, TuningReport>>();

/**
 * A connection accepted from a tuned listener and tuned on its own: a value it held already, set by
 * no one here, is the listener's (`via: "listener"`).
 */
function fromListener(report: TuningReport, listener: ListenerReport): TuningReport {
  let known = againstListener.get(listener);
  if (known === undefined) {
    known = new WeakMap();
    againstListener.set(listener, known);
  }
  let derived = known.get(report);
  if (derived !== undefined) return derived;
  const controls = {} as Record<KeepaliveControl, ControlReport>;
  let changed = false;
  for (const control of CONTROLS) {
    const mine = report[control];
    const theirs = listener[control];
    const inherited = mine.via === undefined && mine.value !== undefined &&
      (mine.status === "applied" || mine.status === "adjusted") &&
      mine.value === theirs.value && theirs.via !== undefined;
    controls[control] = inherited ? Object.freeze({ ...mine, via: "listener" }) : mine;
    changed ||= inherited;
  }
  derived = changed ? Object.freeze({ ...report, ...controls }) : report;
  known.set(report, derived);
  return derived;
}

/** Tunes a connection found by a scan, on a `dup(2)` proven by both its endpoints. */
function tuneFound(plan: KeepalivePlan, backend: SockoptBackend, found: FoundSocket): TuningReport {
  const endpoints = { local: found.local, remote: found.remote! };
  const prove = (held: number): string | undefined => notThisSocket(backend, held, endpoints);
  return plan.tune({ sockopt: { backend, fd: found.fd, prove } });
}

function sameEnds(found: FoundSocket, ends: Endpoints): boolean {
  return found.local.port === ends.local.port && found.remote?.port === ends.remote.port &&
    sameAddress(found.local.address, ends.local.address) &&
    sameAddress(found.remote.address, ends.remote.address);
}

function tupleOf(found: FoundSocket): string {
  return `${found.local.address} ${found.local.port} ${found.remote?.address} ${found.remote?.port}`;
}

/** The asked controls whose values differ between a read-back and a reference, or `undefined`. */
function differences(
  read: TuningReport,
  reference: TuningReport,
  theirs: string,
): string | undefined {
  const differs: string[] = [];
  for (const control of CONTROLS) {
    const mine = read[control];
    const other = reference[control];
    if (other.asked !== undefined && mine.value !== other.value) {
      differs.push(
        `${control} ${showValue(control, mine)}, not ${theirs} ${showValue(control, other)}`,
      );
    }
  }
  return differs.length === 0 ? undefined : differs.join(", ");
}

/** Why a report is not fully applied (its first unsupported control's note), or `undefined`. */
function unsupported(report: TuningReport): string | undefined {
  for (const control of CONTROLS) {
    if (report[control].status === "unsupported") return report[control].note ?? control;
  }
  return undefined;
}

function showValue(control: KeepaliveControl, report: ControlReport): string {
  const value = report.value;
  if (value === undefined) return "unknown";
  if (typeof value === "boolean") return value ? "on" : "off";
  return control === "count" ? String(value) : `${value} ms`;
}

/** Why `setsockopt` is not used, when the `ffi` option is `false`. */
export const FFI_OFF = "setsockopt is off (the ffi option is false)";
