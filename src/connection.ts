/**
 * A connection as a {@linkcode LivenessMonitor} sees it: its id, its states and the reasons it
 * changes them, what the monitor tells about it (transitions, idle, end and drain events), and the
 * driver an adapter gives for it.
 *
 * @module
 */

import type { DeathReason } from "./errors.ts";
import type { LivenessEvent } from "./events.ts";

/**
 * Where a connection stands.
 * - `connecting`: tracked before the connection was established (`track(…, { connecting: true })`);
 *   only the connect timeout applies until {@linkcode LivenessMonitor.connected}.
 * - `open`: traffic or proof of life recently.
 * - `idle`: nothing received for the `idle` period (reported, not acted on).
 * - `probing`: a heartbeat ping is out and its answer is awaited, or (with `watchKernel`) the
 *   kernel's keepalive probes are.
 * - `suspect`: φ (the accrual failure detector) passed its threshold: reported, not killed.
 * - `dead`: declared dead, with a {@linkcode DeathReason}. Terminal.
 * - `closed`: ended in order by this side, or by a max-idle / max-age policy. Terminal.
 */
export type ConnectionState =
  | "connecting"
  | "open"
  | "idle"
  | "probing"
  | "suspect"
  | "dead"
  | "closed";

/** Why a max-idle or max-age policy closes a connection. */
export type DrainReason = "max-idle" | "max-age";

/**
 * Why a connection ended in order (`closed`): this side closed it, the peer did (it ended its side
 * first: {@linkcode LivenessMonitor.ended} came before {@linkcode LivenessMonitor.closed}), or a
 * max-idle / max-age policy did.
 */
export type CloseReason = "local-close" | "peer-close" | DrainReason;

/** Why a connection changed state: a {@linkcode DeathReason}, or one of the ordinary causes. */
export type TransitionReason =
  | DeathReason
  | DrainReason
  /** The connection was established ({@linkcode LivenessMonitor.connected}). */
  | "connected"
  /** Data arrived after a quiet period or a suspicion. */
  | "activity"
  /** Nothing was received for the `idle` period. */
  | "reader-idle"
  /** A heartbeat ping was sent. */
  | "ping-sent"
  /** The ping was answered (by {@linkcode LivenessMonitor.acked}, or by any data). */
  | "ack"
  /** φ passed the suspicion threshold. */
  | "suspected"
  /** The kernel sends keepalive probes that are not answered yet (TCP_INFO, `watchKernel`). */
  | "keepalive-probe"
  /** This side closed the connection ({@linkcode LivenessMonitor.closed}). */
  | "local-close"
  /** The peer ended its side, then the connection closed. */
  | "peer-close";

/** A state change, as given to `onTransition`. */
export interface Transition<C> {
  /** The connection's id. */
  readonly id: ConnectionId;
  /** The context given to {@linkcode LivenessMonitor.track} (e.g. the socket). */
  readonly context: C;
  /** State before. */
  readonly from: ConnectionState;
  /** State after. */
  readonly to: ConnectionState;
  /** Why. */
  readonly reason: TransitionReason;
  /** When, by the monitor's clock (epoch milliseconds with the system clock). */
  readonly at: number;
  /** The error behind a death, when there was one (otherwise `undefined`). */
  readonly error: unknown;
}

/** Which direction was idle (Netty's `IdleStateEvent`). */
export type IdleKind = "reader" | "writer" | "all";

/** An idle event, as given to `onIdle`: repeated every period while the idleness lasts. */
export interface IdleEvent<C> {
  /** The connection's id. */
  readonly id: ConnectionId;
  /** The context given to {@linkcode LivenessMonitor.track}. */
  readonly context: C;
  /** Reader idle (nothing received), writer idle (nothing sent) or all idle (neither). */
  readonly kind: IdleKind;
  /** Whether this is the first event since the last activity of that kind. */
  readonly first: boolean;
  /** When, by the monitor's clock. */
  readonly at: number;
}

/** What `end` and `too-many-pings` events carry: the connection. */
export interface ConnectionEvent<C> {
  /** The connection's id. */
  readonly id: ConnectionId;
  /** The context given to {@linkcode LivenessMonitor.track}. */
  readonly context: C;
}

/** What a `drain` event carries: the connection, and which policy winds it down. */
export interface DrainEvent<C> extends ConnectionEvent<C> {
  /** Max idle or max age. */
  readonly reason: DrainReason;
}

/**
 * The events of a {@linkcode LivenessMonitor}, by type. Each matches a callback option and carries
 * in `detail` what that callback is given; listeners run right after the callback.
 */
export interface MonitorEventMap<C> {
  /** A state change (as `onTransition`). */
  transition: LivenessEvent<Transition<C>>;
  /** A reader, writer or all idle event (as `onIdle`). */
  idle: LivenessEvent<IdleEvent<C>>;
  /** The peer ended its side (as `onEnd`). */
  end: LivenessEvent<ConnectionEvent<C>>;
  /** Max idle or max age asks a connection to wind down (as `onDrain`). */
  drain: LivenessEvent<DrainEvent<C>>;
  /** The peer's pings exceeded the strikes (as `onTooManyPings`). */
  "too-many-pings": LivenessEvent<ConnectionEvent<C>>;
  /** A warning, once per distinct text (as `onWarning`). */
  warning: LivenessEvent<string>;
  /** The monitor was closed (by `close()` or its `signal`): the last event it dispatches. */
  close: LivenessEvent<undefined>;
}

/**
 * A tracked connection's id: a non-negative integer below 2^40 (keep it in a number, a plain array
 * or a `Float64Array`, not an `Int32Array`). A monitor never hands out the same id twice, and ids of
 * connections that have ended are ignored by every input, so an event that arrives late cannot
 * touch a later connection, however often the store reuses its room.
 */
export type ConnectionId = number;

/**
 * What an adapter gives the monitor for the connections it tracks: how to close one, and optionally
 * how to report activity the monitor did not see as it happened. One driver may serve every
 * connection, or each connection may have its own: a monitor takes any number over its life and
 * lets go of each once no connection uses it.
 */
export interface Driver<C> {
  /**
   * Closes a connection the monitor declared dead, or one a max-idle / max-age policy ends after its
   * grace period. Called after `onTransition`.
   */
  destroy(context: C, reason: DeathReason | DrainReason, error: unknown): void;
  /**
   * Called when one of the connection's deadlines is reached, and when it fails, before the monitor
   * acts: an adapter that counts bytes instead of hooking every read reports activity here.
   */
  sample?(context: C, id: ConnectionId): void;
}

/** What {@linkcode LivenessMonitor.info} tells about one connection. */
export interface ConnectionInfo {
  /** Current state. */
  readonly state: ConnectionState;
  /** Last time data was received (tick precision). */
  readonly lastReceived: number;
  /** Last time data was sent (tick precision). */
  readonly lastSent: number;
  /** Whether a heartbeat ping awaits its answer. */
  readonly pingOutstanding: boolean;
  /** Whether the peer has ended its side. */
  readonly ended: boolean;
  /** Whether a max-idle / max-age policy is winding the connection down. */
  readonly draining: boolean;
}
