/**
 * The shape of a monitor's statistics snapshot, shared by the monitor and the exporters.
 *
 * @module
 */

import type { DeathReason } from "./errors.ts";
import type { CloseReason } from "./connection.ts";

/** A fixed-bucket histogram of milliseconds, Prometheus-style (cumulative bucket counts). */
export interface Histogram {
  /** Upper bounds of the buckets in milliseconds, ascending; `+Inf` is implied after the last. */
  readonly bounds: readonly number[];
  /** Cumulative counts: `counts[i]` observations were ≤ `bounds[i]`; `counts.length === bounds.length`. */
  readonly counts: readonly number[];
  /** Number of observations (the `+Inf` bucket). */
  readonly count: number;
  /** Sum of the observations in milliseconds. */
  readonly sum: number;
}

/** A snapshot of one monitor: gauges of live states, counters since creation, histograms. */
export interface MonitorStats {
  /** Connections now in each live state. */
  readonly states: {
    readonly connecting: number;
    readonly open: number;
    readonly idle: number;
    readonly probing: number;
    readonly suspect: number;
  };
  /** Connections tracked since the monitor was created. */
  readonly tracked: number;
  /** Connections ended in order (`closed`) since the monitor was created. */
  readonly closed: number;
  /** The same, by who closed them. */
  readonly closes: Readonly<Record<CloseReason, number>>;
  /** Deaths since the monitor was created, by reason. */
  readonly deaths: Readonly<Record<DeathReason, number>>;
  /** Heartbeat pings sent since the monitor was created. */
  readonly pings: number;
  /** Time from the last proof of life to `dead`, in milliseconds. */
  readonly timeToDetect: Histogram;
  /** Time from a heartbeat ping to its acknowledgement, in milliseconds. */
  readonly heartbeatRtt: Histogram;
  /** The options in force (milliseconds, `keepaliveCount` in probes; `null` where unset). */
  readonly options: {
    readonly resolution: number;
    readonly idle: number | null;
    readonly idleTimeout: number | null;
    readonly heartbeatInterval: number | null;
    readonly heartbeatTimeout: number | null;
    readonly keepaliveIdle: number | null;
    readonly keepaliveInterval: number | null;
    readonly keepaliveCount: number | null;
    readonly userTimeout: number | null;
  };
}
