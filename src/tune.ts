/**
 * Applies keepalive settings to one socket, native API first and `setsockopt` for the rest, and
 * reports honestly what took effect. Runtime-neutral: adapters hand in the runtime's own setter
 * and, where they have one, a socket-option backend with a descriptor proven to be the socket's.
 *
 * A {@linkcode KeepalivePlan} resolves one monitor's settings and policy once: sockets tuned alike
 * share one frozen report (its detection bound computed once), and a connection accepted from a
 * tuned listener gets a report derived from the listener's, without a call into the kernel.
 *
 * @module
 */

import { type BoundOptions, type DetectionBound, detectionBound } from "./bound.ts";
import { formatDuration } from "./duration.ts";
import { type KeepaliveSettings, msSpec } from "./keepalive.ts";
import { platformOptions, type SupportedOption } from "./_platform.ts";
import type { SockAddr, SockoptBackend } from "./_sockopt.ts";
import { describe } from "./_validate.ts";

/** The five controls a report covers. */
export type KeepaliveControl = "keepalive" | "idle" | "interval" | "count" | "userTimeout";

/** Every {@linkcode KeepaliveControl}, in the order a report lists them (internal: not in mod.ts). */
export const CONTROLS: readonly KeepaliveControl[] = [
  "keepalive",
  "idle",
  "interval",
  "count",
  "userTimeout",
];

/**
 * What happened to one control:
 * - `applied`: set as asked (`value` read back with `getsockopt` when `verified`);
 * - `adjusted`: set, but the kernel or runtime holds another value than asked (`note` says why);
 * - `unsupported`: asked, but could not be set here (`note` says why);
 * - `system`: not asked; the system's value stays (`value` when it could be read).
 */
export type ControlStatus = "applied" | "adjusted" | "unsupported" | "system";

/** One control's outcome. Times are in milliseconds, `keepalive` is a boolean. */
export interface ControlReport {
  /** The outcome. */
  readonly status: ControlStatus;
  /** What was asked (`undefined`: nothing, the system's value stays). */
  readonly asked: number | boolean | undefined;
  /** What is in force, when known. */
  readonly value: number | boolean | undefined;
  /** Whether `value` was read back from the kernel. */
  readonly verified: boolean;
  /**
   * Which path set it: the runtime's own API, `setsockopt` on this socket, or `listener`: set on
   * the listening socket this connection was accepted from, whose options Linux copies to every
   * connection it accepts (`verified` then says whether this connection was read back too).
   */
  readonly via: "native" | "setsockopt" | "listener" | undefined;
  /** Why it is adjusted or unsupported. */
  readonly note?: string;
}

/** The honest account of what tuning one socket achieved. */
export interface TuningReport {
  /** SO_KEEPALIVE. */
  readonly keepalive: ControlReport;
  /** TCP_KEEPIDLE. */
  readonly idle: ControlReport;
  /** TCP_KEEPINTVL. */
  readonly interval: ControlReport;
  /** TCP_KEEPCNT. */
  readonly count: ControlReport;
  /** TCP_USER_TIMEOUT. */
  readonly userTimeout: ControlReport;
  /** The `setsockopt` backend used (`"koffi"`, `"deno-ffi"`, `"bun-ffi"`), if any. */
  readonly backend: string | undefined;
  /** Why `setsockopt` was not available, if it was not. */
  readonly unavailable: string | undefined;
  /** Worst-case detection times from what is in force (unknown values count as Linux defaults). */
  readonly bound: DetectionBound;
}

/**
 * What tuning a listening socket achieved (`tuneServer`): its own report — Linux copies these
 * values to every connection it accepts from then on — plus where it is and what it had accepted or
 * queued before, which inherited nothing.
 */
export interface ListenerReport extends TuningReport {
  /** The listening socket's address as the kernel reports it; `undefined` when none was tuned. */
  readonly address: SockAddr | undefined;
  /** The connections that were there before it was tuned. */
  readonly earlier: EarlierConnections;
}

/** Connections a listener had accepted or queued before it was tuned: each is tuned on its own. */
export interface EarlierConnections {
  /**
   * Connections it had accepted: found among the process's descriptors by their local address
   * and tuned there and then.
   */
  readonly accepted: number;
  /**
   * Connections waiting in its accept queue (established before, so with the old values): tuned
   * one by one as the adapter accepts them, or found by a few scans in the second that follows.
   */
  readonly queued: number;
  /** Of those accepted, how many could not be tuned. */
  readonly failed: number;
  /** Why the first of them could not be tuned. */
  readonly note?: string;
}

/** The runtime's own keepalive API for one socket, as an adapter describes it. */
export interface NativeKeepalive {
  /** Whether the runtime's API sets the idle time (in whole seconds). */
  readonly idle: boolean;
  /** Whether it sets the probe interval. */
  readonly interval: boolean;
  /** Whether it sets the probe count. */
  readonly count: boolean;
  /**
   * Calls the runtime's API. Values it cannot set are `undefined`; times are whole seconds in ms.
   */
  set(
    enable: boolean,
    idleMs: number | undefined,
    intervalMs: number | undefined,
    count: number | undefined,
  ): void;
  /** What the runtime itself sets that was not asked for, e.g. "Node 20 fixes the interval at 1 s". */
  readonly sideEffects?: Partial<Record<"interval" | "count", number>>;
}

/** What an adapter knows about one socket. */
export interface TuneTarget {
  /** The runtime's own keepalive API, where it has one. */
  readonly native?: NativeKeepalive;
  /**
   * A `setsockopt` backend and the socket's descriptor. With `prove` (which says why a descriptor is
   * not this socket's, or `undefined` when it is), a `dup(2)` of `fd` is proven and tuned instead of
   * the number: a descriptor closed and reused by another socket meanwhile is never touched.
   * Without `prove` the caller vouches for `fd`.
   */
  readonly sockopt?: {
    readonly backend: SockoptBackend;
    readonly fd: number;
    readonly prove?: (fd: number) => string | undefined;
    /** Read back only: nothing is set, what the kernel holds is reported against what was asked. */
    readonly readOnly?: boolean;
  };
  /** Why there is no `setsockopt` path (e.g. "Deno needs --allow-ffi"). */
  readonly unavailable?: string;
}

const LINUX = platformOptions("linux")!;
const OPTIONS: Record<KeepaliveControl, SupportedOption> = {
  keepalive: LINUX.keepAlive as SupportedOption,
  idle: LINUX.keepIdle as SupportedOption,
  interval: LINUX.keepInterval as SupportedOption,
  count: LINUX.keepCount as SupportedOption,
  userTimeout: LINUX.userTimeout as SupportedOption,
};

/**
 * Applies keepalive settings to one socket and reports what took effect.
 *
 * The runtime's API goes first, for what it can set; then, where a backend is at hand, every
 * control is read back with `getsockopt` and whatever differs from what was asked is set with
 * `setsockopt` and read back again. Without a backend, what only `setsockopt` could set is
 * reported `unsupported`, with the reason. Never throws for a socket that refuses an option: the
 * report says so.
 *
 * @param settings Validated settings (e.g. `monitor.keepalive`).
 * @param target The runtime's API and the socket-option path for this socket.
 * @param policy Application deadlines in force, for the detection bound (e.g. `monitor.policy`).
 * @returns The report.
 *
 * @example Report for a runtime that can only switch keepalive on
 * ```ts
 * import { resolveKeepalive } from "./keepalive.ts";
 * import { tuneKeepalive } from "./tune.ts";
 * import assert from "node:assert/strict";
 *
 * const report = tuneKeepalive(resolveKeepalive("2s:1s:3"), {
 *   native: { idle: false, interval: false, count: false, set() {} },
 *   unavailable: "Deno needs --allow-ffi",
 * });
 * assert.equal(report.keepalive.status, "applied");
 * assert.equal(report.idle.status, "unsupported");
 * assert.equal(report.idle.note, "Deno needs --allow-ffi");
 * ```
 */
export function tuneKeepalive(
  settings: KeepaliveSettings,
  target: TuneTarget,
  policy: Pick<BoundOptions, "heartbeat" | "idleTimeout" | "resolution"> = {},
): TuningReport {
  return new KeepalivePlan(settings, policy).tune(target);
}

/** Reports kept per plan, by outcome; more outcomes than this means notes that differ per socket. */
const MAX_OUTCOMES = 64;

/**
 * One monitor's keepalive settings and policy, resolved once, applied to many sockets: what to ask
 * of the kernel is worked out here, and sockets with the same outcome share one frozen report whose
 * detection bound is computed once. {@linkcode tuneKeepalive} is a plan used once.
 *
 * @example Tune many sockets alike
 * ```ts
 * import { resolveKeepalive } from "./keepalive.ts";
 * import { KeepalivePlan } from "./tune.ts";
 * import assert from "node:assert/strict";
 *
 * const plan = new KeepalivePlan(resolveKeepalive("30s:5s:4"));
 * const target = { unavailable: "no FFI here" };
 * assert.equal(plan.tune(target), plan.tune(target)); // one report for one outcome
 * ```
 */
export class KeepalivePlan {
  /** The settings applied. */
  readonly settings: KeepaliveSettings;
  /** The application deadlines the detection bound takes into account. */
  readonly policy: Pick<BoundOptions, "heartbeat" | "idleTimeout" | "resolution">;
  #asked: Record<KeepaliveControl, number | boolean | undefined>;
  #reports = new Map<string, TuningReport>();
  #inherited = new WeakMap<TuningReport, [TuningReport | undefined, TuningReport | undefined]>();

  /**
   * Resolves what to ask of the kernel, once.
   *
   * @param settings Validated settings (e.g. `monitor.keepalive`).
   * @param policy Application deadlines in force, for the detection bound (e.g. `monitor.policy`).
   * @throws {TypeError} When `settings` are not settings from `resolveKeepalive()`.
   */
  constructor(
    settings: KeepaliveSettings,
    policy: Pick<BoundOptions, "heartbeat" | "idleTimeout" | "resolution"> = {},
  ) {
    if (
      settings === null || typeof settings !== "object" || typeof settings.enabled !== "boolean"
    ) {
      throw new TypeError(
        `Argument "settings" must be keepalive settings from resolveKeepalive(), got ${
          describe(settings)
        }`,
      );
    }
    this.settings = settings;
    this.policy = policy;
    this.#asked = {
      keepalive: settings.enabled,
      idle: settings.enabled ? settings.idleMs : undefined,
      interval: settings.enabled ? settings.intervalMs : undefined,
      count: settings.enabled ? settings.count : undefined,
      userTimeout: settings.userTimeoutMs,
    };
  }

  /**
   * Applies the settings to one socket, as {@linkcode tuneKeepalive} describes.
   *
   * @param target The runtime's API and the socket-option path for this socket.
   * @returns The report: the same frozen object for every socket with the same outcome.
   */
  tune(target: TuneTarget): TuningReport {
    if (target === null || typeof target !== "object") {
      throw new TypeError(`Argument "target" must be an object, got ${describe(target)}`);
    }
    if (target.sockopt?.prove !== undefined) {
      const { backend, fd, prove, readOnly } = target.sockopt;
      const without = (why: string) => this.tune({ native: target.native, unavailable: why });
      try {
        return backend.withDuplicate(fd, (held) => {
          const other = prove(held);
          if (other !== undefined) return without(other);
          return this.tune({ native: target.native, sockopt: { backend, fd: held, readOnly } });
        });
      } catch (error) {
        return without(`descriptor ${fd}: ${(error as Error)?.message ?? error}`);
      }
    }
    const settings = this.settings;
    const asked = this.#asked;
    const native = target.native;
    const byNative = new Set<KeepaliveControl>();
    const notes: Partial<Record<KeepaliveControl, string>> = {};
    if (native !== undefined) {
      const idle = native.idle ? settings.idleMs : undefined;
      const interval = native.interval ? settings.intervalMs : undefined;
      const count = native.count ? settings.count : undefined;
      try {
        native.set(settings.enabled, idle, interval, count);
        byNative.add("keepalive");
        if (settings.enabled && idle !== undefined) byNative.add("idle");
        if (settings.enabled && interval !== undefined) byNative.add("interval");
        if (settings.enabled && count !== undefined) byNative.add("count");
      } catch (error) {
        notes.keepalive = `the runtime's setKeepAlive failed: ${
          (error as Error)?.message ?? error
        }`;
      }
    }

    const sockopt = target.sockopt;
    // Without setsockopt the outcome follows from what the runtime set: known after the first.
    let quick: string | undefined;
    if (sockopt === undefined) {
      const side = native?.sideEffects;
      quick = `${target.unavailable}\u0000${byNative.size}\u0000${byNative.has("idle")}${
        byNative.has("interval")
      }${byNative.has("count")}\u0000${side?.interval}\u0000${side?.count}\u0000${notes.keepalive}`;
      const known = this.#reports.get(quick);
      if (known !== undefined) return known;
    }
    const reports = {} as Record<KeepaliveControl, ControlReport>;
    if (sockopt !== undefined) {
      const { backend, fd } = sockopt;
      const read = (control: KeepaliveControl): number | boolean | undefined => {
        try {
          return fromKernel(
            control,
            backend.getInt(fd, OPTIONS[control].level, OPTIONS[control].option),
          );
        } catch (error) {
          notes[control] ??= (error as Error).message;
          return undefined;
        }
      };
      const set = (control: KeepaliveControl, want: number | boolean): boolean => {
        try {
          const option = OPTIONS[control];
          backend.setInt(fd, option.level, option.option, toKernel(control, want));
          return true;
        } catch (error) {
          notes[control] ??= (error as Error).message;
          return false;
        }
      };
      // What the runtime could not set is set without asking first (a fresh socket holds the
      // system's values), then every control is read back once: one call each, two where set.
      const settable = sockopt.readOnly !== true;
      for (const control of CONTROLS) {
        const want = asked[control];
        let via: ControlReport["via"] = byNative.has(control) ? "native" : undefined;
        let tried = false;
        // Left by the runtime along with the idle time (Node's setKeepAlive fixes interval and
        // count): read first, set only if it differs.
        const leftByRuntime = byNative.has("idle") && want !== undefined &&
          (control === "interval" || control === "count") &&
          native?.sideEffects?.[control] === want;
        if (want !== undefined && via === undefined && !leftByRuntime && settable) {
          tried = true;
          if (set(control, want)) via = "setsockopt";
        }
        let value = read(control);
        if (want !== undefined && value !== want && !tried && settable) {
          // The runtime's own call did not take (or the value read back differs): set it here.
          if (set(control, want)) via = "setsockopt";
          value = read(control);
        }
        reports[control] = outcome(control, want, value, value !== undefined, via, notes[control]);
      }
    } else {
      const why = target.unavailable ?? "no setsockopt path for this socket";
      for (const control of CONTROLS) {
        const want = asked[control];
        const side = control === "interval" || control === "count"
          ? native?.sideEffects?.[control]
          : undefined;
        if (byNative.has(control)) {
          reports[control] = outcome(control, want, want, false, "native", undefined);
        } else if (want === undefined) {
          reports[control] = outcome(control, undefined, side, false, undefined, undefined);
        } else if (side !== undefined && byNative.has("idle")) {
          // The runtime fixed this value along with the idle time: as asked, or not.
          reports[control] = outcome(
            control,
            want,
            side,
            false,
            "native",
            side === want ? undefined : `the runtime fixes it at ${show(control, side)}; ${why}`,
          );
        } else {
          reports[control] = {
            status: "unsupported",
            asked: want,
            value: undefined,
            verified: false,
            via: undefined,
            note: notes[control] ?? why,
          };
        }
      }
    }
    roundedByUs(settings, reports);

    const backendName = sockopt?.backend.name;
    const unavailable = sockopt === undefined ? target.unavailable : undefined;
    const side = native?.sideEffects;
    let key = `${backendName}\u0000${unavailable}\u0000${side?.interval}\u0000${side?.count}`;
    for (const control of CONTROLS) {
      const r = reports[control];
      key += `\u0000${r.status}\u0001${r.value}\u0001${r.verified}\u0001${r.via}\u0001${r.note}`;
    }
    let report = this.#reports.get(key);
    if (report === undefined) {
      report = this.#report(reports, backendName, unavailable, side);
      if (this.#reports.size >= MAX_OUTCOMES) this.#reports.clear();
      this.#reports.set(key, report);
    }
    if (quick !== undefined) this.#reports.set(quick, report);
    return report;
  }

  /**
   * The report of a connection accepted from a listener this plan tuned: the listener's values,
   * each marked `via: "listener"` (Linux copies a listening socket's keepalive options to every
   * connection it accepts). No call into the kernel: `verified` says whether this connection was
   * read back (by a sample) and found to hold them.
   *
   * @param listener The listener's report.
   * @param verified Whether this connection's values were read back and equal the listener's.
   * @returns The derived report: one frozen object per listener report and `verified`.
   */
  inherit(listener: TuningReport, verified: boolean): TuningReport {
    let pair = this.#inherited.get(listener);
    if (pair === undefined) {
      pair = [undefined, undefined];
      this.#inherited.set(listener, pair);
    }
    const at = verified ? 1 : 0;
    const known = pair[at];
    if (known !== undefined) return known;
    const derived = {} as Record<KeepaliveControl, ControlReport>;
    for (const control of CONTROLS) {
      const from = listener[control];
      const set = from.status === "applied" || from.status === "adjusted";
      derived[control] = Object.freeze({
        ...from,
        verified: from.verified && verified,
        via: set ? "listener" : from.via,
      });
    }
    // Only a TuningReport's own fields: a listener's report may carry more.
    const { backend, unavailable, bound } = listener;
    const report = Object.freeze({ ...derived, backend, unavailable, bound });
    pair[at] = report;
    return report;
  }

  #report(
    reports: Record<KeepaliveControl, ControlReport>,
    backend: string | undefined,
    unavailable: string | undefined,
    side: NativeKeepalive["sideEffects"],
  ): TuningReport {
    const settings = this.settings;
    const policy = this.policy;
    const effective = (control: KeepaliveControl): number | undefined => {
      const value = reports[control].value;
      if (typeof value === "number") return value;
      return control === "interval" || control === "count" ? side?.[control] : undefined;
    };
    const on = reports.keepalive.value !== false &&
      (reports.keepalive.value === true || settings.enabled);
    const bound = detectionBound({
      heartbeat: policy.heartbeat,
      idleTimeout: policy.idleTimeout,
      resolution: policy.resolution,
      keepalive: on
        ? {
          // Unknown values stay undefined: the bound takes the system's and warns about them.
          idle: msSpec(effective("idle")),
          interval: msSpec(effective("interval")),
          count: effective("count"),
          userTimeout: msSpec(effective("userTimeout")),
        }
        : false,
    });
    // The bound's own advice assumes nothing was asked; say plainly what was asked and not set.
    const unapplied = CONTROLS.filter((control) => reports[control].status === "unsupported");
    const warning = unapplied.length === 0
      ? undefined
      : `${unapplied.join(", ")} asked but not set (${
        reports[unapplied[0]].note
      }): the system's values apply, and a peer that vanishes goes unnoticed for ${
        formatDuration(bound.idleMs)
      } on a quiet connection, ${formatDuration(bound.busyMs)} with data in flight`;
    const frozen = {} as Record<KeepaliveControl, ControlReport>;
    for (const control of CONTROLS) frozen[control] = Object.freeze(reports[control]);
    return Object.freeze({
      ...frozen,
      backend,
      unavailable,
      bound: warning === undefined
        ? bound
        : Object.freeze({ ...bound, warnings: Object.freeze([warning, ...bound.warnings]) }),
    });
  }
}

/**
 * A value the settings rounded (idle of 1.5 s to 2 s) is in force as rounded, not as asked: such a
 * control is `adjusted`, with what was asked and why, never `applied`.
 */
function roundedByUs(
  settings: KeepaliveSettings,
  reports: Record<KeepaliveControl, ControlReport>,
): void {
  const requested: Partial<Record<KeepaliveControl, number | undefined>> = {
    idle: settings.requested?.idleMs,
    interval: settings.requested?.intervalMs,
    userTimeout: settings.requested?.userTimeoutMs,
  };
  for (const control of ["idle", "interval", "userTimeout"] as const) {
    const asked = requested[control];
    const report = reports[control];
    if (asked === undefined || report.status !== "applied") continue;
    const unit = control === "userTimeout" ? "milliseconds" : "seconds";
    reports[control] = {
      ...report,
      status: "adjusted",
      asked,
      note: `asked ${show(control, asked)}, the kernel counts whole ${unit}: ${
        show(control, report.value as number)
      }`,
    };
  }
}

function outcome(
  control: KeepaliveControl,
  asked: number | boolean | undefined,
  value: number | boolean | undefined,
  verified: boolean,
  via: ControlReport["via"],
  note: string | undefined,
): ControlReport {
  if (asked === undefined) {
    return { status: "system", asked, value, verified, via: undefined };
  }
  if (value === undefined) {
    return {
      status: "unsupported",
      asked,
      value,
      verified,
      via: undefined,
      note: note ?? "could not be read back",
    };
  }
  if (value === asked) return { status: "applied", asked, value, verified, via };
  return {
    status: "adjusted",
    asked,
    value,
    verified,
    via,
    note: note ?? `asked ${show(control, asked)}, the kernel holds ${show(control, value)}`,
  };
}

function show(control: KeepaliveControl, value: number | boolean): string {
  if (typeof value === "boolean") return value ? "on" : "off";
  return control === "count" ? String(value) : `${value} ms`;
}

function toKernel(control: KeepaliveControl, value: number | boolean): number {
  if (control === "keepalive") return value ? 1 : 0;
  if (control === "idle" || control === "interval") return Math.ceil((value as number) / 1000);
  return value as number;
}

function fromKernel(control: KeepaliveControl, value: number): number | boolean {
  if (control === "keepalive") return value !== 0;
  if (control === "idle" || control === "interval") return value * 1000;
  return value;
}
