/**
 * The liveness monitor: one small state machine per connection, many connections on one timer.
 *
 * @module
 */

import { type DetectionBound, detectionBound } from "./bound.ts";
import { type Clock, systemClock } from "./clock.ts";
import { type Duration, parseDuration } from "./duration.ts";
import { classifyError, type DeathReason } from "./errors.ts";
import { type KeepaliveSettings, type KeepaliveSpec, resolveKeepalive } from "./keepalive.ts";
import { describe, functionOrUndefined, knownKeys, objectOrUndefined } from "./_validate.ts";

/**
 * Where a connection stands.
 * - `open`: traffic or proof of life recently.
 * - `idle`: nothing received for the `idle` period (reported, not acted on).
 * - `probing`: a heartbeat ping is out and its answer is awaited.
 * - `dead`: declared dead, with a {@linkcode DeathReason}. Terminal.
 * - `closed`: ended in order by this side. Terminal.
 */
export type ConnectionState = "open" | "idle" | "probing" | "dead" | "closed";

/** Why a connection changed state: a {@linkcode DeathReason}, or one of the ordinary causes. */
export type TransitionReason =
  | DeathReason
  /** Data arrived after a quiet period. */
  | "activity"
  /** Nothing was received for the `idle` period. */
  | "reader-idle"
  /** A heartbeat ping was sent. */
  | "ping-sent"
  /** The ping was answered (by {@linkcode LivenessMonitor.acked}, or by any data). */
  | "ack"
  /** This side closed the connection ({@linkcode LivenessMonitor.closed}). */
  | "local-close";

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
  /** The error behind a death, when there was one. */
  readonly error?: unknown;
}

/**
 * A tracked connection's id. Ids of connections that have ended are ignored by every input, so an
 * event that arrives late cannot touch a connection that reused the slot.
 */
export type ConnectionId = number;

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
}

/**
 * What an adapter gives the monitor for the connections it tracks: how to close one, and optionally
 * how to report activity the monitor did not see as it happened.
 */
export interface Driver<C> {
  /** Closes a connection the monitor declared dead. Called after `onTransition`. */
  destroy(context: C, reason: DeathReason, error: unknown): void;
  /**
   * Called when one of the connection's deadlines is reached, before the monitor acts on it: an
   * adapter that counts bytes instead of hooking every read reports activity here.
   */
  sample?(context: C, id: ConnectionId): void;
}

/** Options of a {@linkcode LivenessMonitor}. */
export interface MonitorOptions<C> {
  /**
   * OS keepalive for adapters to apply to every socket; default `"on"` with system values.
   * See {@linkcode KeepaliveSpec}.
   */
  keepalive?: KeepaliveSpec;
  /** Report `idle` when nothing was received for this long (Netty's reader idle). */
  idle?: Duration;
  /** Declare `dead` (reason `idle-timeout`) when nothing was sent or received for this long. */
  idleTimeout?: Duration;
  /** Application heartbeat. */
  heartbeat?: HeartbeatOptions<C>;
  /** Scheduler tick, from 1 ms to 60 s (default 100 ms): deadlines fire on ticks, never early. */
  resolution?: Duration;
  /** Time and timers (default: the system clock with unref'd timers). */
  clock?: Clock;
  /** Called on every state change. */
  onTransition?: (transition: Transition<C>) => void;
  /** Called when the peer ended its side (FIN): not a death, but no ping can be answered after it. */
  onEnd?: (context: C, id: ConnectionId) => void;
  /** Called when a user callback throws (default: `console.error`). The monitor carries on. */
  onError?: (error: unknown, callback: string) => void;
}

// State codes in the store. FREE marks an unused slot; DEAD and above are terminal.
const FREE = 0;
const OPEN = 1;
const IDLE = 2;
const PROBING = 3;
const DEAD = 4;
const CLOSED = 5;
const STATE_NAMES: readonly ConnectionState[] = [
  "closed",
  "open",
  "idle",
  "probing",
  "dead",
  "closed",
];

// Flag bits.
const IN_WHEEL = 1;
const ENDED = 2;
const SENT_LAST = 4; // something was sent since the peer last sent anything
const PING_OUT = 8;

const SLOT_BITS = 24;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
const MAX_GEN = 127; // ids stay positive small integers
const WHEEL_SIZE = 1024;
const WHEEL_MASK = WHEEL_SIZE - 1;
const MAX_DURATION_MS = 2_147_483_647;
const NEVER = 0xffffffff;

const OPTION_KEYS = [
  "keepalive",
  "idle",
  "idleTimeout",
  "heartbeat",
  "resolution",
  "clock",
  "onTransition",
  "onEnd",
  "onError",
] as const;
const HEARTBEAT_KEYS = ["interval", "timeout", "send", "ackOnData"] as const;

/** The application deadlines a monitor enforces, in milliseconds (for detection bounds). */
export interface MonitorPolicy {
  /** Reader idle period, if any. */
  readonly idle?: number;
  /** Idle timeout, if any. */
  readonly idleTimeout?: number;
  /** Heartbeat timing, if any. */
  readonly heartbeat?: { readonly interval: number; readonly timeout: number };
  /** The scheduler's tick. */
  readonly resolution: number;
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
}

/**
 * Tracks the liveness of many connections on one shared timer.
 *
 * Inputs are cheap: {@linkcode LivenessMonitor.received} and {@linkcode LivenessMonitor.sent} write
 * the current tick into a typed array and allocate nothing. Deadlines live on a timing wheel that is
 * visited lazily: a tick looks only at the connections whose deadline may have come, and re-files
 * those that were active since. A tick late by more than a second (the process itself was frozen)
 * does not count against peers: the monitor's clock skips the stall.
 *
 * Callback order for a death: `onTransition`, then the driver's `destroy`.
 *
 * @typeParam C The context kept per connection (for adapters, the socket).
 *
 * @example Detect a silent peer with an application heartbeat
 * ```ts
 * import { LivenessMonitor, ManualClock } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new ManualClock();
 * const seen: string[] = [];
 * const monitor = new LivenessMonitor<string>({
 *   clock,
 *   resolution: 100,
 *   heartbeat: { interval: "1s", timeout: "500ms", send: (peer) => seen.push(`ping ${peer}`) },
 *   onTransition: (t) => seen.push(`${t.context}: ${t.from} -> ${t.to} (${t.reason})`),
 * });
 * monitor.track("a");
 * clock.advance(5_000);
 * assert.deepEqual(seen, [
 *   "a: open -> probing (ping-sent)",
 *   "ping a",
 *   "a: probing -> dead (heartbeat-timeout)",
 * ]);
 * monitor.close();
 * ```
 */
export class LivenessMonitor<C = unknown> {
  /** The validated keepalive settings that adapters apply. */
  readonly keepalive: KeepaliveSettings;
  /** The scheduler's tick in milliseconds. */
  readonly resolution: number;
  /** The application deadlines in force, in milliseconds. */
  readonly policy: MonitorPolicy;

  #clock: Clock;
  #origin: number;
  #tick = 0; // never wraps; the store keeps its low 32 bits and ages are taken modulo 2^32
  #timer: unknown = undefined;
  #inTick = false;
  #closed = false;

  #idleTicks: number;
  #idleTimeoutTicks: number;
  #pingTicks: number;
  #pingTimeoutTicks: number;
  #send: ((context: C, id: ConnectionId) => void) | undefined;
  #ackOnData: boolean;
  #onTransition: ((transition: Transition<C>) => void) | undefined;
  #onEnd: ((context: C, id: ConnectionId) => void) | undefined;
  #onError: (error: unknown, callback: string) => void;

  // The store: one entry per slot.
  #capacity = 0;
  #state = new Uint8Array(0);
  #flags = new Uint8Array(0);
  #gen = new Uint8Array(0);
  #driverOf = new Uint8Array(0);
  #lastIn = new Uint32Array(0);
  #lastOut = new Uint32Array(0);
  #pingAt = new Uint32Array(0);
  #next = new Int32Array(0);
  #contexts: (C | undefined)[] = [];
  #drivers: Driver<C>[] = [];
  #driverIndex = new Map<Driver<C>, number>();

  #freeHead = -1;
  #fresh = 0; // slots below this have been used
  #live = 0;
  #inWheel = 0;
  #wheel = new Int32Array(WHEEL_SIZE).fill(-1); // bucket heads
  #tails = new Int32Array(WHEEL_SIZE); // bucket tails, so a bucket runs in the order it was filled
  #hasDeadlines: boolean;
  #stallTicks: number;

  /**
   * Creates a monitor. Nothing runs until a connection is tracked.
   *
   * @param options See {@linkcode MonitorOptions}.
   * @throws {TypeError} When an option has the wrong type or is unknown.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options: MonitorOptions<C> = {}) {
    const opts = objectOrUndefined(options, "") ?? {};
    knownKeys(opts, "", OPTION_KEYS);
    this.keepalive = resolveKeepalive(opts.keepalive);
    const resolution = opts.resolution === undefined
      ? 100
      : parseDuration(opts.resolution, "resolution");
    if (!(resolution >= 1 && resolution <= 60_000)) {
      throw new RangeError(
        `Option "resolution" must be from 1 ms to 60000 ms, got ${resolution} ms`,
      );
    }
    this.resolution = resolution;
    this.#stallTicks = Math.max(10, Math.ceil(1000 / resolution));
    const clock = opts.clock ?? systemClock;
    if (
      typeof clock !== "object" || clock === null || typeof (clock as Clock).now !== "function" ||
      typeof (clock as Clock).setTimeout !== "function" ||
      typeof (clock as Clock).clearTimeout !== "function"
    ) {
      throw new TypeError(
        `Option "clock" must be an object with now(), setTimeout() and clearTimeout(), got ${
          describe(clock)
        }`,
      );
    }
    this.#clock = clock as Clock;
    this.#idleTicks = this.#ticks(opts.idle, "idle");
    this.#idleTimeoutTicks = this.#ticks(opts.idleTimeout, "idleTimeout");
    const heartbeat = objectOrUndefined(opts.heartbeat, "heartbeat");
    if (heartbeat !== undefined) {
      knownKeys(heartbeat, "heartbeat", HEARTBEAT_KEYS);
      if (heartbeat.interval === undefined || heartbeat.timeout === undefined) {
        throw new TypeError(`Option "heartbeat" needs "interval", "timeout" and "send"`);
      }
      this.#pingTicks = this.#ticks(heartbeat.interval, "heartbeat.interval");
      this.#pingTimeoutTicks = this.#ticks(heartbeat.timeout, "heartbeat.timeout");
      this.#send = functionOrUndefined(heartbeat.send, "heartbeat.send");
      if (this.#send === undefined) {
        throw new TypeError(`Option "heartbeat.send" must be a function, got undefined`);
      }
      if (heartbeat.ackOnData !== undefined && typeof heartbeat.ackOnData !== "boolean") {
        throw new TypeError(
          `Option "heartbeat.ackOnData" must be a boolean, got ${describe(heartbeat.ackOnData)}`,
        );
      }
      this.#ackOnData = heartbeat.ackOnData !== false;
    } else {
      this.#pingTicks = 0;
      this.#pingTimeoutTicks = 0;
      this.#ackOnData = true;
    }
    this.#onTransition = functionOrUndefined(opts.onTransition, "onTransition");
    this.#onEnd = functionOrUndefined(opts.onEnd, "onEnd");
    this.#onError = functionOrUndefined(opts.onError, "onError") ?? defaultOnError;
    const ms = (ticks: number) => ticks > 0 ? ticks * resolution : undefined;
    this.policy = Object.freeze({
      idle: ms(this.#idleTicks),
      idleTimeout: ms(this.#idleTimeoutTicks),
      heartbeat: this.#pingTicks > 0
        ? Object.freeze({
          interval: this.#pingTicks * resolution,
          timeout: this.#pingTimeoutTicks * resolution,
        })
        : undefined,
      resolution,
    });
    this.#hasDeadlines = this.#idleTicks > 0 || this.#idleTimeoutTicks > 0 || this.#pingTicks > 0;
    this.#origin = this.#clock.now();
    this.#grow(64);
  }

  /**
   * The worst-case time to declare a vanished peer dead with this monitor's options, assuming the
   * keepalive settings take effect as asked (an adapter's tuning report says whether they did).
   *
   * @returns The bounds and warnings; see {@linkcode detectionBound}.
   */
  bound(): DetectionBound {
    const k = this.keepalive;
    return detectionBound({
      keepalive: k.enabled
        ? { idle: k.idleMs, interval: k.intervalMs, count: k.count, userTimeout: k.userTimeoutMs }
        : false,
      heartbeat: this.policy.heartbeat,
      idleTimeout: this.policy.idleTimeout,
      resolution: this.resolution,
    });
  }

  /** How many connections are tracked (neither dead nor closed). */
  get size(): number {
    return this.#live;
  }

  /**
   * Starts tracking a connection.
   *
   * @param context Kept for callbacks (typically the socket).
   * @param driver How an adapter closes the connection when it is declared dead.
   * @returns The connection's id, for the inputs.
   * @throws {Error} When the monitor is closed.
   * @throws {RangeError} When 16,777,216 connections are already tracked.
   */
  track(context: C, driver?: Driver<C>): ConnectionId {
    if (this.#closed) throw new Error("Cannot track a connection: the monitor is closed");
    let driverIndex = 0;
    if (driver !== undefined) driverIndex = this.#registerDriver(driver);
    // The timer runs while connections are tracked; when it sleeps the wheel is empty and the
    // stale tick can move to now.
    if (this.#timer === undefined && !this.#inTick) this.#tick = this.#currentTick();
    let slot = this.#freeHead;
    if (slot >= 0) {
      this.#freeHead = this.#next[slot];
    } else {
      if (this.#fresh === this.#capacity) {
        if (this.#capacity > SLOT_MASK) {
          throw new RangeError(
            `Cannot track more than ${SLOT_MASK + 1} connections in one monitor`,
          );
        }
        this.#grow(Math.min(this.#capacity * 2, SLOT_MASK + 1));
      }
      slot = this.#fresh++;
      this.#gen[slot] = 1;
    }
    this.#state[slot] = OPEN;
    this.#flags[slot] = 0;
    this.#driverOf[slot] = driverIndex;
    this.#lastIn[slot] = this.#tick;
    this.#lastOut[slot] = this.#tick;
    this.#pingAt[slot] = 0;
    this.#next[slot] = -1;
    this.#contexts[slot] = context;
    this.#live++;
    const wait = this.#evaluate(slot);
    if (wait !== NEVER) this.#insert(slot, wait);
    if (this.#hasDeadlines && this.#timer === undefined && !this.#inTick) this.#schedule();
    return (this.#gen[slot] << SLOT_BITS) | slot;
  }

  /**
   * Data arrived on the connection. O(1), allocation-free.
   *
   * @param id The connection's id.
   */
  received(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (this.#gen[slot] !== id >>> SLOT_BITS) return;
    this.#lastIn[slot] = this.#tick;
    this.#flags[slot] &= ~SENT_LAST;
    if (this.#state[slot] !== OPEN) this.#wake(slot, false);
  }

  /**
   * Data was sent on the connection. O(1), allocation-free.
   *
   * @param id The connection's id.
   */
  sent(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (this.#gen[slot] !== id >>> SLOT_BITS) return;
    this.#lastOut[slot] = this.#tick;
    this.#flags[slot] |= SENT_LAST;
  }

  /**
   * The peer answered a heartbeat ping (counts as received data too).
   *
   * @param id The connection's id.
   */
  acked(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (this.#gen[slot] !== id >>> SLOT_BITS) return;
    this.#lastIn[slot] = this.#tick;
    this.#flags[slot] &= ~SENT_LAST;
    this.#wake(slot, true);
  }

  /**
   * The peer ended its side (FIN). Not a death: heartbeats stop, since no answer can come.
   *
   * @param id The connection's id.
   */
  ended(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (this.#gen[slot] !== id >>> SLOT_BITS || this.#state[slot] >= DEAD) return;
    if (this.#flags[slot] & ENDED) return;
    this.#flags[slot] |= ENDED;
    if (this.#onEnd !== undefined) {
      try {
        this.#onEnd(this.#contexts[slot] as C, id);
      } catch (error) {
        this.#report(error, "onEnd");
      }
    }
  }

  /**
   * The socket reported an error: the connection is dead, for the reason
   * {@linkcode classifyError} gives. Later inputs for it are ignored.
   *
   * @param id The connection's id.
   * @param error What the runtime reported.
   */
  failed(id: ConnectionId, error: unknown): void {
    const slot = id & SLOT_MASK;
    if (this.#gen[slot] !== id >>> SLOT_BITS || this.#state[slot] >= DEAD) return;
    const reason = classifyError(error, {
      userTimeout: (this.keepalive.userTimeoutMs ?? 0) > 0,
      dataInFlight: (this.#flags[slot] & SENT_LAST) !== 0,
    });
    this.#terminate(slot, DEAD, reason, error);
  }

  /**
   * The connection was closed on this side, or closed after the peer ended it: it ends as
   * `closed`, unless it was already declared dead. Later inputs for it are ignored.
   *
   * @param id The connection's id.
   */
  closed(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (this.#gen[slot] !== id >>> SLOT_BITS || this.#state[slot] >= DEAD) return;
    this.#terminate(slot, CLOSED, "local-close", undefined);
  }

  /**
   * The state of a connection.
   *
   * @param id The connection's id.
   * @returns The state, or `undefined` when the id is unknown or its slot was reused.
   */
  state(id: ConnectionId): ConnectionState | undefined {
    const slot = id & SLOT_MASK;
    if (this.#gen[slot] !== id >>> SLOT_BITS || this.#state[slot] === FREE) return undefined;
    return STATE_NAMES[this.#state[slot]];
  }

  /**
   * What the monitor knows about a live connection.
   *
   * @param id The connection's id.
   * @returns The details, or `undefined` when the connection is no longer tracked.
   */
  info(id: ConnectionId): ConnectionInfo | undefined {
    const slot = id & SLOT_MASK;
    if (this.#gen[slot] !== id >>> SLOT_BITS || this.#state[slot] === FREE) return undefined;
    const flags = this.#flags[slot];
    return {
      state: STATE_NAMES[this.#state[slot]],
      lastReceived: this.#timeOf(this.#lastIn[slot]),
      lastSent: this.#timeOf(this.#lastOut[slot]),
      pingOutstanding: (flags & PING_OUT) !== 0,
      ended: (flags & ENDED) !== 0,
    };
  }

  /**
   * Stops the timer and forgets every connection (without closing them). Inputs are ignored
   * afterwards and `track()` throws.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#gen.fill(0);
    this.#contexts = [];
    this.#live = 0;
    this.#inWheel = 0;
    this.#wheel.fill(-1);
  }

  /** Same as {@linkcode LivenessMonitor.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- scheduler ----

  #ticks(value: unknown, option: string): number {
    if (value === undefined) return 0;
    const ms = parseDuration(value, option);
    if (ms < this.resolution || ms > MAX_DURATION_MS) {
      throw new RangeError(
        `Option "${option}" must be from ${this.resolution} ms (the resolution) to ${MAX_DURATION_MS} ms, got ${ms} ms`,
      );
    }
    return Math.ceil(ms / this.resolution);
  }

  #currentTick(): number {
    return Math.floor((this.#clock.now() - this.#origin) / this.resolution);
  }

  #timeOf(tick: number): number {
    // The store keeps ticks modulo 2^32: the most recent tick with these low bits.
    return this.#origin + (this.#tick - ((this.#tick - tick) >>> 0)) * this.resolution;
  }

  #insert(slot: number, wait: number): void {
    if (wait < 1) wait = 1;
    else if (wait >= WHEEL_SIZE) wait = WHEEL_SIZE - 1;
    const bucket = (this.#tick + wait) & WHEEL_MASK;
    this.#next[slot] = -1;
    if (this.#wheel[bucket] < 0) this.#wheel[bucket] = slot;
    else this.#next[this.#tails[bucket]] = slot;
    this.#tails[bucket] = slot;
    if ((this.#flags[slot] & IN_WHEEL) === 0) {
      this.#flags[slot] |= IN_WHEEL;
      this.#inWheel++;
    }
  }

  #schedule(): void {
    const due = this.#origin + (this.#tick + 1) * this.resolution;
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, due - this.#clock.now()));
  }

  #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#closed) return;
    const target = Math.floor((this.#clock.now() - this.#origin) / this.resolution);
    let behind = target - this.#tick;
    if (behind < 0) behind = 0; // fired early: nothing is due yet
    if (behind > this.#stallTicks) {
      // The process was frozen: the time it lost is not the peers' silence.
      this.#origin += (behind - 1) * this.resolution;
      behind = 1;
    }
    this.#inTick = true;
    try {
      for (let i = 0; i < behind && !this.#closed; i++) {
        this.#tick++;
        this.#visitBucket(this.#tick & WHEEL_MASK);
      }
    } finally {
      this.#inTick = false;
    }
    if (this.#closed || this.#timer !== undefined) return;
    if (this.#live > 0) this.#schedule();
    else this.#drain();
  };

  /** Frees the ended slots still on the wheel, so that it is empty while the timer sleeps. */
  #drain(): void {
    for (let bucket = 0; bucket < WHEEL_SIZE && this.#inWheel > 0; bucket++) {
      let slot = this.#wheel[bucket];
      this.#wheel[bucket] = -1;
      while (slot >= 0) {
        const next = this.#next[slot];
        this.#flags[slot] &= ~IN_WHEEL;
        this.#inWheel--;
        this.#free(slot);
        slot = next;
      }
    }
  }

  #visitBucket(bucket: number): void {
    let slot = this.#wheel[bucket];
    this.#wheel[bucket] = -1;
    while (slot >= 0) {
      const next = this.#next[slot];
      this.#visit(slot);
      slot = next;
    }
  }

  #visit(slot: number): void {
    // The slot keeps IN_WHEEL while visited so that a callback's close() cannot free it under us.
    if (this.#state[slot] < DEAD) {
      const driver = this.#drivers[this.#driverOf[slot]];
      if (driver?.sample !== undefined) {
        try {
          driver.sample(this.#contexts[slot] as C, (this.#gen[slot] << SLOT_BITS) | slot);
        } catch (error) {
          this.#report(error, "driver.sample");
        }
      }
    }
    const wait = this.#state[slot] < DEAD ? this.#evaluate(slot) : NEVER;
    if (this.#state[slot] < DEAD && wait !== NEVER) {
      this.#insert(slot, wait);
      return;
    }
    this.#flags[slot] &= ~IN_WHEEL;
    this.#inWheel--;
    if (this.#state[slot] >= DEAD) this.#free(slot);
  }

  /** Acts on whatever is due for a live slot; returns ticks until the next deadline, or NEVER. */
  #evaluate(slot: number): number {
    const tick = this.#tick;
    let wait = NEVER;
    const flags = this.#flags[slot];
    const sinceIn = (tick - this.#lastIn[slot]) >>> 0;
    // A deadline d ticks after an input fires at d + 1 ticks: the input may have come late in its tick.
    if (this.#idleTimeoutTicks > 0) {
      const sinceOut = (tick - this.#lastOut[slot]) >>> 0;
      const quiet = sinceIn < sinceOut ? sinceIn : sinceOut;
      const left = this.#idleTimeoutTicks + 1 - quiet;
      if (left <= 0) {
        this.#terminate(slot, DEAD, "idle-timeout", undefined);
        return NEVER;
      }
      if (left < wait) wait = left;
    }
    if (this.#pingTicks > 0 && (flags & ENDED) === 0) {
      if (flags & PING_OUT) {
        const left = this.#pingTimeoutTicks + 1 - ((tick - this.#pingAt[slot]) >>> 0);
        if (left <= 0) {
          this.#terminate(slot, DEAD, "heartbeat-timeout", undefined);
          return NEVER;
        }
        if (left < wait) wait = left;
      } else {
        const left = this.#pingTicks + 1 - sinceIn;
        if (left <= 0) {
          this.#ping(slot);
          if (this.#state[slot] >= DEAD) return NEVER;
          const timeout = this.#pingTimeoutTicks + 1;
          if (timeout < wait) wait = timeout;
        } else if (left < wait) wait = left;
      }
    }
    if (this.#idleTicks > 0 && this.#state[slot] === OPEN) {
      const left = this.#idleTicks + 1 - sinceIn;
      if (left <= 0) this.#transition(slot, IDLE, "reader-idle");
      else if (left < wait) wait = left;
    }
    return wait;
  }

  #ping(slot: number): void {
    this.#flags[slot] |= PING_OUT;
    this.#pingAt[slot] = this.#tick;
    this.#transition(slot, PROBING, "ping-sent");
    if (this.#state[slot] !== PROBING) return;
    try {
      this.#send!(this.#contexts[slot] as C, (this.#gen[slot] << SLOT_BITS) | slot);
    } catch (error) {
      this.#report(error, "heartbeat.send");
    }
  }

  /** Inbound data or an ack on a slot that is not plainly open. */
  #wake(slot: number, ack: boolean): void {
    const state = this.#state[slot];
    if (state >= DEAD || state === FREE) return;
    if (this.#flags[slot] & PING_OUT) {
      if (!ack && !this.#ackOnData) return;
      this.#flags[slot] &= ~PING_OUT;
    }
    if (state === PROBING) this.#transition(slot, OPEN, "ack");
    else if (state === IDLE) this.#transition(slot, OPEN, "activity");
    // A slot outside the wheel (everything was NEVER) may have a deadline again.
    if ((this.#flags[slot] & IN_WHEEL) === 0 && this.#state[slot] < DEAD) {
      const wait = this.#evaluate(slot);
      if (wait !== NEVER && this.#state[slot] < DEAD) this.#insert(slot, wait);
    }
  }

  #transition(slot: number, to: number, reason: TransitionReason): void {
    const from = this.#state[slot];
    this.#state[slot] = to;
    this.#emit(slot, from, to, reason, undefined);
  }

  #terminate(slot: number, to: number, reason: TransitionReason, error: unknown): void {
    const from = this.#state[slot];
    const context = this.#contexts[slot] as C;
    this.#state[slot] = to;
    this.#flags[slot] &= ~PING_OUT;
    this.#live--;
    this.#emit(slot, from, to, reason, error);
    if (to === DEAD) {
      const driver = this.#drivers[this.#driverOf[slot]];
      if (driver !== undefined) {
        try {
          driver.destroy(context, reason as DeathReason, error);
        } catch (caught) {
          this.#report(caught, "driver.destroy");
        }
      }
    }
    this.#contexts[slot] = undefined;
    if ((this.#flags[slot] & IN_WHEEL) === 0) this.#free(slot);
  }

  #free(slot: number): void {
    if (this.#closed) return;
    const gen = this.#gen[slot];
    this.#gen[slot] = gen >= MAX_GEN ? 1 : gen + 1;
    this.#state[slot] = FREE;
    this.#contexts[slot] = undefined;
    this.#next[slot] = this.#freeHead;
    this.#freeHead = slot;
  }

  #emit(slot: number, from: number, to: number, reason: TransitionReason, error: unknown): void {
    if (this.#onTransition === undefined) return;
    const transition: Transition<C> = {
      id: (this.#gen[slot] << SLOT_BITS) | slot,
      context: this.#contexts[slot] as C,
      from: STATE_NAMES[from],
      to: STATE_NAMES[to],
      reason,
      at: this.#clock.now(),
      ...(error === undefined ? {} : { error }),
    };
    try {
      this.#onTransition(transition);
    } catch (caught) {
      this.#report(caught, "onTransition");
    }
  }

  #report(error: unknown, callback: string): void {
    try {
      this.#onError(error, callback);
    } catch {
      // An error handler that throws has nowhere left to report to.
    }
  }

  #registerDriver(driver: Driver<C>): number {
    const known = this.#driverIndex.get(driver);
    if (known !== undefined) return known;
    if (driver === null || typeof driver !== "object" || typeof driver.destroy !== "function") {
      throw new TypeError(`Argument "driver" must be an object with a destroy() function`);
    }
    if (this.#drivers.length === 0) this.#drivers.push(undefined as unknown as Driver<C>);
    if (this.#drivers.length > 255) throw new RangeError(`Cannot register more than 255 drivers`);
    this.#drivers.push(driver);
    this.#driverIndex.set(driver, this.#drivers.length - 1);
    return this.#drivers.length - 1;
  }

  #grow(capacity: number): void {
    const grow8 = (a: Uint8Array) => {
      const b = new Uint8Array(capacity);
      b.set(a);
      return b;
    };
    const grow32 = (a: Uint32Array) => {
      const b = new Uint32Array(capacity);
      b.set(a);
      return b;
    };
    this.#state = grow8(this.#state);
    this.#flags = grow8(this.#flags);
    this.#gen = grow8(this.#gen);
    this.#driverOf = grow8(this.#driverOf);
    this.#lastIn = grow32(this.#lastIn);
    this.#lastOut = grow32(this.#lastOut);
    if (this.#pingTicks > 0) this.#pingAt = grow32(this.#pingAt);
    const next = new Int32Array(capacity);
    next.set(this.#next);
    this.#next = next;
    this.#capacity = capacity;
  }
}

function defaultOnError(error: unknown, callback: string): void {
  console.error(`socket-liveness: ${callback} threw`, error);
}
