/**
 * What a {@linkcode LivenessMonitor} is told: its options (deadlines, heartbeat, suspicion, ping
 * enforcement, callbacks), the options of one `track()` call, and the policy it reports back.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import type { Duration } from "./duration.ts";
import type { KeepaliveSpec } from "./keepalive.ts";
import type { ConnectionId, DrainReason, IdleEvent, Transition } from "./connection.ts";

/** Application heartbeat: ping a quiet peer and declare it dead when the answer does not come. */
export interface HeartbeatOptions<C> {
  /** Send a ping when nothing was received for this long (gRPC's keepalive time). */
  interval: Duration;
  /** Declare the connection dead when the ping is not answered within this (gRPC's keepalive timeout). */
  timeout: Duration;
  /** Sends a ping on the user's own protocol; the library never invents bytes. */
  send: (context: C, id: ConnectionId) => void;
  /** Whether any received data answers a ping (default `true`); otherwise only `acked()` does. */
  ackOnData?: boolean;
  /** Spread each interval by up to ± this fraction (0 to 0.5, default 0) so pings do not align. */
  jitter?: number;
  /**
   * Return `false` to skip a ping for now, e.g. when no call is in flight (gRPC's
   * `permit_without_calls = false`). Asked again one interval later.
   */
  when?: (context: C, id: ConnectionId) => boolean;
}

/** φ accrual suspicion (Akka's defaults), fed by heartbeat answers and {@linkcode LivenessMonitor.beat}. */
export interface SuspicionOptions {
  /** φ at which a connection becomes `suspect` (default 8). */
  threshold?: number;
  /** Inter-arrival samples kept per connection, 2 to 10,000 (default 100; 4 bytes each). */
  maxSamples?: number;
  /** Floor of the standard deviation (default 100 ms). */
  minStdDeviation?: Duration;
  /** Added to the mean: a pause that is not suspicious (default 0). */
  acceptablePause?: Duration;
  /** The interval assumed before the first sample (default 1 s). */
  firstHeartbeatEstimate?: Duration;
}

/** Server-side ping enforcement (gRPC's): a peer that pings too often gets strikes. */
export interface PingEnforcementOptions {
  /** The shortest permitted time between the peer's pings. */
  minInterval: Duration;
  /** Strikes allowed before `onTooManyPings` (default 2, as gRPC). Data flowing resets them. */
  maxStrikes?: number;
}

/** Options of one {@linkcode LivenessMonitor.track} call. */
export interface TrackOptions {
  /**
   * The connection is not established yet: it starts `connecting`, under the monitor's
   * `connectTimeout` only, until {@linkcode LivenessMonitor.connected} (or data) says it is.
   */
  connecting?: boolean;
}

/** Options of a {@linkcode LivenessMonitor}. */
export interface MonitorOptions<C> {
  /**
   * OS keepalive for adapters to apply to every socket; default `"on"` with system values.
   * See {@linkcode KeepaliveSpec}.
   */
  keepalive?: KeepaliveSpec;
  /** Report `idle` (and reader-idle events) when nothing was received for this long. */
  idle?: Duration;
  /** Writer-idle events when nothing was sent for this long (Netty's writer idle). */
  writerIdle?: Duration;
  /** All-idle events when nothing was sent or received for this long (Netty's all idle). */
  allIdle?: Duration;
  /** Declare `dead` (reason `idle-timeout`) when nothing was sent or received for this long. */
  idleTimeout?: Duration;
  /**
   * How long a connection tracked as `connecting` may take to be established before it is declared
   * dead (`connect-timeout`); default 20 s (gRPC's minimum connect timeout). Linux alone retries a
   * SYN for about two minutes.
   */
  connectTimeout?: Duration;
  /** Close gracefully after no traffic for this long (gRPC's max connection idle). */
  maxIdle?: Duration;
  /** Close gracefully after this lifetime, spread by ± `maxAgeJitter` (gRPC's max connection age). */
  maxAge?: Duration;
  /** Spread of `maxAge`, a fraction from 0 to 0.5 (default 0.1: ±10%). */
  maxAgeJitter?: number;
  /** After `onDrain`, how long a max-idle / max-age connection may finish before it is closed. */
  grace?: Duration;
  /** Application heartbeat. */
  heartbeat?: HeartbeatOptions<C>;
  /** φ accrual suspicion; `true` for Akka's defaults. */
  suspicion?: SuspicionOptions | true;
  /** Limits on the peer's own pings, reported through `onTooManyPings`. */
  pingEnforcement?: PingEnforcementOptions;
  /**
   * Look at the kernel's view of quiet connections: once one has been silent for the keepalive
   * idle time, and every keepalive interval after, its adapter reads `TCP_INFO` (where it can) and
   * reports unanswered keepalive probes, so the connection shows `probing` instead of looking open.
   */
  watchKernel?: boolean;
  /**
   * Connections to make room for at once, 1 to 16,777,216 (default 64; the store grows by a
   * quarter as needed): a server that knows its scale allocates once.
   */
  capacity?: number;
  /** Scheduler tick, from 1 ms to 60 s (default 100 ms): deadlines fire on ticks, never early. */
  resolution?: Duration;
  /** Time and timers (default: the system clock with unref'd timers). */
  clock?: Clock;
  /** Random numbers in [0, 1) for jitter (default `Math.random`). */
  random?: () => number;
  /** Called on every state change. */
  onTransition?: (transition: Transition<C>) => void;
  /** Called when the peer ended its side (FIN): not a death, but no ping can be answered after it. */
  onEnd?: (context: C, id: ConnectionId) => void;
  /** Called on reader, writer and all idle events. */
  onIdle?: (event: IdleEvent<C>) => void;
  /** Called when max-idle or max-age asks the connection to wind down (e.g. send GOAWAY). */
  onDrain?: (context: C, id: ConnectionId, reason: DrainReason) => void;
  /** Called when the peer's pings exceeded the enforcement strikes (gRPC: "too_many_pings"). */
  onTooManyPings?: (context: C, id: ConnectionId) => void;
  /**
   * Called when a user callback or event listener throws (default: `console.error`). The monitor
   * carries on.
   */
  onError?: (error: unknown, callback: string) => void;
  /** Closes the monitor when aborted (at once if it already is). */
  signal?: AbortSignal;
  /**
   * Called once for each distinct warning, e.g. keepalive settings an adapter could not apply
   * (default, when no `warning` listener is added either: `console.warn`).
   */
  onWarning?: (message: string) => void;
}

/** The application deadlines a monitor enforces, in milliseconds (for detection bounds). */
export interface MonitorPolicy {
  /** Reader idle period, if any. */
  readonly idle?: number;
  /** Idle timeout, if any. */
  readonly idleTimeout?: number;
  /**
   * Heartbeat timing, if any: the longest interval (jitter included) and the timeout, and the
   * `when` option when one was given (it can hold pings back: then the heartbeat bounds nothing).
   */
  readonly heartbeat?: {
    readonly interval: number;
    readonly timeout: number;
    readonly when?: (...args: never[]) => boolean;
  };
  /** The scheduler's tick. */
  readonly resolution: number;
}
