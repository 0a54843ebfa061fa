// A reference model of the liveness monitor for the property tests: plain objects, one per
// connection, and every deadline checked on every tick. It knows nothing of the timing wheel, so
// running it beside the monitor checks the wheel against a brute-force scheduler.
//
// What it encodes, in ticks of `resolution` counted from the monitor's creation:
// - an input at time t happens in tick floor((t - origin) / resolution);
// - a deadline of d ms after the last input of its kind fires on the first tick at or after
//   lastInputTick + ceil(d / resolution) + 1, the timeout of a ping counting from the ping's tick;
// - idle: open -> idle (reader-idle) when nothing was received for `idle`;
// - idleTimeout: -> dead (idle-timeout) when nothing was sent or received for `idleTimeout`;
// - heartbeat: open/idle -> probing (ping-sent) when nothing was received for `interval` and the
//   peer has not ended its side; probing -> dead (heartbeat-timeout) when the ping is unanswered for
//   `timeout`; acked() answers, and so does any received data unless `ackOnData` is false;
// - dead and closed are terminal, and every input for a terminal connection is ignored.

import type { ConnectionState, DeathReason, TransitionReason } from "../mod.ts";

/** The options of the monitor under test, in milliseconds (0 = off). */
export interface ModelOptions {
  /** The monitor's clock time at its creation. */
  readonly origin: number;
  /** The scheduler's tick. */
  readonly resolution: number;
  /** Reader idle period. */
  readonly idle: number;
  /** Idle timeout. */
  readonly idleTimeout: number;
  /** Heartbeat timing. */
  readonly heartbeat?: {
    readonly interval: number;
    readonly timeout: number;
    readonly ackOnData: boolean;
  };
  /** Whether `keepalive.userTimeout` is set. */
  readonly userTimeout: boolean;
}

/** One connection as the model sees it. */
export interface ModelConnection {
  /** Position in the order of tracking. */
  readonly index: number;
  /** The id the monitor gave it. */
  readonly id: number;
  /** Its context (unique per connection). */
  readonly context: string;
  /** Whether it was tracked with a driver. */
  readonly driver: boolean;
  /** Current state. */
  state: ConnectionState;
  /** Tick of the last data received (or of tracking). */
  lastIn: number;
  /** Tick of the last data sent (or of tracking). */
  lastOut: number;
  /** Tick of the outstanding ping. */
  pingAt: number;
  /** Whether a ping awaits its answer. */
  pingOut: boolean;
  /** Whether the peer ended its side. */
  ended: boolean;
  /** Whether something was sent since the peer last sent anything. */
  sentLast: boolean;
}

/** A transition the model expects. */
export interface Step {
  /** State before. */
  readonly from: ConnectionState;
  /** State after. */
  readonly to: ConnectionState;
  /** Why. */
  readonly reason: TransitionReason;
  /** The error behind a death by `failed()`. */
  readonly error?: unknown;
}

/** The inputs a connection takes after `track`. */
export type Input = "received" | "sent" | "acked" | "ended" | "closed" | "failed";

/** Whether a state is terminal. */
export function isTerminal(state: ConnectionState): boolean {
  return state === "dead" || state === "closed";
}

/** The brute-force reference model. */
export class Model {
  /** Every connection tracked, in order. */
  readonly connections: ModelConnection[] = [];
  readonly #options: ModelOptions;
  readonly #idle: number;
  readonly #idleTimeout: number;
  readonly #interval: number;
  readonly #timeout: number;

  /**
   * Creates a model.
   *
   * @param options The monitor's options.
   */
  constructor(options: ModelOptions) {
    this.#options = options;
    const ticks = (ms: number) => ms > 0 ? Math.ceil(ms / options.resolution) : 0;
    this.#idle = ticks(options.idle);
    this.#idleTimeout = ticks(options.idleTimeout);
    this.#interval = ticks(options.heartbeat?.interval ?? 0);
    this.#timeout = ticks(options.heartbeat?.timeout ?? 0);
  }

  /** Whether any deadline is configured. */
  get hasDeadlines(): boolean {
    return this.#idle > 0 || this.#idleTimeout > 0 || this.#interval > 0;
  }

  /**
   * The tick a time falls in.
   *
   * @param now A clock time.
   * @returns The tick.
   */
  tickAt(now: number): number {
    return Math.floor((now - this.#options.origin) / this.#options.resolution);
  }

  /**
   * The clock time a tick starts at.
   *
   * @param tick A tick.
   * @returns The time.
   */
  timeOf(tick: number): number {
    return this.#options.origin + tick * this.#options.resolution;
  }

  /** The connections that are neither dead nor closed. */
  live(): ModelConnection[] {
    return this.connections.filter((c) => !isTerminal(c.state));
  }

  /**
   * A connection starts being tracked.
   *
   * @param id The id the monitor gave it.
   * @param context Its context.
   * @param driver Whether it has a driver.
   * @param tick The current tick.
   * @returns The model's connection.
   */
  track(id: number, context: string, driver: boolean, tick: number): ModelConnection {
    const connection: ModelConnection = {
      index: this.connections.length,
      id,
      context,
      driver,
      state: "open",
      lastIn: tick,
      lastOut: tick,
      pingAt: 0,
      pingOut: false,
      ended: false,
      sentLast: false,
    };
    this.connections.push(connection);
    return connection;
  }

  /**
   * The deadline transitions due for a connection in a tick, in no particular order.
   *
   * @param c The connection.
   * @param tick The tick.
   * @returns What is due (empty when nothing is).
   */
  due(c: ModelConnection, tick: number): Step[] {
    if (isTerminal(c.state)) return [];
    const due: Step[] = [];
    const sinceIn = tick - c.lastIn;
    const quiet = tick - Math.max(c.lastIn, c.lastOut);
    if (this.#idleTimeout > 0 && quiet >= this.#idleTimeout + 1) {
      due.push({ from: c.state, to: "dead", reason: "idle-timeout" });
    }
    if (this.#interval > 0) {
      if (c.pingOut) {
        if (tick - c.pingAt >= this.#timeout + 1) {
          due.push({ from: c.state, to: "dead", reason: "heartbeat-timeout" });
        }
      } else if (!c.ended && sinceIn >= this.#interval + 1) {
        due.push({ from: c.state, to: "probing", reason: "ping-sent" });
      }
    }
    if (this.#idle > 0 && c.state === "open" && sinceIn >= this.#idle + 1) {
      due.push({ from: "open", to: "idle", reason: "reader-idle" });
    }
    return due;
  }

  /**
   * The transition an input causes at once, if any (computed before the input is applied).
   *
   * @param c The connection.
   * @param input The input.
   * @param reason For `failed`, the reason the error maps to (before the user-timeout rule).
   * @param error For `failed`, the error.
   * @returns The transition, or `undefined`.
   */
  expect(
    c: ModelConnection,
    input: Input,
    reason?: DeathReason,
    error?: unknown,
  ): Step | undefined {
    if (isTerminal(c.state)) return undefined;
    switch (input) {
      case "received":
        if (c.state === "idle") return { from: "idle", to: "open", reason: "activity" };
        if (c.state === "probing" && this.#options.heartbeat?.ackOnData !== false) {
          return { from: "probing", to: "open", reason: "ack" };
        }
        return undefined;
      case "acked":
        if (c.state === "idle") return { from: "idle", to: "open", reason: "activity" };
        if (c.state === "probing") return { from: "probing", to: "open", reason: "ack" };
        return undefined;
      case "closed":
        return { from: c.state, to: "closed", reason: "local-close" };
      case "failed": {
        const timeout = reason === "keepalive-timeout" && this.#options.userTimeout && c.sentLast;
        return { from: c.state, to: "dead", reason: timeout ? "user-timeout" : reason!, error };
      }
      default:
        return undefined;
    }
  }

  /**
   * Applies what an input does besides its transition.
   *
   * @param c The connection.
   * @param input The input.
   * @param tick The current tick.
   * @returns For `ended`, whether `onEnd` is due; otherwise `false`.
   */
  input(c: ModelConnection, input: Input, tick: number): boolean {
    if (isTerminal(c.state)) return false;
    switch (input) {
      case "received":
      case "acked":
        c.lastIn = tick;
        c.sentLast = false;
        return false;
      case "sent":
        c.lastOut = tick;
        c.sentLast = true;
        return false;
      case "ended":
        if (c.ended) return false;
        c.ended = true;
        return true;
      default:
        return false;
    }
  }

  /**
   * Performs a transition.
   *
   * @param c The connection.
   * @param step The transition.
   * @param tick The current tick.
   */
  apply(c: ModelConnection, step: Step, tick: number): void {
    if (step.reason === "ping-sent") {
      c.pingOut = true;
      c.pingAt = tick;
    } else if (step.to !== "idle") {
      // An ack, activity after a quiet period, or the end.
      c.pingOut = false;
    }
    c.state = step.to;
  }
}
