/**
 * The liveness monitor: one small state machine per connection, many connections on one timer.
 *
 * @module
 */

import { type DetectionBound, detectionBound } from "./bound.ts";
import type { Clock } from "./clock.ts";
import { classifyError, DEATH_REASONS, type DeathReason } from "./errors.ts";
import { type KeepaliveSettings, msSpec } from "./keepalive.ts";
import { grown, Suspicion } from "./_suspicion.ts";
import { DriverTable, NO_DRIVER } from "./_drivers.ts";
import { TimingWheel, WHEEL_SIZE } from "./_wheel.ts";
import type {
  CloseReason,
  ConnectionId,
  ConnectionInfo,
  ConnectionState,
  DrainReason,
  Driver,
  IdleEvent,
  IdleKind,
  MonitorEventMap,
  Transition,
  TransitionReason,
} from "./connection.ts";
import type { MonitorOptions, MonitorPolicy, TrackOptions } from "./options.ts";
import { Notice, Notices, type NoticeTarget } from "./_notices.ts";
import type { MonitorStats } from "./stats.ts";
import { type Config, longestInterval, parseOptions } from "./_options.ts";
import { Buckets, DETECT_BOUNDS, RTT_BOUNDS } from "./_histogram.ts";
import { describe } from "./_validate.ts";
import {
  eventDetails,
  type EventListenerLike,
  GuardedEventTarget,
  type ListenerOptions,
  LivenessEvent,
} from "./events.ts";

const FREE = 0;
const CONNECTING = 1;
const OPEN = 2;
const IDLE = 3;
const PROBING = 4;
const SUSPECT = 5;
const DEAD = 6;
const CLOSED = 7;
const STATE_NAMES: readonly ConnectionState[] = [
  "closed",
  "connecting",
  "open",
  "idle",
  "probing",
  "suspect",
  "dead",
  "closed",
];

// Flag bits.
// IN_WHEEL: the scheduler holds the slot — on a wheel bucket, or being worked on by a tick, an input
// or track(). A held slot is never freed (so never reused): whatever a callback does, the code that
// called it still looks at the same connection, and finds it ended at worst. Whoever takes the hold
// settles the slot when done (#settle): back on the wheel, or released and, if ended, freed.
const IN_WHEEL = 1;
const ENDED = 2;
const SENT_LAST = 4; // something was sent since the peer last sent anything
const PING_OUT = 8;
const READER_FIRED = 16; // an idle event of that kind fired at some point (see #firedAt)
const WRITER_FIRED = 32;
const ALL_FIRED = 64;
// This side ended its side before the peer's FIN came: a close is then ours, not the peer's. (A
// slot winding down under max-idle / max-age has a non-zero #drainWhy instead of a bit here: the
// byte is full.)
const LOCAL_END = 128;

const SLOT_BITS = 24;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
const SLOT_SPACE = 2 ** SLOT_BITS;
// An id is generation × 2^24 + slot. A slot is retired after its 65,535th connection rather than
// wrap to generation 1, so no id is ever handed out twice and a late input (a 'close' after the
// adapter's destroy) can never reach a later connection. The cost: one slot (about 30 bytes) per
// 65,535 connections tracked.
const MAX_GEN = 65_535;
const MAX_WARNINGS = 64;
// The longest a timer callback works before it yields to the event loop (see #visitList).
const SLICE_MS = 1;
const NEVER = 0xffffffff;
const REASON_INDEX = Object.fromEntries(
  DEATH_REASONS.map((reason, index) => [reason, index]),
) as Record<DeathReason, number>;
const CLOSE_REASONS: readonly CloseReason[] = ["local-close", "peer-close", "max-idle", "max-age"];
const CLOSE_INDEX = Object.fromEntries(
  CLOSE_REASONS.map((reason, index) => [reason, index]),
) as Record<CloseReason, number>;

/**
 * Tracks the liveness of many connections on one shared timer.
 *
 * Inputs are cheap: {@linkcode LivenessMonitor.received} and {@linkcode LivenessMonitor.sent} write
 * the current tick into a typed array and allocate nothing. Deadlines live on a timing wheel that is
 * visited lazily: a tick looks only at the connections whose deadline may have come, and re-files
 * those that were active since. A tick late by more than a second (the process itself was frozen)
 * does not count against peers: the monitor's clock skips the stall. Features that are not
 * configured allocate nothing per connection.
 *
 * Callback order for a death: `onTransition`, then `transition` listeners, then the driver's
 * `destroy`. Callbacks and listeners may call any method of the monitor; what they cause is told
 * after the event they were told of, so every observer sees events in the order they happened.
 *
 * Besides the callback options, the monitor is an `EventTarget` (see {@linkcode MonitorEventMap}),
 * and {@linkcode LivenessMonitor.transitions} iterates over state changes.
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
export class LivenessMonitor<C = unknown> extends GuardedEventTarget {
  /** The validated keepalive settings that adapters apply. */
  readonly keepalive: KeepaliveSettings;
  /** The scheduler's tick in milliseconds. */
  readonly resolution: number;
  /** The application deadlines in force, in milliseconds. */
  readonly policy: MonitorPolicy;
  /** Whether adapters are asked to report the kernel's keepalive probes (`watchKernel`). */
  readonly watchKernel: boolean;

  #cfg: Config<C>;
  #clock: Clock;
  #origin: number;
  #tick = 0; // never wraps; the store keeps its low 32 bits and ages are taken modulo 2^32
  #timer: unknown = undefined;
  #inTick = false;
  #resume = -1; // the first slot a tick cut short by its time slice has yet to visit
  #tickNow = 0; // the clock, read once per tick
  #closed = false;
  #hasDeadlines: boolean;
  #soonest: number; // ticks: no deadline of an open connection comes sooner after its start
  #stallTicks: number;
  #onError: (error: unknown, callback: string) => void;
  #signal: AbortSignal | undefined;
  #warned = new Set<string>();
  #notices: Notices<C>;

  // The store: one entry per slot. Optional features get arrays only when configured.
  #capacity = 0;
  #state = new Uint8Array(0);
  #flags = new Uint8Array(0);
  #gen = new Uint16Array(0);
  #driverOf = new Uint8Array(0);
  #lastIn = new Uint32Array(0);
  #lastOut = new Uint32Array(0);
  #next = new Int32Array(0);
  #contexts: (C | undefined)[] = [];
  #pingAt = new Uint32Array(0); // heartbeat: tick of the outstanding ping
  #pingMs = new Float64Array(0); // heartbeat: clock time of the outstanding ping (round trips)
  #pingWait = new Uint32Array(0); // heartbeat with jitter: this connection's next interval in ticks
  #firedAt = new Uint32Array(0); // idle events: 3 entries per slot (reader, writer, all)
  #ageDue = new Float64Array(0); // max age: tick at which the connection is too old (any size)
  #drainAt = new Uint32Array(0); // max idle / age: tick at which winding down began
  #drainWhy = new Uint8Array(0); // 1 = max-idle, 2 = max-age
  #suspicion: Suspicion | undefined; // φ's samples and deadlines, when configured
  #peerPingAt = new Uint32Array(0); // enforcement: tick of the peer's last ping
  #strikes = new Uint8Array(0);
  #drivers = new DriverTable<C>(); // #driverOf holds each slot's byte in it

  #freeHead = -1;
  #fresh = 0; // slots below this have been used
  #live = 0;
  #inWheel = 0;
  #wheel = new TimingWheel();

  // Statistics.
  #stateCount = new Float64Array(8);
  #tracked = 0;
  #closedCount = 0;
  #pings = 0;
  #deaths = new Float64Array(DEATH_REASONS.length);
  #closes = new Float64Array(CLOSE_REASONS.length);
  #detect = new Buckets(DETECT_BOUNDS);
  #rtt = new Buckets(RTT_BOUNDS);

  /**
   * Creates a monitor. Nothing runs until a connection is tracked.
   *
   * @param options See {@linkcode MonitorOptions}.
   * @throws {TypeError} When an option has the wrong type or is unknown.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options: MonitorOptions<C> = {}) {
    super();
    const cfg = parseOptions(options);
    this.#cfg = cfg;
    this.keepalive = cfg.keepalive;
    this.resolution = cfg.resolution;
    this.watchKernel = cfg.watchKernelIdle > 0;
    this.#clock = cfg.clock;
    this.#onError = cfg.onError ?? defaultOnError;
    this.#stallTicks = Math.max(10, Math.ceil(1000 / cfg.resolution));
    const ms = (ticks: number) => ticks > 0 ? ticks * cfg.resolution : undefined;
    this.policy = Object.freeze({
      idle: ms(cfg.idle),
      idleTimeout: ms(cfg.idleTimeout),
      heartbeat: cfg.heartbeatInterval > 0
        ? Object.freeze({
          interval: longestInterval(cfg.heartbeatInterval, cfg.heartbeatJitter) * cfg.resolution,
          timeout: cfg.heartbeatTimeout * cfg.resolution,
          ...(cfg.heartbeatWhen === undefined ? {} : { when: cfg.heartbeatWhen }),
        })
        : undefined,
      resolution: cfg.resolution,
    });
    this.#hasDeadlines = cfg.idle > 0 || cfg.writerIdle > 0 || cfg.allIdle > 0 ||
      cfg.idleTimeout > 0 || cfg.maxIdle > 0 || cfg.maxAge > 0 || cfg.heartbeatInterval > 0 ||
      cfg.suspicion !== undefined || cfg.pingEnforcement !== undefined || cfg.watchKernelIdle > 0;
    this.#soonest = soonestDeadline(cfg);
    this.#suspicion = cfg.suspicion === undefined
      ? undefined
      : new Suspicion(cfg.suspicion, cfg.resolution);
    this.#notices = new Notices(cfg, new LivenessMonitor.#NoticesOf(this));
    this.#origin = this.#clock.now();
    this.#grow(cfg.capacity);
    this.#signal = cfg.signal;
    if (cfg.signal?.aborted) this.close();
    else cfg.signal?.addEventListener("abort", this.#onAbort);
  }

  #onAbort = (): void => this.close();

  /**
   * What the notices need of a monitor, in methods every monitor shares. Closures made in each
   * monitor's constructor were new functions to V8 each time: the code it had compiled for one
   * monitor's death path was thrown away at the next monitor's first death ("wrong call target"
   * in --trace-deopt on Node 26, one part of what held that tick 2-5 ms).
   */
  static #NoticesOf = class NoticesOf<T> implements NoticeTarget {
    #monitor: LivenessMonitor<T>;
    constructor(monitor: LivenessMonitor<T>) {
      this.#monitor = monitor;
    }
    closed(): boolean {
      return this.#monitor.#closed;
    }
    listened(type: string): boolean {
      return this.#monitor.listened(type);
    }
    dispatch(event: Event): void {
      this.#monitor.dispatchEvent(event);
    }
    report(error: unknown, callback: string): void {
      this.#monitor.#report(error, callback);
    }
  };

  /**
   * Adds an event listener; see {@linkcode MonitorEventMap} for the types. A listener that throws is
   * reported to `onError` (as `"<type>" listener`) and changes nothing else.
   *
   * @param type The event's type.
   * @param listener Called with the event; its `detail` says what happened.
   * @param options `EventTarget`'s options (`once`, `signal`, `capture`).
   */
  override addEventListener<K extends keyof MonitorEventMap<C>>(
    type: K,
    listener: (this: LivenessMonitor<C>, event: MonitorEventMap<C>[K]) => void,
    options?: boolean | ListenerOptions,
  ): void;
  /**
   * Adds a listener for any other type, as `EventTarget` has it.
   *
   * @param type The event's type.
   * @param listener A function or an object with `handleEvent`.
   * @param options `EventTarget`'s options.
   */
  override addEventListener(
    type: string,
    listener: EventListenerLike | null,
    options?: boolean | ListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerLike | null,
    options?: boolean | ListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes an event listener.
   *
   * @param type The event's type.
   * @param listener The listener as it was added.
   * @param options Its `capture` flag, as when it was added.
   */
  override removeEventListener<K extends keyof MonitorEventMap<C>>(
    type: K,
    listener: (this: LivenessMonitor<C>, event: MonitorEventMap<C>[K]) => void,
    options?: boolean | ListenerOptions,
  ): void;
  /**
   * Removes a listener for any other type, as `EventTarget` has it.
   *
   * @param type The event's type.
   * @param listener A function or an object with `handleEvent`.
   * @param options `EventTarget`'s options.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerLike | null,
    options?: boolean | ListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerLike | null,
    options?: boolean | ListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }

  /**
   * The state changes from now on, as an async iterator: it ends when the monitor closes, when
   * `signal` aborts, or when the loop breaks. Changes that come faster than the loop takes them
   * wait in a queue; none is dropped.
   *
   * @example Log every death
   * ```ts
   * import { LivenessMonitor, ManualClock } from "../mod.ts";
   * import assert from "node:assert/strict";
   *
   * const clock = new ManualClock();
   * const monitor = new LivenessMonitor<string>({ clock, idleTimeout: "1s" });
   * const seen: string[] = [];
   * const done = (async () => {
   *   for await (const t of monitor.transitions()) seen.push(`${t.context}: ${t.to} (${t.reason})`);
   * })();
   * monitor.track("a");
   * clock.advance(2_000);
   * monitor.close(); // ends the loop
   * await done;
   * assert.deepEqual(seen, ["a: dead (idle-timeout)"]);
   * ```
   *
   * @param options `signal` ends the iteration when aborted.
   * @returns The iterator.
   */
  transitions(options: { signal?: AbortSignal } = {}): AsyncIterableIterator<Transition<C>> {
    return eventDetails(this, "transition", "close", this.#closed, options.signal);
  }

  /**
   * After close() no listener is called but those of the `close` event.
   *
   * @param type The event's type.
   * @returns Whether listeners of `type` are called now.
   */
  protected override delivers(type: string): boolean {
    return !this.#closed || type === "close";
  }

  /**
   * Reports a listener that threw to `onError`, as `"<type>" listener`.
   *
   * @param error What was thrown.
   * @param type The event type the listener was for.
   */
  protected override listenerFailed(error: unknown, type: string): void {
    this.#report(error, `"${type}" listener`);
  }

  /**
   * The worst-case time to declare a vanished peer dead with this monitor's options, assuming the
   * keepalive settings take effect as asked (an adapter's tuning report says whether they did).
   *
   * @returns The bounds and warnings; see {@linkcode detectionBound}.
   */
  bound(): DetectionBound {
    const k = this.keepalive;
    const bound = detectionBound({
      keepalive: k.enabled
        ? {
          idle: msSpec(k.idleMs),
          interval: msSpec(k.intervalMs),
          count: k.count,
          userTimeout: msSpec(k.userTimeoutMs),
        }
        : false,
      heartbeat: this.policy.heartbeat,
      idleTimeout: this.policy.idleTimeout,
      resolution: this.resolution,
    });
    // What the keepalive settings rounded is known only here: the bound was given whole values.
    if (k.adjustments.length === 0) return bound;
    return Object.freeze({
      ...bound,
      warnings: Object.freeze([...k.adjustments, ...bound.warnings]),
    });
  }

  /**
   * Tells the user something is not as asked, once per distinct text: to `onWarning` and `warning`
   * listeners, or with neither, through `console.warn`. Adapters call it when keepalive settings
   * could not be applied, so a missing FFI or permission is heard, not only written in a report.
   * After 64 distinct warnings one more says that the rest are not shown.
   *
   * @param message What is wrong and what it costs, in plain words.
   * @throws {TypeError} When `message` is not a non-empty string.
   */
  warn(message: string): void {
    if (typeof message !== "string" || message === "") {
      throw new TypeError(
        `Argument "message" must be a non-empty string, got ${describe(message)}`,
      );
    }
    if (this.#closed || this.#warned.has(message) || this.#warned.size > MAX_WARNINGS) return;
    this.#warned.add(message);
    const text = this.#warned.size > MAX_WARNINGS
      ? `more than ${MAX_WARNINGS} distinct warnings: the rest are not shown`
      : message;
    if (!this.#notices.wanted(Notice.Warning)) {
      console.warn(`socket-liveness: ${text}`);
      return;
    }
    this.#notices.tell(Notice.Warning, text);
  }

  /** Whether {@linkcode LivenessMonitor.close} was called: a closed monitor tracks nothing more. */
  get isClosed(): boolean {
    return this.#closed;
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
   * @param options `connecting: true` for a connection not yet established.
   * @returns The connection's id, for the inputs.
   * @throws {Error} When the monitor is closed.
   * @throws {TypeError} When `driver` or `options` is malformed.
   * @throws {RangeError} When 16,777,216 connections are already tracked.
   */
  track(context: C, driver?: Driver<C>, options?: TrackOptions): ConnectionId {
    if (this.#closed) throw new Error("Cannot track a connection: the monitor is closed");
    // A driver in use was checked when it came first: an adapter hands the same one every time.
    if (driver !== undefined && !this.#drivers.known(driver)) checkDriver(driver);
    const connecting = trackConnecting(options);
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
        // A quarter more, in steps of 1024 slots: little slack at scale, few copies on the way.
        const next = Math.ceil((this.#capacity * 1.25) / 1024) * 1024;
        this.#grow(Math.min(next, SLOT_MASK + 1));
      }
      slot = this.#fresh++;
      this.#gen[slot] = 1;
    }
    this.#driverOf[slot] = driver === undefined ? NO_DRIVER : this.#drivers.use(driver, slot);
    const state = connecting ? CONNECTING : OPEN;
    this.#state[slot] = state;
    this.#flags[slot] = 0;
    if (this.#cfg.maxIdle > 0 || this.#cfg.maxAge > 0) this.#drainWhy[slot] = 0;
    this.#next[slot] = -1;
    this.#contexts[slot] = context;
    this.#begin(slot);
    this.#live++;
    this.#tracked++;
    this.#stateCount[state]++;
    const id = this.#idOf(slot);
    // Deadlines due at once (a zero grace, a ping) run callbacks: hold the slot through them.
    this.#hold(slot);
    this.#settle(slot);
    if (
      (this.#hasDeadlines || connecting) && this.#timer === undefined && !this.#inTick &&
      !this.#closed
    ) {
      this.#schedule();
    }
    return id;
  }

  /**
   * A connection tracked as `connecting` was established: it is `open`, and its deadlines (idle,
   * heartbeat, max age, φ) count from now.
   *
   * @param id The connection's id.
   */
  connected(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (!this.#owns(slot, id) || this.#state[slot] !== CONNECTING) return;
    this.#begin(slot);
    const held = this.#hold(slot);
    this.#transition(slot, OPEN, "connected");
    if (held) this.#settle(slot);
  }

  /** Starts a connection's clocks: at tracking, or once a connecting one is established. */
  #begin(slot: number): void {
    const cfg = this.#cfg;
    const tick = this.#tick;
    this.#lastIn[slot] = tick;
    this.#lastOut[slot] = tick;
    if (cfg.heartbeatJitter > 0) {
      this.#pingWait[slot] = this.#jittered(cfg.heartbeatInterval, cfg.heartbeatJitter);
    }
    // No ping yet, and `when` never said no: as if the last ping were long ago.
    if (cfg.heartbeatInterval > 0) this.#pingAt[slot] = tick - 0x7fffffff;
    if (cfg.maxAge > 0) {
      this.#ageDue[slot] = tick + this.#jittered(cfg.maxAge, cfg.maxAgeJitter) + 1;
    }
    this.#suspicion?.reset(slot, this.#clock.now(), tick, this.resolution);
    if (cfg.pingEnforcement !== undefined) {
      this.#strikes[slot] = 0;
      this.#peerPingAt[slot] = tick - cfg.pingEnforcement.minInterval - 1;
    }
  }

  /**
   * Data arrived on the connection. O(1), allocation-free.
   *
   * @param id The connection's id.
   */
  received(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (!this.#owns(slot, id)) return;
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
    if (!this.#owns(slot, id)) return;
    this.#lastOut[slot] = this.#tick;
    this.#flags[slot] |= SENT_LAST;
  }

  /**
   * The peer answered a heartbeat ping (counts as received data too, and as an arrival for φ).
   *
   * @param id The connection's id.
   */
  acked(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (!this.#owns(slot, id) || this.#state[slot] >= DEAD) return;
    this.#lastIn[slot] = this.#tick;
    this.#flags[slot] &= ~SENT_LAST;
    this.#suspicion?.arrival(slot, this.#clock.now(), this.#tick, this.resolution);
    this.#wake(slot, true);
  }

  /**
   * The peer sent a heartbeat of its own (counts as received data, and as an arrival for φ).
   *
   * @param id The connection's id.
   */
  beat(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (!this.#owns(slot, id) || this.#state[slot] >= DEAD) return;
    this.#suspicion?.arrival(slot, this.#clock.now(), this.#tick, this.resolution);
    this.received(id);
  }

  /**
   * The peer pinged us. With `pingEnforcement`, a ping sooner than `minInterval` after the previous
   * one, with no data in between, is a strike; past `maxStrikes`, `onTooManyPings` is called (the
   * user may then close with gRPC's "too_many_pings"). Counts as received data.
   *
   * @param id The connection's id.
   * @returns `false` when this ping exceeded the strikes, `true` otherwise.
   */
  pinged(id: ConnectionId): boolean {
    const slot = id & SLOT_MASK;
    if (!this.#owns(slot, id) || this.#state[slot] >= DEAD) return true;
    if (this.#state[slot] === CONNECTING) {
      // The ping establishes it first (its clocks start), so that the ping itself still counts.
      this.received(id);
      if (!this.#owns(slot, id) || this.#state[slot] >= DEAD) return true;
    }
    const enforcement = this.#cfg.pingEnforcement;
    let allowed = true;
    if (enforcement !== undefined) {
      const tick = this.#tick;
      const sincePing = (tick - this.#peerPingAt[slot]) >>> 0;
      // Data in either direction since the previous ping resets the strikes, as in gRPC.
      const flowed = ((tick - this.#lastOut[slot]) >>> 0) < sincePing ||
        ((tick - this.#lastIn[slot]) >>> 0) < sincePing;
      if (flowed) this.#strikes[slot] = 0;
      if (sincePing < enforcement.minInterval && this.#strikes[slot] < 255) {
        this.#strikes[slot]++;
        allowed = this.#strikes[slot] <= enforcement.maxStrikes;
      }
      this.#peerPingAt[slot] = tick;
    }
    this.received(id);
    // Last, so that whatever the callback does (close, track) no work on this slot follows it.
    if (!allowed && this.#owns(slot, id) && this.#state[slot] < DEAD) {
      this.#notices.tell(Notice.TooManyPings, this.#contexts[slot], id);
    }
    return allowed;
  }

  /**
   * The kernel's count of unanswered keepalive probes (`tcpi_probes`), as an adapter reads it: above
   * 0 an open or idle connection becomes `probing` (reason `keepalive-probe`); back at 0 with no ping
   * awaited, it is `open` again (reason `ack`).
   *
   * @param id The connection's id.
   * @param probes Unanswered probes, an integer from 0 to 255 (`tcpi_probes` is one byte).
   * @throws {RangeError} When `probes` is not an integer from 0 to 255.
   */
  keepaliveProbes(id: ConnectionId, probes: number): void {
    if (!Number.isInteger(probes) || probes < 0 || probes > 255) {
      throw new RangeError(
        `Argument "probes" must be an integer from 0 to 255, got ${describe(probes)}`,
      );
    }
    const slot = id & SLOT_MASK;
    if (!this.#owns(slot, id) || this.#state[slot] >= DEAD) return;
    const state = this.#state[slot];
    if (probes > 0) {
      if (state === OPEN || state === IDLE) this.#transition(slot, PROBING, "keepalive-probe");
    } else if (state === PROBING && (this.#flags[slot] & PING_OUT) === 0) {
      this.#transition(slot, OPEN, "ack");
      // Answered probes are no data: quiet for the idle period, it is idle again at once.
      const idle = this.#cfg.idle;
      const quiet = (this.#tick - this.#lastIn[slot]) >>> 0;
      if (idle > 0 && this.#state[slot] === OPEN && quiet > idle) {
        this.#transition(slot, IDLE, "reader-idle");
      }
    }
  }

  /**
   * The peer ended its side (FIN). Not a death: no new ping is sent, since no answer could come
   * (one already out must still be answered in time). Unless this side ended first
   * ({@linkcode LivenessMonitor.endedLocally}), the close that follows is the peer's
   * (`peer-close`).
   *
   * @param id The connection's id.
   */
  ended(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (!this.#owns(slot, id) || this.#state[slot] >= DEAD) return;
    if (this.#flags[slot] & ENDED) return;
    // No new ping after the peer's FIN: no answer could come. A ping already out must still be
    // answered in time (a peer that half-closes then goes silent is dead by heartbeat timeout).
    this.#flags[slot] |= ENDED;
    this.#notices.tell(Notice.End, this.#contexts[slot], id);
  }

  /**
   * This side ended its side of the connection (sent its FIN): when the peer's FIN comes after it,
   * the close that follows is still this side's (`local-close`), not the peer's.
   *
   * @param id The connection's id.
   */
  endedLocally(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (!this.#owns(slot, id) || this.#state[slot] >= DEAD) return;
    if ((this.#flags[slot] & ENDED) === 0) this.#flags[slot] |= LOCAL_END;
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
    if (!this.#owns(slot, id) || this.#state[slot] >= DEAD) return;
    // An adapter that samples activity reports it now: whether data was in flight decides the reason.
    const held = this.#hold(slot);
    this.#sample(slot);
    if (this.#state[slot] < DEAD) {
      let reason = classifyError(error, {
        userTimeout: (this.keepalive.userTimeoutMs ?? 0) > 0,
        dataInFlight: (this.#flags[slot] & SENT_LAST) !== 0,
      });
      // Before the connection was established, a time-out is the SYN's, not keepalive's.
      const timedOut = reason === "keepalive-timeout" || reason === "user-timeout";
      if (timedOut && this.#state[slot] === CONNECTING) reason = "connect-timeout";
      this.#terminate(slot, DEAD, reason, error);
    }
    if (held) this.#settle(slot);
  }

  /**
   * The connection was closed on this side, or closed after the peer ended it: it ends as
   * `closed`, unless it was already declared dead. Later inputs for it are ignored.
   *
   * @param id The connection's id.
   */
  closed(id: ConnectionId): void {
    const slot = id & SLOT_MASK;
    if (!this.#owns(slot, id) || this.#state[slot] >= DEAD) return;
    const byPeer = (this.#flags[slot] & (ENDED | LOCAL_END)) === ENDED;
    this.#terminate(slot, CLOSED, byPeer ? "peer-close" : "local-close", undefined);
  }

  /**
   * The state of a connection.
   *
   * @param id The connection's id.
   * @returns The state, or `undefined` when the id is unknown or its connection has ended: an
   * ended connection's id is spent once its end was told (inside the callbacks of that end it is
   * still `dead` or `closed`).
   */
  state(id: ConnectionId): ConnectionState | undefined {
    const slot = id & SLOT_MASK;
    if (!this.#owns(slot, id) || this.#state[slot] === FREE) return undefined;
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
    if (!this.#owns(slot, id) || this.#state[slot] === FREE) return undefined;
    const flags = this.#flags[slot];
    return {
      state: STATE_NAMES[this.#state[slot]],
      lastReceived: this.#timeOf(this.#lastIn[slot]),
      lastSent: this.#timeOf(this.#lastOut[slot]),
      pingOutstanding: (flags & PING_OUT) !== 0,
      ended: (flags & ENDED) !== 0,
      draining: this.#draining(slot),
    };
  }

  /**
   * φ of a connection now: how unlikely its current silence is, given the arrivals seen so far.
   *
   * @param id The connection's id.
   * @returns φ, or `undefined` without `suspicion` or for an unknown id.
   */
  phi(id: ConnectionId): number | undefined {
    const slot = id & SLOT_MASK;
    const suspicion = this.#suspicion;
    if (suspicion === undefined || !this.#owns(slot, id)) return undefined;
    if (this.#state[slot] === FREE) return undefined;
    return suspicion.phiAt(slot, this.#clock.now());
  }

  /**
   * A snapshot of the monitor's statistics: connections per state, deaths by reason, time-to-detect
   * and heartbeat round-trip histograms, and the options in force.
   *
   * @returns The snapshot (see `toPrometheus` for the text exposition).
   */
  stats(): MonitorStats {
    const deaths = {} as Record<DeathReason, number>;
    DEATH_REASONS.forEach((reason, index) => deaths[reason] = this.#deaths[index]);
    const closes = {} as Record<CloseReason, number>;
    CLOSE_REASONS.forEach((reason, index) => closes[reason] = this.#closes[index]);
    const cfg = this.#cfg;
    const k = this.keepalive;
    const ms = (ticks: number) => ticks > 0 ? ticks * cfg.resolution : null;
    return {
      states: {
        connecting: this.#stateCount[CONNECTING],
        open: this.#stateCount[OPEN],
        idle: this.#stateCount[IDLE],
        probing: this.#stateCount[PROBING],
        suspect: this.#stateCount[SUSPECT],
      },
      tracked: this.#tracked,
      closed: this.#closedCount,
      closes,
      deaths,
      pings: this.#pings,
      timeToDetect: this.#detect.snapshot(),
      heartbeatRtt: this.#rtt.snapshot(),
      options: {
        resolution: cfg.resolution,
        idle: ms(cfg.idle),
        idleTimeout: ms(cfg.idleTimeout),
        heartbeatInterval: ms(cfg.heartbeatInterval),
        heartbeatTimeout: ms(cfg.heartbeatTimeout),
        keepaliveIdle: k.enabled ? k.idleMs ?? null : null,
        keepaliveInterval: k.enabled ? k.intervalMs ?? null : null,
        keepaliveCount: k.enabled ? k.count ?? null : null,
        userTimeout: k.userTimeoutMs ?? null,
      },
    };
  }

  /**
   * Stops the timer and forgets every connection (without closing them). Inputs are ignored
   * afterwards and `track()` throws.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#gen.fill(0);
    // Every slot reads as ended: whatever a callback was in the middle of stops at its next check.
    this.#state.fill(CLOSED);
    this.#contexts = [];
    this.#drivers = new DriverTable();
    this.#live = 0;
    this.#inWheel = 0;
    this.#wheel.clear();
    this.#stateCount.fill(0);
    this.#notices.clear();
    this.#resume = -1;
    if (this.listened("close")) this.dispatchEvent(new LivenessEvent("close", undefined));
  }

  /** Same as {@linkcode LivenessMonitor.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- scheduler ----

  /** The time now: read once per tick while one runs (deaths in bulk read it once), else fresh. */
  #now(): number {
    return this.#inTick ? this.#tickNow : this.#clock.now();
  }

  #currentTick(): number {
    return Math.floor((this.#clock.now() - this.#origin) / this.resolution);
  }

  #timeOf(tick: number): number {
    // The store keeps ticks modulo 2^32: the most recent tick with these low bits.
    return this.#origin + (this.#tick - ((this.#tick - tick) >>> 0)) * this.resolution;
  }

  #jittered(ticks: number, jitter: number): number {
    if (jitter === 0) return ticks;
    const spread = ticks * jitter * (2 * this.#cfg.random() - 1);
    return Math.max(1, Math.round(ticks + spread));
  }

  /** Takes the scheduler's hold on a slot; `false` when someone (the wheel, a caller) has it. */
  #hold(slot: number): boolean {
    if (this.#flags[slot] & IN_WHEEL) return false;
    this.#flags[slot] |= IN_WHEEL;
    this.#inWheel++;
    return true;
  }

  /**
   * Ends the hold on a slot that is held and on no bucket: a live slot with a deadline goes on the
   * wheel (keeping the hold); any other is released, and freed if its connection ended.
   */
  #settle(slot: number): void {
    const wait = this.#state[slot] < DEAD ? this.#evaluate(slot) : NEVER;
    if (this.#state[slot] < DEAD && wait !== NEVER) {
      this.#wheel.link(this.#next, slot, this.#tick, wait);
      return;
    }
    this.#flags[slot] &= ~IN_WHEEL;
    this.#inWheel--;
    if (this.#state[slot] >= DEAD) this.#free(slot);
  }

  #schedule(): void {
    const due = this.#origin + (this.#tick + 1) * this.resolution;
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, due - this.#clock.now()));
  }

  #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#closed) return;
    const now = this.#clock.now();
    this.#tickNow = now;
    const sliceStart = cpuNow();
    this.#inTick = true;
    let sliced = false;
    try {
      // A tick cut short by its time slice goes on first, in the same tick: its verdicts wait for
      // one turn of the event loop, never for the next tick.
      if (this.#resume >= 0) sliced = this.#visitList(this.#resume, sliceStart);
      if (!sliced) {
        const target = Math.floor((now - this.#origin) / this.resolution);
        let behind = target - this.#tick;
        if (behind < 0) behind = 0; // fired early: nothing is due yet
        if (behind > this.#stallTicks) {
          // The process was frozen: the time it lost is not the peers' silence.
          this.#origin += (behind - 1) * this.resolution;
          behind = 1;
        }
        for (let i = 0; i < behind && !this.#closed && !sliced; i++) {
          this.#tick++;
          sliced = this.#visitList(this.#wheel.take(this.#tick), sliceStart);
        }
      }
    } finally {
      this.#inTick = false;
    }
    if (this.#closed || this.#timer !== undefined) return;
    if (sliced) this.#timer = this.#clock.setTimeout(this.#onTimer, 0);
    else if (this.#live > 0) this.#schedule();
    else this.#drain();
  };

  /** Frees the ended slots still on the wheel, so that it is empty while the timer sleeps. */
  #drain(): void {
    for (let tick = 0; tick < WHEEL_SIZE && this.#inWheel > 0; tick++) {
      let slot = this.#wheel.take(tick);
      while (slot >= 0) {
        const next = this.#next[slot];
        this.#flags[slot] &= ~IN_WHEEL;
        this.#inWheel--;
        this.#free(slot);
        slot = next;
      }
    }
  }

  /**
   * Visits a bucket's list from `slot` on. Past the time slice (many deaths at once, each running
   * callbacks), it stops, keeps the rest in #resume and returns `true`. The rest stay held
   * (IN_WHEEL) and linked through #next, which nothing else writes while a slot is held.
   */
  #visitList(slot: number, sliceStart: number): boolean {
    let visited = 0;
    while (slot >= 0 && !this.#closed) {
      const next = this.#next[slot];
      this.#visit(slot);
      slot = next;
      if ((++visited & 15) === 0 && slot >= 0 && cpuNow() - sliceStart > SLICE_MS) {
        this.#resume = slot;
        return true;
      }
    }
    this.#resume = -1;
    return false;
  }

  #visit(slot: number): void {
    // Off its bucket, the slot is still held (IN_WHEEL): a callback's closed() cannot free it.
    if (this.#state[slot] < DEAD) this.#sample(slot);
    this.#settle(slot);
  }

  /** Whether `id` names the connection now in `slot` (ids never have generation 0). */
  #owns(slot: number, id: ConnectionId): boolean {
    return this.#gen[slot] !== 0 && this.#idOf(slot) === id;
  }

  #idOf(slot: number): ConnectionId {
    const gen = this.#gen[slot];
    // Below generation 128 an id fits 31 bits: integer arithmetic, which JavaScriptCore keeps fast
    // (the double path made Bun's marks 10× slower).
    return gen < 128 ? (gen << SLOT_BITS) | slot : gen * SLOT_SPACE + slot;
  }

  /** Lets the slot's driver report activity it samples rather than sees. */
  #sample(slot: number): void {
    const driver = this.#driverAt(slot);
    if (driver?.sample === undefined) return;
    try {
      driver.sample(this.#contexts[slot] as C, this.#idOf(slot));
    } catch (error) {
      this.#report(error, "driver.sample");
    }
  }

  /** Acts on whatever is due for a live slot; returns ticks until the next deadline, or NEVER. */
  #evaluate(slot: number): number {
    const cfg = this.#cfg;
    const tick = this.#tick;
    if (this.#state[slot] === CONNECTING) {
      // Only the connect timeout runs before the connection is established. A slot cannot move up
      // the wheel when connected() comes: look again before the soonest deadline it can then have.
      const left = cfg.connectTimeout + 1 - ((tick - this.#lastIn[slot]) >>> 0);
      if (left > 0) return left < this.#soonest ? left : this.#soonest;
      this.#terminate(slot, DEAD, "connect-timeout", undefined);
      return NEVER;
    }
    let wait = NEVER;
    const sinceIn = (tick - this.#lastIn[slot]) >>> 0;
    const sinceOut = (tick - this.#lastOut[slot]) >>> 0;
    const quiet = sinceIn < sinceOut ? sinceIn : sinceOut;
    // A deadline d ticks after an input fires at d + 1 ticks: the input may have come late in its tick.
    if (cfg.idleTimeout > 0) {
      const left = cfg.idleTimeout + 1 - quiet;
      if (left <= 0) {
        this.#terminate(slot, DEAD, "idle-timeout", undefined);
        return NEVER;
      }
      if (left < wait) wait = left;
    }
    if (cfg.heartbeatInterval > 0 && (this.#flags[slot] & PING_OUT) !== 0) {
      const left = cfg.heartbeatTimeout + 1 - ((tick - this.#pingAt[slot]) >>> 0);
      if (left <= 0) {
        this.#terminate(slot, DEAD, "heartbeat-timeout", undefined);
        return NEVER;
      }
      // An answer can come any time and make the next ping due before this timeout: look again
      // within one interval (a slot cannot move up the wheel when the answer comes).
      const interval = cfg.heartbeatJitter > 0 ? this.#pingWait[slot] : cfg.heartbeatInterval;
      const look = left < interval + 1 ? left : interval + 1;
      if (look < wait) wait = look;
    }
    if (cfg.maxIdle > 0 || cfg.maxAge > 0) {
      const left = this.#drainStep(slot, quiet);
      if (this.#state[slot] >= DEAD) return NEVER;
      if (left < wait) wait = left;
    }
    if (cfg.heartbeatInterval > 0 && (this.#flags[slot] & (PING_OUT | ENDED)) === 0) {
      const interval = cfg.heartbeatJitter > 0 ? this.#pingWait[slot] : cfg.heartbeatInterval;
      // onDrain may have brought traffic: read again.
      const left = interval + 1 - ((tick - this.#lastIn[slot]) >>> 0);
      // A `when` that said no is asked again one interval later (pingAt keeps when it said so).
      const asked = (tick - this.#pingAt[slot]) >>> 0;
      const held = left <= 0 && cfg.heartbeatWhen !== undefined && asked < interval;
      if (held) {
        if (interval - asked < wait) wait = interval - asked;
      } else if (left <= 0) {
        const allowed = cfg.heartbeatWhen === undefined ||
          this.#ask(cfg.heartbeatWhen, slot) !== false;
        if (this.#state[slot] >= DEAD) return NEVER;
        if (!allowed) this.#pingAt[slot] = tick;
        if (allowed) {
          this.#ping(slot);
          if (this.#state[slot] >= DEAD) return NEVER;
          // Its timeout, or sooner: an answer may make the next ping due first (see above).
          const next = cfg.heartbeatJitter > 0 ? this.#pingWait[slot] : cfg.heartbeatInterval;
          const look = cfg.heartbeatTimeout < next ? cfg.heartbeatTimeout + 1 : next + 1;
          if (look < wait) wait = look;
        } else if (interval < wait) wait = interval;
      } else if (left < wait) wait = left;
    }
    const suspicion = this.#suspicion;
    if (suspicion !== undefined && this.#state[slot] !== SUSPECT) {
      let left = suspicion.ticksLeft(slot, tick);
      if (left <= 0) {
        this.#transition(slot, SUSPECT, "suspected");
        if (this.#state[slot] >= DEAD) return NEVER;
        // Woken inside its own callback: φ counts again from then.
        left = this.#state[slot] === SUSPECT ? NEVER : suspicion.ticksLeft(slot, tick);
      }
      if (left < wait) wait = left;
    }
    // An arrival (or data waking a suspect) can bring the crossing nearer than where the slot is
    // filed, and a slot cannot move up the wheel: never file it further than the soonest crossing.
    if (suspicion !== undefined && suspicion.soonestTicks < wait) wait = suspicion.soonestTicks;
    // Callbacks above (a ping answered inside send, onDrain) may have brought traffic: read again.
    const inNow = (tick - this.#lastIn[slot]) >>> 0;
    if (cfg.watchKernelIdle > 0) {
      // Quiet as long as the keepalive idle time: the kernel probes now, look every interval.
      const left = cfg.watchKernelIdle + 1 - inNow;
      // Data can restart the kernel's idle time after this look, and the slot cannot move up the
      // wheel: look again no later than one idle time from now.
      const again = cfg.watchKernelIdle + 1;
      const look = left > 0
        ? left
        : again < cfg.watchKernelInterval
        ? again
        : cfg.watchKernelInterval;
      if (look < wait) wait = look;
    }
    if (cfg.idle > 0) {
      // The state follows the silence; the events repeat on their own schedule.
      if (this.#state[slot] === OPEN) {
        const left = cfg.idle + 1 - inNow;
        if (left <= 0) {
          this.#transition(slot, IDLE, "reader-idle");
          if (this.#state[slot] >= DEAD) return NEVER;
        } else if (left < wait) wait = left;
      }
      // The transition's callback may have brought data: read again.
      const since = (tick - this.#lastIn[slot]) >>> 0;
      const left = this.#idleEvent(slot, "reader", READER_FIRED, 0, cfg.idle, since);
      if (this.#state[slot] >= DEAD) return NEVER;
      if (left < wait) wait = left;
    }
    // Each event's callback may bring traffic: every step reads it again.
    if (cfg.writerIdle > 0) {
      const since = (tick - this.#lastOut[slot]) >>> 0;
      const left = this.#idleEvent(slot, "writer", WRITER_FIRED, 1, cfg.writerIdle, since);
      if (this.#state[slot] >= DEAD) return NEVER;
      if (left < wait) wait = left;
    }
    if (cfg.allIdle > 0) {
      const sinceIn = (tick - this.#lastIn[slot]) >>> 0;
      const sinceOut = (tick - this.#lastOut[slot]) >>> 0;
      const quietNow = sinceIn < sinceOut ? sinceIn : sinceOut;
      const left = this.#idleEvent(slot, "all", ALL_FIRED, 2, cfg.allIdle, quietNow);
      if (this.#state[slot] >= DEAD) return NEVER;
      if (left < wait) wait = left;
    }
    return wait;
  }

  /** Fires an idle event when due (Netty-style: again every period while idle); returns the wait. */
  #idleEvent(
    slot: number,
    kind: IdleKind,
    bit: number,
    index: number,
    period: number,
    since: number,
  ): number {
    const at = slot * 3 + index;
    const sinceFired = (this.#tick - this.#firedAt[at]) >>> 0;
    // Fired since the last activity of that kind? (Activity in the tick of a firing came after it.)
    const repeat = (this.#flags[slot] & bit) !== 0 && sinceFired < since;
    const left = repeat ? period - sinceFired : period + 1 - since;
    if (left > 0) return left;
    this.#firedAt[at] = this.#tick;
    this.#flags[slot] |= bit;
    if (this.#notices.wanted(Notice.Idle)) {
      const event: IdleEvent<C> = {
        id: this.#idOf(slot),
        context: this.#contexts[slot] as C,
        kind,
        first: !repeat,
        at: this.#now(),
      };
      this.#notices.tell(Notice.Idle, event);
    }
    return period;
  }

  /** Whether a max-idle / max-age policy is winding the slot down. */
  #draining(slot: number): boolean {
    return (this.#cfg.maxIdle > 0 || this.#cfg.maxAge > 0) && this.#drainWhy[slot] !== 0;
  }

  /** Max idle and max age: ask to wind down, then close after the grace period. */
  #drainStep(slot: number, quiet: number): number {
    const cfg = this.#cfg;
    const tick = this.#tick;
    if (this.#drainWhy[slot] !== 0) {
      const left = cfg.grace - ((tick - this.#drainAt[slot]) >>> 0);
      if (left > 0) return left;
      const reason: DrainReason = this.#drainWhy[slot] === 1 ? "max-idle" : "max-age";
      this.#terminate(slot, CLOSED, reason, undefined);
      return NEVER;
    }
    let wait = NEVER;
    let why = 0;
    if (cfg.maxIdle > 0) {
      const left = cfg.maxIdle + 1 - quiet;
      if (left <= 0) why = 1;
      else wait = left;
    }
    if (why === 0 && cfg.maxAge > 0) {
      const left = this.#ageDue[slot] - tick;
      if (left <= 0) why = 2;
      else if (left < wait) wait = left;
    }
    if (why === 0) return wait;
    this.#drainAt[slot] = tick;
    this.#drainWhy[slot] = why;
    const reason: DrainReason = why === 1 ? "max-idle" : "max-age";
    this.#notices.tell(Notice.Drain, this.#contexts[slot], this.#idOf(slot), reason);
    if (this.#state[slot] >= DEAD) return NEVER;
    if (cfg.grace === 0) {
      this.#terminate(slot, CLOSED, reason, undefined);
      return NEVER;
    }
    return cfg.grace;
  }

  #ping(slot: number): void {
    this.#flags[slot] |= PING_OUT;
    this.#pingAt[slot] = this.#tick;
    this.#pingMs[slot] = this.#now();
    this.#pings++;
    if (this.#cfg.heartbeatJitter > 0) {
      this.#pingWait[slot] = this.#jittered(this.#cfg.heartbeatInterval, this.#cfg.heartbeatJitter);
    }
    const state = this.#state[slot];
    if (state === OPEN || state === IDLE) this.#transition(slot, PROBING, "ping-sent");
    if (this.#state[slot] >= DEAD) return;
    const send = this.#cfg.heartbeatSend!; // a heartbeat is configured, so is its send
    try {
      send(this.#contexts[slot] as C, this.#idOf(slot));
    } catch (error) {
      this.#report(error, "heartbeat.send");
    }
  }

  #ask(when: (context: C, id: ConnectionId) => boolean, slot: number): boolean {
    try {
      return when(this.#contexts[slot] as C, this.#idOf(slot));
    } catch (error) {
      this.#report(error, "heartbeat.when");
      return true;
    }
  }

  /** Inbound data or an ack on a slot that is not plainly open. */
  #wake(slot: number, ack: boolean): void {
    const state = this.#state[slot];
    if (state >= DEAD || state === FREE) return;
    if (this.#flags[slot] & PING_OUT) {
      if (!ack && !this.#cfg.heartbeatAckOnData) return;
      this.#flags[slot] &= ~PING_OUT;
      this.#rtt.observe(this.#clock.now() - this.#pingMs[slot]);
    }
    if (state === SUSPECT) {
      // Traffic is proof of life: φ starts again from now (the silence was no normal interval).
      this.#suspicion!.restart(slot, this.#clock.now(), this.#tick, this.resolution);
    }
    // A slot off the wheel (everything was NEVER) may have a deadline again: hold it through the
    // transition's callbacks, then settle it. One on the wheel is already held.
    const held = this.#hold(slot);
    if (state === PROBING) this.#transition(slot, OPEN, "ack");
    else if (state === IDLE || state === SUSPECT) this.#transition(slot, OPEN, "activity");
    else if (state === CONNECTING) {
      this.#begin(slot); // data proves it established: its clocks start now, as connected() does
      this.#transition(slot, OPEN, "connected");
    }
    if (held) this.#settle(slot);
  }

  // ---- transitions ----

  #transition(slot: number, to: number, reason: TransitionReason): void {
    const from = this.#state[slot];
    this.#state[slot] = to;
    this.#stateCount[from]--;
    this.#stateCount[to]++;
    this.#emit(slot, from, to, reason, undefined);
  }

  #terminate(slot: number, to: number, reason: TransitionReason, error: unknown): void {
    const from = this.#state[slot];
    const context = this.#contexts[slot] as C;
    this.#state[slot] = to;
    this.#stateCount[from]--;
    this.#flags[slot] &= ~PING_OUT;
    this.#live--;
    if (to === DEAD) {
      this.#deaths[REASON_INDEX[reason as DeathReason]]++;
      this.#detect.observe(this.#now() - this.#timeOf(this.#lastIn[slot]));
    } else {
      this.#closedCount++;
      this.#closes[CLOSE_INDEX[reason as CloseReason]]++;
    }
    this.#emit(slot, from, to, reason, error);
    // After onTransition; a callback that closed the monitor stopped everything, this too.
    if (to === DEAD || reason === "max-idle" || reason === "max-age") {
      const driver = this.#driverAt(slot);
      if (driver !== undefined) this.#notices.tell(Notice.Destroy, driver, context, reason, error);
    }
    this.#contexts[slot] = undefined;
    // Told: the id is spent now, whether the slot is freed now or when the wheel lets go of it, so
    // state(id) is undefined from here on, the same way every time. A slot whose ids are all spent
    // retires (generation 0, see MAX_GEN).
    if (!this.#closed) {
      const gen = this.#gen[slot];
      this.#gen[slot] = gen >= MAX_GEN ? 0 : gen + 1;
    }
    if ((this.#flags[slot] & IN_WHEEL) === 0) this.#free(slot);
  }

  #free(slot: number): void {
    if (this.#closed || this.#state[slot] === FREE) return;
    this.#drivers.release(slot, this.#driverOf[slot]);
    this.#driverOf[slot] = NO_DRIVER;
    this.#state[slot] = FREE;
    this.#contexts[slot] = undefined;
    if (this.#gen[slot] === 0) return; // retired: its ids are all spent (see MAX_GEN)
    this.#next[slot] = this.#freeHead;
    this.#freeHead = slot;
  }

  #emit(slot: number, from: number, to: number, reason: TransitionReason, error: unknown): void {
    if (!this.#notices.wanted(Notice.Transition)) return;
    const transition: Transition<C> = {
      id: this.#idOf(slot),
      context: this.#contexts[slot] as C,
      from: STATE_NAMES[from],
      to: STATE_NAMES[to],
      reason,
      at: this.#now(),
      error,
    };
    this.#notices.tell(Notice.Transition, transition);
  }

  #report(error: unknown, callback: string): void {
    try {
      this.#onError(error, callback);
    } catch {
      // An error handler that throws has nowhere left to report to.
    }
  }

  #driverAt(slot: number): Driver<C> | undefined {
    return this.#drivers.at(slot, this.#driverOf[slot]);
  }

  #grow(capacity: number): void {
    const cfg = this.#cfg;
    const grow = <T extends Parameters<typeof grown>[0]>(array: T, per = 1): T =>
      grown(array, capacity, per);
    this.#state = grow(this.#state);
    this.#flags = grow(this.#flags);
    this.#gen = grow(this.#gen);
    this.#driverOf = grow(this.#driverOf);
    this.#lastIn = grow(this.#lastIn);
    this.#lastOut = grow(this.#lastOut);
    this.#next = grow(this.#next);
    if (cfg.heartbeatInterval > 0) {
      this.#pingAt = grow(this.#pingAt);
      this.#pingMs = grow(this.#pingMs);
      if (cfg.heartbeatJitter > 0) this.#pingWait = grow(this.#pingWait);
    }
    if (cfg.idle > 0 || cfg.writerIdle > 0 || cfg.allIdle > 0) {
      this.#firedAt = grow(this.#firedAt, 3);
    }
    if (cfg.maxAge > 0) this.#ageDue = grow(this.#ageDue);
    if (cfg.maxIdle > 0 || cfg.maxAge > 0) {
      this.#drainAt = grow(this.#drainAt);
      this.#drainWhy = grow(this.#drainWhy);
    }
    this.#suspicion?.grow(capacity);
    if (cfg.pingEnforcement !== undefined) {
      this.#peerPingAt = grow(this.#peerPingAt);
      this.#strikes = grow(this.#strikes);
    }
    this.#capacity = capacity;
  }
}

// Time spent in a tick, apart from the monitor's clock (a test's manual clock does not move while
// code runs); every runtime has `performance`.
const cpuNow: () => number = typeof performance === "object"
  ? () => performance.now()
  : () => Date.now();

/** The fewest ticks after a connection starts in which one of its deadlines can come (at least 1). */
function soonestDeadline(cfg: Config<never>): number {
  let soonest = NEVER;
  const consider = (ticks: number) => {
    if (ticks > 0 && ticks < soonest) soonest = ticks;
  };
  consider(cfg.idle);
  consider(cfg.writerIdle);
  consider(cfg.allIdle);
  consider(cfg.idleTimeout);
  consider(cfg.maxIdle);
  // Jittered durations are at least one tick (see #jittered).
  if (cfg.maxAge > 0) consider(Math.max(1, Math.floor(cfg.maxAge * (1 - cfg.maxAgeJitter))));
  if (cfg.heartbeatInterval > 0) {
    consider(Math.max(1, Math.floor(cfg.heartbeatInterval * (1 - cfg.heartbeatJitter))));
  }
  consider(cfg.watchKernelIdle);
  if (cfg.suspicion !== undefined) soonest = 1; // φ may cross at any time
  return Math.max(1, soonest);
}

function trackConnecting(options: TrackOptions | undefined): boolean {
  if (options === undefined) return false;
  if (options === null || typeof options !== "object") {
    throw new TypeError(`Argument "options" must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== "connecting") {
      throw new TypeError(`Unknown option "${key}" of track(): expected connecting`);
    }
  }
  const connecting = options.connecting ?? false;
  if (typeof connecting !== "boolean") {
    throw new TypeError(`Option "connecting" must be a boolean, got ${describe(connecting)}`);
  }
  return connecting;
}

function checkDriver(driver: unknown): void {
  if (
    driver === null || typeof driver !== "object" ||
    typeof (driver as Driver<unknown>).destroy !== "function"
  ) {
    throw new TypeError(
      `Argument "driver" must be an object with a destroy() function, got ${describe(driver)}`,
    );
  }
}

function defaultOnError(error: unknown, callback: string): void {
  console.error(`socket-liveness: ${callback} threw`, error);
}
