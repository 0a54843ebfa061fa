/**
 * How long a vanished peer can go unnoticed, from the options in force.
 *
 * @module
 */

import { type Duration, formatDuration, parseDuration } from "./duration.ts";
import {
  type KeepaliveSettings,
  type KeepaliveSpec,
  LINUX_DEFAULTS,
  resolveKeepalive,
} from "./keepalive.ts";
import { describe, functionOrUndefined, knownKeys, objectOrUndefined } from "./_validate.ts";
import { fraction, HEARTBEAT_KEYS, longestInterval, resolutionOf, tickedMs } from "./_options.ts";

/** What detects a vanished peer first. */
export type Detector =
  | "keepalive"
  | "user-timeout"
  | "retransmission"
  | "heartbeat"
  | "idle-timeout";

/** Options for {@linkcode detectionBound}: the monitor's names for what bounds detection. */
export interface BoundOptions {
  /** OS keepalive (see {@linkcode KeepaliveSpec}); default on with system values. */
  keepalive?: KeepaliveSpec;
  /**
   * Application heartbeat timing, as the monitor's `heartbeat` option takes it (`send` and
   * `ackOnData` are allowed and change nothing here). `jitter` lengthens the longest interval as
   * the monitor does. With `when`, which can hold pings back for as long as it likes, the heartbeat
   * bounds nothing: it is left out, with a warning.
   */
  heartbeat?: {
    interval: Duration;
    timeout: Duration;
    jitter?: number;
    when?: (...args: never[]) => boolean;
  };
  /** Dead after no traffic either way for this long. */
  idleTimeout?: Duration;
  /** The monitor's tick (default 100 ms): application deadlines may fire up to two ticks late. */
  resolution?: Duration;
  /**
   * The idle time after which a middlebox (NAT, load balancer, firewall) drops a silent flow,
   * e.g. `"350s"` for AWS NLB: warns when nothing keeps the flow alive within it.
   */
  budget?: Duration;
  /** The system's keepalive values where a control is left unset (default: Linux's). */
  system?: { idleMs: number; intervalMs: number; count: number; retransmitGiveUpMs: number };
}

/** The worst-case detection times, and warnings. */
export interface DetectionBound {
  /** Longest time from the peer's last sign of life to `dead` when the connection was quiet. */
  readonly idleMs: number;
  /** What gives `idleMs`. */
  readonly idleBy: Detector;
  /** Longest time to `dead` when the peer vanished while sent data awaited acknowledgement. */
  readonly busyMs: number;
  /** What gives `busyMs`. */
  readonly busyBy: Detector;
  /** The kernel's keepalive alone, on a quiet connection (`Infinity` when keepalive is off). */
  readonly keepaliveMs: number;
  /** Problems worth fixing, in plain words. */
  readonly warnings: readonly string[];
}

const KEYS = ["keepalive", "heartbeat", "idleTimeout", "resolution", "budget", "system"] as const;

/**
 * The kernel checks the user timeout when its retransmission timer fires, and counts from the first
 * retransmission: measured up to about 0.5 s past the user timeout on loopback (0.9 s reported
 * elsewhere). The bound allows a second.
 */
export const USER_TIMEOUT_SLACK_MS = 1_000;

/**
 * Computes the worst-case time to declare a vanished peer dead.
 *
 * - Keepalive on a quiet connection: `idle + interval × count`; with `TCP_USER_TIMEOUT` set, Linux
 *   gives up at the first probe at or after the user timeout instead (`count` no longer applies).
 * - With data in flight keepalive does not run: the user timeout governs (plus up to a second
 *   until the kernel's retransmission timer notices), or without it the kernel's retransmissions
 *   (about 924.6 s with Linux defaults).
 * - Heartbeat: `interval + timeout` plus three ticks; idle timeout: the timeout plus two ticks
 *   (the monitor counts whole ticks: each duration rounds up to one).
 *
 * @param options The options in force.
 * @returns The bounds, what gives each, and warnings.
 *
 * @example Keepalive 2 s / 1 s / 3 probes
 * ```ts
 * import { detectionBound } from "./bound.ts";
 * import assert from "node:assert/strict";
 *
 * const bound = detectionBound({ keepalive: "2s:1s:3" });
 * assert.equal(bound.idleMs, 5_000);
 * assert.equal(bound.idleBy, "keepalive");
 * ```
 */
export function detectionBound(options: BoundOptions = {}): DetectionBound {
  const opts = objectOrUndefined(options, "options") ?? {};
  knownKeys(opts, "", KEYS);
  const keepalive = resolveKeepalive(opts.keepalive);
  const system = checkSystem(opts.system) ?? LINUX_DEFAULTS;
  // Checked as the monitor checks them: a value it would refuse bounds nothing.
  const resolution = resolutionOf(opts.resolution);
  const warnings: string[] = [...keepalive.adjustments];
  const ticks = (ms: number) => Math.ceil(ms / resolution);

  const keepaliveMs = keepaliveBound(keepalive, system);
  const userTimeoutMs = keepalive.userTimeoutMs ?? 0;
  const candidatesIdle: [number, Detector][] = [[keepaliveMs, "keepalive"]];
  const candidatesBusy: [number, Detector][] = userTimeoutMs > 0
    ? [[userTimeoutMs + USER_TIMEOUT_SLACK_MS, "user-timeout"]]
    : [[system.retransmitGiveUpMs, "retransmission"]];
  const heartbeat = objectOrUndefined(opts.heartbeat, "heartbeat");
  let heartbeatBounds = false;
  let heartbeatIntervalMs = Infinity;
  if (heartbeat !== undefined) {
    knownKeys(heartbeat, "heartbeat", HEARTBEAT_KEYS);
    const intervalMs = tickedMs(heartbeat.interval, "heartbeat.interval", resolution);
    const timeoutMs = tickedMs(heartbeat.timeout, "heartbeat.timeout", resolution);
    const jitter = fraction(heartbeat.jitter, "heartbeat.jitter", 0);
    if (functionOrUndefined(heartbeat.when, "heartbeat.when") !== undefined) {
      warnings.push(
        "heartbeat.when can hold pings back: the heartbeat bounds detection only while it lets them go, so the bounds leave it out",
      );
    } else {
      heartbeatBounds = true;
      // The monitor counts whole ticks: each duration rounds up to one.
      const intervalTicks = longestInterval(ticks(intervalMs), jitter);
      heartbeatIntervalMs = intervalTicks * resolution;
      const ms = (intervalTicks + ticks(timeoutMs) + 3) * resolution;
      candidatesIdle.push([ms, "heartbeat"]);
      candidatesBusy.push([ms, "heartbeat"]);
    }
  }
  if (opts.idleTimeout !== undefined) {
    candidatesIdle.push([
      (ticks(tickedMs(opts.idleTimeout, "idleTimeout", resolution)) + 2) * resolution,
      "idle-timeout",
    ]);
  }
  const [idleMs, idleBy] = smallest(candidatesIdle);
  const [busyMs, busyBy] = smallest(candidatesBusy);

  if (!keepalive.enabled && !heartbeatBounds && opts.idleTimeout === undefined) {
    warnings.push(
      "keepalive is off and no heartbeat or idle timeout is set: a silent peer is never detected",
    );
  } else if (
    keepalive.enabled && keepalive.idleMs === undefined && !heartbeatBounds &&
    opts.idleTimeout === undefined
  ) {
    warnings.push(
      `keepalive idle is the system's ${
        formatDuration(system.idleMs)
      }: a cut cable goes unnoticed for ${formatDuration(keepaliveMs)}; set keepalive.idle`,
    );
  }
  if (userTimeoutMs === 0 && !heartbeatBounds) {
    warnings.push(
      `no user timeout: a peer that vanishes while data is in flight is noticed only after the kernel's retransmissions (${
        formatDuration(system.retransmitGiveUpMs)
      }); set keepalive.userTimeout`,
    );
  }
  if (opts.budget !== undefined) {
    const budgetMs = parseDuration(opts.budget, "budget");
    const idle = keepalive.enabled ? (keepalive.idleMs ?? system.idleMs) : Infinity;
    if (idle >= budgetMs && heartbeatIntervalMs >= budgetMs) {
      warnings.push(
        keepalive.enabled
          ? `keepalive idle ${formatDuration(idle)} ${idle > budgetMs ? "exceeds" : "equals"} the ${
            formatDuration(budgetMs)
          } budget: the middlebox will drop this flow before the first probe`
          : `keepalive is off and no heartbeat comes within the ${
            formatDuration(budgetMs)
          } budget: the middlebox will drop a quiet flow`,
      );
    }
  }
  return Object.freeze({
    idleMs,
    idleBy,
    busyMs,
    busyBy,
    keepaliveMs,
    warnings: Object.freeze(warnings),
  });
}

function keepaliveBound(
  keepalive: KeepaliveSettings,
  system: { idleMs: number; intervalMs: number; count: number },
): number {
  if (!keepalive.enabled) return Infinity;
  const idle = keepalive.idleMs ?? system.idleMs;
  const interval = keepalive.intervalMs ?? system.intervalMs;
  const userTimeout = keepalive.userTimeoutMs ?? 0;
  if (userTimeout > 0) {
    // tcp_keepalive_timer: with a user timeout, give up at the first probe timer at or after it.
    const probes = Math.max(1, Math.ceil((userTimeout - idle) / interval));
    return idle + probes * interval;
  }
  return idle + interval * (keepalive.count ?? system.count);
}

function smallest(candidates: [number, Detector][]): [number, Detector] {
  let best = candidates[0];
  for (const candidate of candidates) if (candidate[0] < best[0]) best = candidate;
  return best;
}

function checkSystem(value: unknown): BoundOptions["system"] | undefined {
  const system = objectOrUndefined(value, "system");
  if (system === undefined) return undefined;
  knownKeys(system, "system", ["idleMs", "intervalMs", "count", "retransmitGiveUpMs"]);
  for (const key of ["idleMs", "intervalMs", "count", "retransmitGiveUpMs"]) {
    const field = system[key];
    const allowed = key === "count" ? "an integer above 0" : "a finite number above 0";
    if (typeof field !== "number") {
      throw new TypeError(`Option "system.${key}" must be ${allowed}, got ${describe(field)}`);
    }
    if (!Number.isFinite(field) || field <= 0 || (key === "count" && !Number.isInteger(field))) {
      throw new RangeError(`Option "system.${key}" must be ${allowed}, got ${field}`);
    }
  }
  return system as BoundOptions["system"];
}
