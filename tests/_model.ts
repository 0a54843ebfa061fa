// A reference model of the liveness monitor for the property tests: plain objects, one per
// connection, and every deadline checked on every tick. It knows nothing of the timing wheel, so
// running it beside the monitor checks the wheel against a brute-force scheduler.
//
// The model is a set of generators ("scripts"). Each input (received(), failed(), warn(), ...)
// and each visit of a connection by a tick is a script that changes the model's state exactly where
// the monitor changes its own and yields, in order, every callback the monitor must make: a
// transition, onIdle, onDrain, onTooManyPings, onEnd, onWarning, heartbeat.when, heartbeat.send,
// the driver's sample() and destroy(). The test runs each script beside the monitor: every callback
// must be the one the script yields next, and a script resumes only once the callback (with
// whatever it did re-entrantly) has returned, so every check reads the state as it is at that
// moment. The order in which a tick visits connections is the wheel's and the model does not
// predict it: a callback that no script awaits starts the script of a visit of its connection, and
// once a tick is over nothing may be due any more.
//
// What it encodes, in ticks of `resolution` counted from the monitor's creation:
// - an input at time t happens in tick floor((t - origin) / resolution) while the monitor's timer
//   runs (from a track() with a deadline configured, or of a connecting connection, until a tick
//   ends with nothing tracked); while it does not, the monitor's tick stands where it stopped or at
//   the last track(), and inputs are stamped with that tick;
// - a duration of d ms is ceil(d / resolution) ticks; a deadline of D ticks after the last input of
//   its kind fires on the first tick at or after lastInputTick + D + 1 (the input may have come late
//   in its tick); a ping's timeout counts from the ping's tick; whatever moves a deadline (an
//   arrival that brings φ's crossing nearer, traffic that restarts the kernel's idle time, a
//   connection established) moves the tick it fires on, earlier as well as later;
// - a connection tracked as connecting has only its connect timeout (default 20 s, counted from
//   track()): dead (connect-timeout) when it passes. connected(), or any proof of life (received,
//   acked, beat, pinged), establishes it: connecting -> open (connected), and its clocks start
//   then, as at track(): last received and sent, the jittered interval and age, φ (no sample, the
//   first estimate from now), the peer's strikes; a failure's time-out before then is a
//   connect-timeout;
// - a visit of an established connection acts in this order, and stops as soon as the connection
//   is dead or closed (by a deadline, or by a callback that closed it):
//   1. idleTimeout: dead (idle-timeout) after no traffic either way;
//   2. heartbeat timeout: dead (heartbeat-timeout) when the ping is unanswered for `timeout`;
//   3. maxIdle / maxAge: a draining connection is closed (max-idle / max-age) `grace` ticks after
//      the drain began; otherwise no traffic for maxIdle (first) or the age reaching
//      startTick + jitter(maxAge, maxAgeJitter) + 1 starts the drain: onDrain, then with no grace
//      the connection is closed at once;
//   4. heartbeat: nothing received for the interval (jittered per ping with heartbeat.jitter), no
//      ping out and the peer has not ended its side: heartbeat.when is asked (if given); a `false`
//      answer postpones the question by one interval, or until traffic comes and the interval
//      passes again (as documented: "asked again one interval later"); otherwise the ping is sent:
//      open / idle -> probing (ping-sent), then heartbeat.send;
//   5. suspicion: φ passed the threshold (not suspect yet): -> suspect (suspected);
//   6. idle: an open connection with nothing received for `idle` -> idle (reader-idle);
//   7. onIdle events, reader (idle), writer (writerIdle), all (allIdle), Netty-style: first after
//      the period of silence, then again every period while the silence lasts; each reads the
//      traffic as it is when it is checked (after the callbacks before it);
//   a visit by a tick starts with the driver's sample() when the driver has one, and with
//   watchKernel a connection silent for the keepalive idle time is visited then and at least every
//   keepalive interval after (so that its adapter can read TCP_INFO);
// - received / acked / beat / pinged: proof of life; an idle, probing or suspect connection becomes
//   open (reason ack for probing, activity otherwise); a ping out is answered by acked(), and by
//   data unless ackOnData is false (data then changes nothing while the ping is out); a suspect
//   connection's φ starts again from now;
// - acked() and beat() are arrivals for φ: the interval since the last one is a sample (stored as a
//   32-bit float), the last maxSamples are kept, mean + acceptablePause and max(sd, minStdDeviation)
//   give the crossing (phiCrossing), and suspicion is due at tick + max(1, ceil((last arrival +
//   crossing - now) / resolution)); with no sample yet, mean firstHeartbeatEstimate and sd a quarter
//   of it;
// - pinged(): a ping sooner than minInterval after the previous one (the first never) is a strike,
//   unless data flowed either way in a later tick than the previous ping, which resets the strikes
//   first; the ping is recorded and counts as received data; past maxStrikes pinged() returns false
//   and, if the connection is still live after that, onTooManyPings is told;
// - keepaliveProbes(n): n > 0 turns open / idle into probing (keepalive-probe); n = 0 turns probing
//   with no ping out back into open (ack), and a connection that received nothing for `idle` is
//   then idle again at once (reader-idle: the state follows the silence);
// - ended(): onEnd once; no new ping after it. endedLocally(): this side ended first, unless the
//   peer already had;
// - failed(): the driver's sample() first, then dead for the error's reason (keepalive-timeout
//   becomes user-timeout with a user timeout and data sent since the peer last sent anything);
// - closed(): closed, peer-close when the peer ended its side first, local-close otherwise;
// - a death, and a max-idle / max-age close, tell the driver's destroy() after the transition
//   (unless a callback closed the monitor); stats() counts deaths and closes by reason;
// - warn(text): onWarning once per distinct text;
// - notices (transitions, onIdle, onEnd, onDrain, onTooManyPings, onWarning, destroy) are told in
//   the order their events happened: one caused while another is being told (by a callback or a
//   destroy that calls the monitor back) waits until that one has returned, then they are told in
//   order before the monitor goes on; heartbeat.when, heartbeat.send and sample() are called at
//   once;
// - jitter: max(1, round(ticks + ticks × jitter × (2r − 1))) with r the next draw of `random`. The
//   draws, in order: a connection's start (track(), and its establishment) draws for
//   heartbeat.jitter (if > 0) then for maxAgeJitter (if > 0 and maxAge is set); each ping draws
//   once for heartbeat.jitter (if > 0), before its transition;
// - dead and closed are terminal: every input for a terminal connection is ignored, its id is
//   spent (state() and info() know it no more), and nothing happens to it after its terminal
//   transition (and destroy). A connection closed from inside a callback gets no further callbacks.
//   After close() (or its signal's abort) there is no callback at all.

import { phi, phiCrossing } from "../mod.ts";
import type {
  CloseReason,
  ConnectionState,
  DeathReason,
  DrainReason,
  IdleKind,
  TransitionReason,
} from "../mod.ts";

/** The options of the monitor under test, in milliseconds (0 = off), as given to the monitor. */
export interface ModelOptions {
  /** The monitor's clock time at its creation. */
  readonly origin: number;
  /** The scheduler's tick. */
  readonly resolution: number;
  readonly idle: number;
  readonly writerIdle: number;
  readonly allIdle: number;
  readonly idleTimeout: number;
  /** `undefined`: the default (20 s). */
  readonly connectTimeout: number | undefined;
  readonly maxIdle: number;
  readonly maxAge: number;
  /** `undefined`: the default (0.1). */
  readonly maxAgeJitter: number | undefined;
  readonly grace: number;
  readonly heartbeat?: {
    readonly interval: number;
    readonly timeout: number;
    readonly ackOnData: boolean;
    readonly jitter: number;
    /** Whether `heartbeat.when` is given. */
    readonly when: boolean;
  };
  /** Fields left `undefined` take Akka's defaults. */
  readonly suspicion?: {
    readonly threshold?: number;
    readonly maxSamples?: number;
    readonly minStdDeviation?: number;
    readonly acceptablePause?: number;
    readonly firstHeartbeatEstimate?: number;
  };
  readonly enforcement?: { readonly minInterval: number; readonly maxStrikes?: number };
  /** watchKernel with keepalive on: the keepalive idle and interval (ms; `undefined`: Linux's). */
  readonly kernel?: { readonly idle?: number; readonly interval?: number };
  /** Whether `keepalive.userTimeout` is set. */
  readonly userTimeout: boolean;
  /** Which optional callbacks are given. */
  readonly callbacks: {
    readonly onEnd: boolean;
    readonly onIdle: boolean;
    readonly onDrain: boolean;
    readonly onTooManyPings: boolean;
    readonly onWarning: boolean;
  };
}

/** How a connection was tracked: no driver, a driver with destroy() only, or with sample() too. */
export type DriverKind = "none" | "destroy" | "sample";

/** One connection as the model sees it. */
export interface ModelConnection {
  /** Position in the order of tracking. */
  readonly index: number;
  /** The id the monitor gave it. */
  readonly id: number;
  /** Its context (unique per connection). */
  readonly context: string;
  readonly driver: DriverKind;
  state: ConnectionState;
  /** Tick of the last data received (or of tracking, or of the connection's establishment). */
  lastIn: number;
  /** Tick of the last data sent (likewise). */
  lastOut: number;
  /** Whether something was sent since the peer last sent anything. */
  sentLast: boolean;
  /** The peer ended its side. */
  ended: boolean;
  /** This side ended its side before the peer did. */
  localEnd: boolean;
  pingOut: boolean;
  /** Tick and clock time of the outstanding ping. */
  pingAt: number;
  pingMs: number;
  /** The interval before the next ping, in ticks (jittered per ping). */
  pingWait: number;
  /** Tick at which heartbeat.when last said no. */
  deniedAt: number | undefined;
  /** Tick of the last reader, writer and all idle event. */
  firedAt: [number | undefined, number | undefined, number | undefined];
  /** Tick at which maxAge is reached. */
  ageDue: number;
  draining: boolean;
  drainAt: number;
  drainWhy: DrainReason | undefined;
  /** φ: clock time of the last arrival, the samples kept, their sums, the tick of suspicion. */
  beatMs: number;
  samples: number[];
  sum: number;
  sumSq: number;
  suspectAt: number;
  /** Enforcement: tick of the peer's last ping, and the strikes. */
  peerPingAt: number | undefined;
  strikes: number;
  /** Tick of the last visit that sampled (driver "sample" only). */
  lastSample: number;
}

/** A callback the monitor must make next. */
export type Expect =
  | {
    readonly kind: "transition";
    readonly c: ModelConnection;
    readonly from: ConnectionState;
    readonly to: ConnectionState;
    readonly reason: TransitionReason;
    readonly error: unknown;
  }
  | {
    readonly kind: "end" | "tooManyPings" | "send" | "when" | "sample";
    readonly c: ModelConnection;
  }
  | {
    readonly kind: "idle";
    readonly c: ModelConnection;
    readonly idleKind: IdleKind;
    readonly first: boolean;
  }
  | { readonly kind: "drain"; readonly c: ModelConnection; readonly reason: DrainReason }
  | {
    readonly kind: "destroy";
    readonly c: ModelConnection;
    readonly reason: DeathReason | DrainReason;
    readonly error: unknown;
  }
  | { readonly kind: "warning"; readonly c?: undefined; readonly text: string };

/** An input for a connection. */
export type ModelInput =
  | {
    readonly kind:
      | "received"
      | "sent"
      | "acked"
      | "beat"
      | "pinged"
      | "connected"
      | "ended"
      | "endedLocally"
      | "closed";
  }
  | { readonly kind: "keepaliveProbes"; readonly probes: number }
  /** `reason`: what the error maps to before the user-timeout and connect rules. */
  | { readonly kind: "failed"; readonly reason: DeathReason; readonly error: unknown };

/** A generator of expected callbacks; `when` callbacks are resumed with the answer. */
export type Script<R = void> = Generator<Expect, R, boolean | undefined>;

/** Whether a state is terminal. */
export function isTerminal(state: ConnectionState): boolean {
  return state === "dead" || state === "closed";
}

const LIVE_STATES = ["connecting", "open", "idle", "probing", "suspect"] as const;
const IDLE_KINDS = ["reader", "writer", "all"] as const;

/** The documented jitter: ticks spread by up to ± the fraction, at least one tick. */
export function jittered(ticks: number, jitter: number, r: number): number {
  return Math.max(1, Math.round(ticks + ticks * jitter * (2 * r - 1)));
}

/** The brute-force reference model. */
export class Model {
  /** Every connection tracked, in order. */
  readonly connections: ModelConnection[] = [];
  /** Whether monitor.close() was called. */
  closed = false;
  /** Counters the monitor's stats() must show. */
  readonly counts = {
    tracked: 0,
    closed: 0,
    pings: 0,
    closes: {} as Partial<Record<CloseReason, number>>,
    deaths: {} as Partial<Record<DeathReason, number>>,
    detect: { count: 0, sum: 0 },
    rtt: { count: 0, sum: 0 },
  };
  readonly #o: ModelOptions;
  readonly #now: () => number;
  /** A notice is being told: those it causes wait in the outbox, in order. */
  #telling = false;
  #outbox: Expect[] = [];
  /** What the next draws of `random` decide, in order. */
  #draws: ((r: number) => void)[] = [];
  /** The monitor's timer runs (its tick follows the clock); else its tick stands at #frozen. */
  #timer = false;
  #frozen = 0;
  #warned = new Set<string>();
  // Durations in ticks (0 = off).
  readonly #idle: number;
  readonly #writerIdle: number;
  readonly #allIdle: number;
  readonly #idleTimeout: number;
  readonly #connectTimeout: number;
  readonly #maxIdle: number;
  readonly #maxAge: number;
  readonly #maxAgeJitter: number;
  readonly #grace: number;
  readonly #ping: number;
  readonly #pingTimeout: number;
  readonly #pingJitter: number;
  readonly #ackOnData: boolean;
  readonly #phi?: {
    threshold: number;
    maxSamples: number;
    minStd: number;
    pause: number;
    first: number;
  };
  readonly #enforcement?: { minInterval: number; maxStrikes: number };
  readonly #kernelIdle: number;
  readonly #kernelInterval: number;

  /**
   * Creates a model.
   *
   * @param options The monitor's options.
   * @param now The clock.
   */
  constructor(options: ModelOptions, now: () => number) {
    this.#o = options;
    this.#now = now;
    const r = options.resolution;
    const ticks = (ms: number) => ms > 0 ? Math.ceil(ms / r) : 0;
    this.#idle = ticks(options.idle);
    this.#writerIdle = ticks(options.writerIdle);
    this.#allIdle = ticks(options.allIdle);
    this.#idleTimeout = ticks(options.idleTimeout);
    this.#connectTimeout = ticks(options.connectTimeout ?? 20_000);
    this.#maxIdle = ticks(options.maxIdle);
    this.#maxAge = ticks(options.maxAge);
    this.#maxAgeJitter = options.maxAgeJitter ?? 0.1;
    this.#grace = ticks(options.grace);
    const hb = options.heartbeat;
    this.#ping = ticks(hb?.interval ?? 0);
    this.#pingTimeout = ticks(hb?.timeout ?? 0);
    this.#pingJitter = hb?.jitter ?? 0;
    this.#ackOnData = hb?.ackOnData ?? true;
    const s = options.suspicion;
    if (s !== undefined) {
      this.#phi = {
        threshold: s.threshold ?? 8,
        maxSamples: s.maxSamples ?? 100,
        minStd: s.minStdDeviation ?? 100,
        pause: s.acceptablePause ?? 0,
        first: Math.max(1, s.firstHeartbeatEstimate ?? 1_000),
      };
    }
    const e = options.enforcement;
    if (e !== undefined) {
      this.#enforcement = { minInterval: ticks(e.minInterval), maxStrikes: e.maxStrikes ?? 2 };
    }
    const k = options.kernel;
    this.#kernelIdle = k === undefined ? 0 : Math.max(1, Math.ceil((k.idle ?? 7_200_000) / r));
    this.#kernelInterval = k === undefined ? 0 : Math.max(1, Math.ceil((k.interval ?? 75_000) / r));
    this.#frozen = this.tickAt(now());
  }

  /** Whether any deadline of an established connection is configured. */
  get hasDeadlines(): boolean {
    return this.#idle > 0 || this.#writerIdle > 0 || this.#allIdle > 0 ||
      this.#idleTimeout > 0 || this.#maxIdle > 0 || this.#maxAge > 0 || this.#ping > 0 ||
      this.#phi !== undefined || this.#enforcement !== undefined || this.#kernelIdle > 0;
  }

  /** Whether the kernel is watched. */
  get watchKernel(): boolean {
    return this.#kernelIdle > 0;
  }

  /** Whether the monitor's timer runs. */
  get timer(): boolean {
    return this.#timer;
  }

  /**
   * The monitor's tick: the clock's while its timer runs; otherwise it stands where it was when
   * the timer stopped or at the last track(), and inputs are stamped with it.
   */
  get tick(): number {
    return this.#timer ? this.tickAt(this.#now()) : this.#frozen;
  }

  /**
   * The tick a time falls in.
   *
   * @param now A clock time.
   * @returns The tick.
   */
  tickAt(now: number): number {
    return Math.floor((now - this.#o.origin) / this.#o.resolution);
  }

  /**
   * The clock time a tick starts at.
   *
   * @param tick A tick.
   * @returns The time.
   */
  timeOf(tick: number): number {
    return this.#o.origin + tick * this.#o.resolution;
  }

  /** The connections that are neither dead nor closed (none once the monitor is closed). */
  live(): ModelConnection[] {
    return this.closed ? [] : this.connections.filter((c) => !isTerminal(c.state));
  }

  /** Live connections per state. */
  states(): Record<(typeof LIVE_STATES)[number], number> {
    const states = { connecting: 0, open: 0, idle: 0, probing: 0, suspect: 0 };
    for (const c of this.live()) states[c.state as keyof typeof states]++;
    return states;
  }

  /**
   * Gives the draws of `random` the monitor made to what the model expects them for, in order.
   *
   * @param draws The draws, taken from the front.
   */
  draw(draws: number[]): void {
    while (draws.length > 0 && this.#draws.length > 0) this.#draws.shift()!(draws.shift()!);
  }

  /** How many draws the model expects that the monitor has not made. */
  get drawsDue(): number {
    return this.#draws.length;
  }

  /** monitor.close() (or its signal): everything is forgotten, no callback comes any more. */
  close(): void {
    this.closed = true;
    this.#timer = false;
    this.#outbox = [];
  }

  /** A tick is over: with nothing tracked any more, the timer stops. */
  tickEnded(): void {
    if (this.live().length > 0) return;
    this.#frozen = this.tickAt(this.#now());
    this.#timer = false;
  }

  /**
   * A connection starts being tracked.
   *
   * @param id The id the monitor gave it.
   * @param context Its context.
   * @param driver Its driver.
   * @param connecting Whether it is not established yet.
   * @param inTick Whether a tick runs.
   * @returns The model's connection.
   */
  track(
    id: number,
    context: string,
    driver: DriverKind,
    connecting: boolean,
    inTick: boolean,
  ): ModelConnection {
    if (!this.#timer && !inTick) this.#frozen = this.tickAt(this.#now());
    const c: ModelConnection = {
      index: this.connections.length,
      id,
      context,
      driver,
      state: connecting ? "connecting" : "open",
      lastIn: 0,
      lastOut: 0,
      sentLast: false,
      ended: false,
      localEnd: false,
      pingOut: false,
      pingAt: 0,
      pingMs: 0,
      pingWait: this.#ping,
      deniedAt: undefined,
      firedAt: [undefined, undefined, undefined],
      ageDue: Infinity,
      draining: false,
      drainAt: 0,
      drainWhy: undefined,
      beatMs: 0,
      samples: [],
      sum: 0,
      sumSq: 0,
      suspectAt: Infinity,
      peerPingAt: undefined,
      strikes: 0,
      lastSample: -Infinity,
    };
    this.#begin(c);
    this.connections.push(c);
    this.counts.tracked++;
    if ((this.hasDeadlines || connecting) && !this.#timer && !inTick && !this.closed) {
      this.#timer = true;
    }
    return c;
  }

  /** Starts a connection's clocks: when it is tracked, and when it is established. */
  #begin(c: ModelConnection): void {
    const tick = this.tick;
    c.lastIn = tick;
    c.lastOut = tick;
    if (this.#ping > 0 && this.#pingJitter > 0) {
      this.#draws.push((r) => c.pingWait = jittered(this.#ping, this.#pingJitter, r));
    }
    if (this.#maxAge > 0) {
      if (this.#maxAgeJitter > 0) {
        this.#draws.push((r) =>
          c.ageDue = tick + 1 + jittered(this.#maxAge, this.#maxAgeJitter, r)
        );
      } else c.ageDue = tick + 1 + this.#maxAge;
    }
    if (this.#phi !== undefined) {
      c.samples = [];
      c.sum = 0;
      c.sumSq = 0;
      c.beatMs = this.#now();
      this.#plan(c);
    }
    c.peerPingAt = undefined;
    c.strikes = 0;
  }

  // ---- inputs ----

  /**
   * An input, as a script of the callbacks it makes.
   *
   * @param c The connection.
   * @param input The input.
   * @returns For pinged(), what it must return.
   */
  *input(c: ModelConnection, input: ModelInput): Script<boolean> {
    if (this.closed || isTerminal(c.state)) return true;
    const tick = this.tick;
    // Proof of life establishes a connecting connection, as connected() does.
    const proof = input.kind === "received" || input.kind === "acked" || input.kind === "beat" ||
      input.kind === "pinged";
    if (c.state === "connecting" && proof) {
      this.#begin(c);
      c.sentLast = false;
      yield* this.#transition(c, "open", "connected");
      if (input.kind !== "pinged" || this.closed || isTerminal(c.state)) return true;
    }
    switch (input.kind) {
      case "received":
        c.lastIn = tick;
        c.sentLast = false;
        if (c.state !== "open") yield* this.#wake(c, false);
        return true;
      case "sent":
        c.lastOut = tick;
        c.sentLast = true;
        return true;
      case "acked":
        c.lastIn = tick;
        c.sentLast = false;
        if (this.#phi !== undefined) this.#arrival(c);
        yield* this.#wake(c, true);
        return true;
      case "beat":
        if (this.#phi !== undefined) this.#arrival(c);
        yield* this.input(c, { kind: "received" });
        return true;
      case "pinged": {
        const e = this.#enforcement;
        let allowed = true;
        if (e !== undefined) {
          const last = c.peerPingAt;
          if (last === undefined || c.lastIn > last || c.lastOut > last) c.strikes = 0;
          if (last !== undefined && tick - last < e.minInterval && c.strikes < 255) {
            c.strikes++;
            allowed = c.strikes <= e.maxStrikes;
          }
          c.peerPingAt = tick;
        }
        yield* this.input(c, { kind: "received" });
        if (!allowed && !this.closed && !isTerminal(c.state) && this.#o.callbacks.onTooManyPings) {
          yield* this.#tell({ kind: "tooManyPings", c });
        }
        return allowed;
      }
      case "connected":
        if (c.state !== "connecting") return true;
        this.#begin(c);
        yield* this.#transition(c, "open", "connected");
        return true;
      case "keepaliveProbes":
        if (input.probes > 0) {
          if (c.state === "open" || c.state === "idle") {
            yield* this.#transition(c, "probing", "keepalive-probe");
          }
        } else if (c.state === "probing" && !c.pingOut) {
          yield* this.#transition(c, "open", "ack");
          // Open again, but nothing was received for the idle period: idle again at once.
          if (!this.closed && this.#readerIdleDue(c, tick)) {
            yield* this.#transition(c, "idle", "reader-idle");
          }
        }
        return true;
      case "ended":
        if (c.ended) return true;
        c.ended = true;
        if (this.#o.callbacks.onEnd) yield* this.#tell({ kind: "end", c });
        return true;
      case "endedLocally":
        if (!c.ended) c.localEnd = true;
        return true;
      case "failed": {
        if (c.driver === "sample") {
          yield { kind: "sample", c };
          if (this.closed || isTerminal(c.state)) return true;
        }
        let reason = input.reason;
        if (reason === "keepalive-timeout" && this.#o.userTimeout && c.sentLast) {
          reason = "user-timeout";
        }
        // Before the connection was established, a time-out is the SYN's.
        const timedOut = reason === "keepalive-timeout" || reason === "user-timeout";
        if (timedOut && c.state === "connecting") reason = "connect-timeout";
        yield* this.#terminate(c, "dead", reason, input.error);
        return true;
      }
      case "closed":
        yield* this.#terminate(
          c,
          "closed",
          c.ended && !c.localEnd ? "peer-close" : "local-close",
          undefined,
        );
        return true;
    }
  }

  /**
   * monitor.warn(): told once per distinct text.
   *
   * @param text The warning.
   */
  *warn(text: string): Script {
    if (this.closed || this.#warned.has(text)) return;
    this.#warned.add(text);
    if (this.#o.callbacks.onWarning) yield* this.#tell({ kind: "warning", text });
  }

  /** Data or an ack on a connection. */
  *#wake(c: ModelConnection, ack: boolean): Script {
    if (c.pingOut) {
      if (!ack && !this.#ackOnData) return;
      c.pingOut = false;
      this.counts.rtt.count++;
      this.counts.rtt.sum += this.#now() - c.pingMs;
    }
    if (c.state === "suspect") {
      c.beatMs = this.#now();
      this.#plan(c);
    }
    if (c.state === "probing") yield* this.#transition(c, "open", "ack");
    else if (c.state === "idle" || c.state === "suspect") {
      yield* this.#transition(c, "open", "activity");
    }
  }

  // ---- ticks ----

  /**
   * What a tick's visit of a connection does, as a script. It may start anywhere in the tick
   * (visits are ordered by the wheel, which the model does not know).
   *
   * @param c The connection.
   * @returns The script.
   */
  *visit(c: ModelConnection): Script {
    if (this.closed || isTerminal(c.state)) return;
    const tick = this.tick;
    const gone = () => this.closed || isTerminal(c.state);
    if (c.driver === "sample") {
      c.lastSample = tick;
      yield { kind: "sample", c };
      if (gone()) return;
    }
    if (c.state === "connecting") {
      // Only the connect timeout runs before the connection is established.
      if (this.#connectTimeoutDue(c, tick)) {
        yield* this.#terminate(c, "dead", "connect-timeout", undefined);
      }
      return;
    }
    // 1. idle timeout
    if (this.#idleTimeoutDue(c, tick)) {
      yield* this.#terminate(c, "dead", "idle-timeout", undefined);
      return;
    }
    // 2. heartbeat timeout
    if (this.#pingTimeoutDue(c, tick)) {
      yield* this.#terminate(c, "dead", "heartbeat-timeout", undefined);
      return;
    }
    // 3. max idle, max age
    const drain = this.#drainDue(c, tick);
    if (drain === "close") {
      yield* this.#terminate(c, "closed", c.drainWhy!, undefined);
      return;
    }
    if (drain !== undefined) {
      c.draining = true;
      c.drainAt = tick;
      c.drainWhy = drain;
      if (this.#o.callbacks.onDrain) {
        yield* this.#tell({ kind: "drain", c, reason: drain });
        if (gone()) return;
      }
      if (this.#grace === 0) {
        yield* this.#terminate(c, "closed", drain, undefined);
        return;
      }
    }
    // 4. heartbeat
    if (this.#pingDue(c, tick)) {
      let allowed = true;
      if (this.#o.heartbeat?.when) {
        allowed = (yield { kind: "when", c }) !== false;
        if (gone()) return;
      }
      if (!allowed) c.deniedAt = tick;
      else {
        c.pingOut = true;
        c.pingAt = tick;
        c.pingMs = this.#now();
        this.counts.pings++;
        if (this.#pingJitter > 0) {
          this.#draws.push((r) => c.pingWait = jittered(this.#ping, this.#pingJitter, r));
        }
        if (c.state === "open" || c.state === "idle") {
          yield* this.#transition(c, "probing", "ping-sent");
          if (gone()) return;
        }
        yield { kind: "send", c };
        if (gone()) return;
      }
    }
    // 5. suspicion
    if (this.#suspicionDue(c, tick)) {
      yield* this.#transition(c, "suspect", "suspected");
      if (gone()) return;
    }
    // 6. reader idle
    if (this.#readerIdleDue(c, tick)) {
      yield* this.#transition(c, "idle", "reader-idle");
      if (gone()) return;
    }
    // 7. idle events
    for (const index of [0, 1, 2] as const) {
      if (!this.#idleEventDue(c, tick, index)) continue;
      const first = !this.#repeat(c, index);
      c.firedAt[index] = tick;
      if (this.#o.callbacks.onIdle) {
        yield* this.#tell({ kind: "idle", c, idleKind: IDLE_KINDS[index], first });
        if (gone()) return;
      }
    }
  }

  /**
   * What is due for a live connection now: once a tick is over (and after every input), nothing
   * may be. Some of it makes no callback (`silent`): an idle event without onIdle, the start of a
   * drain without onDrain (and with a grace period); a tick's visit that made no callback is seen
   * only through these, which `visit()` then applies.
   *
   * @param c The connection.
   * @returns What is due (empty when nothing is).
   */
  due(c: ModelConnection): { what: string; silent: boolean }[] {
    if (this.closed || isTerminal(c.state)) return [];
    const tick = this.tick;
    const due: { what: string; silent: boolean }[] = [];
    const add = (what: string, silent = false) => due.push({ what, silent });
    if (c.state === "connecting") {
      if (this.#connectTimeoutDue(c, tick)) add("connect-timeout");
      return due;
    }
    if (this.#idleTimeoutDue(c, tick)) add("idle-timeout");
    if (this.#pingTimeoutDue(c, tick)) add("heartbeat-timeout");
    const drain = this.#drainDue(c, tick);
    if (drain === "close") add(`close (${c.drainWhy})`);
    else if (drain !== undefined) add(drain, !this.#o.callbacks.onDrain && this.#grace > 0);
    if (this.#pingDue(c, tick)) add(this.#o.heartbeat?.when ? "heartbeat.when" : "ping");
    if (this.#suspicionDue(c, tick)) add("suspicion");
    if (this.#readerIdleDue(c, tick)) add("reader-idle");
    for (const index of [0, 1, 2] as const) {
      if (this.#idleEventDue(c, tick, index)) {
        add(`${IDLE_KINDS[index]} idle event`, !this.#o.callbacks.onIdle);
      }
    }
    // With watchKernel a silent connection is looked at (sampled) on time.
    if (this.#kernelIdle > 0 && c.driver === "sample") {
      const from = c.lastIn + this.#kernelIdle + 1;
      if (tick >= from && (c.lastSample < from || tick - c.lastSample >= this.#kernelInterval)) {
        add(`kernel look (silent since tick ${c.lastIn}, last sampled at ${c.lastSample})`);
      }
    }
    return due;
  }

  #connectTimeoutDue(c: ModelConnection, tick: number): boolean {
    return tick - c.lastIn >= this.#connectTimeout + 1;
  }

  #idleTimeoutDue(c: ModelConnection, tick: number): boolean {
    return this.#idleTimeout > 0 && tick - Math.max(c.lastIn, c.lastOut) >= this.#idleTimeout + 1;
  }

  #pingTimeoutDue(c: ModelConnection, tick: number): boolean {
    return this.#ping > 0 && c.pingOut && tick - c.pingAt >= this.#pingTimeout + 1;
  }

  /** A drain to start (its reason), the end of one ("close"), or nothing. */
  #drainDue(c: ModelConnection, tick: number): DrainReason | "close" | undefined {
    if (this.#maxIdle === 0 && this.#maxAge === 0) return undefined;
    if (c.draining) return tick - c.drainAt >= this.#grace ? "close" : undefined;
    if (this.#maxIdle > 0 && tick - Math.max(c.lastIn, c.lastOut) >= this.#maxIdle + 1) {
      return "max-idle";
    }
    if (this.#maxAge > 0 && tick >= c.ageDue) return "max-age";
    return undefined;
  }

  #pingDue(c: ModelConnection, tick: number): boolean {
    if (this.#ping === 0 || c.pingOut || c.ended) return false;
    if (tick - c.lastIn < c.pingWait + 1) return false;
    // heartbeat.when said no: asked again one interval later, or once traffic came.
    return !(c.deniedAt !== undefined && c.deniedAt > c.lastIn && tick - c.deniedAt < c.pingWait);
  }

  #suspicionDue(c: ModelConnection, tick: number): boolean {
    return this.#phi !== undefined && c.state !== "suspect" && tick >= c.suspectAt;
  }

  #readerIdleDue(c: ModelConnection, tick: number): boolean {
    return this.#idle > 0 && c.state === "open" && tick - c.lastIn >= this.#idle + 1;
  }

  #lastActivity(c: ModelConnection, index: 0 | 1 | 2): number {
    return index === 0 ? c.lastIn : index === 1 ? c.lastOut : Math.max(c.lastIn, c.lastOut);
  }

  /** Whether the kind's event fired since its last activity (then it repeats every period). */
  #repeat(c: ModelConnection, index: 0 | 1 | 2): boolean {
    const fired = c.firedAt[index];
    return fired !== undefined && fired > this.#lastActivity(c, index);
  }

  #idleEventDue(c: ModelConnection, tick: number, index: 0 | 1 | 2): boolean {
    const period = [this.#idle, this.#writerIdle, this.#allIdle][index];
    if (period === 0) return false;
    return this.#repeat(c, index)
      ? tick - c.firedAt[index]! >= period
      : tick - this.#lastActivity(c, index) >= period + 1;
  }

  // ---- suspicion ----

  #arrival(c: ModelConnection): void {
    const settings = this.#phi!;
    const now = this.#now();
    const stored = Math.fround(now - c.beatMs); // 4 bytes per sample
    c.beatMs = now;
    if (c.samples.length === settings.maxSamples) {
      const old = c.samples.shift()!;
      c.sum -= old;
      c.sumSq -= old * old;
    }
    c.samples.push(stored);
    c.sum += stored;
    c.sumSq += stored * stored;
    this.#plan(c);
  }

  /** Mean (plus the acceptable pause) and standard deviation (at least the minimum). */
  #distribution(c: ModelConnection): [number, number] {
    const settings = this.#phi!;
    const count = c.samples.length;
    let mean: number;
    let variance: number;
    if (count === 0) {
      mean = settings.first;
      variance = (mean / 4) ** 2;
    } else {
      mean = c.sum / count;
      variance = Math.max(0, c.sumSq / count - mean * mean);
    }
    return [mean + settings.pause, Math.max(Math.sqrt(variance), settings.minStd)];
  }

  #plan(c: ModelConnection): void {
    const [mean, sd] = this.#distribution(c);
    const at = c.beatMs + phiCrossing(this.#phi!.threshold, mean, sd);
    c.suspectAt = this.tick +
      Math.max(1, Math.ceil((at - this.#now()) / this.#o.resolution));
  }

  /**
   * φ of a connection now, as monitor.phi() must give it.
   *
   * @param c The connection.
   * @returns φ, or `undefined` without suspicion.
   */
  phi(c: ModelConnection): number | undefined {
    if (this.#phi === undefined) return undefined;
    const [mean, sd] = this.#distribution(c);
    return phi(this.#now() - c.beatMs, mean, sd);
  }

  // ---- notices ----

  /**
   * Tells a notice (a transition, onIdle, onEnd, onDrain, onTooManyPings, onWarning, destroy), or
   * queues it while another is being told: what a callback causes is told once it has returned,
   * in order.
   */
  *#tell(e: Expect): Script {
    if (this.closed) return;
    if (this.#telling) {
      this.#outbox.push(e);
      return;
    }
    this.#telling = true;
    yield e;
    while (this.#outbox.length > 0 && !this.closed) yield this.#outbox.shift()!;
    this.#outbox = [];
    this.#telling = false;
  }

  *#transition(c: ModelConnection, to: ConnectionState, reason: TransitionReason): Script {
    const from = c.state;
    c.state = to;
    yield* this.#tell({ kind: "transition", c, from, to, reason, error: undefined });
  }

  *#terminate(
    c: ModelConnection,
    to: "dead" | "closed",
    reason: DeathReason | CloseReason,
    error: unknown,
  ): Script {
    const from = c.state;
    c.state = to;
    c.pingOut = false;
    if (to === "dead") {
      const deaths = this.counts.deaths as Record<string, number>;
      deaths[reason] = (deaths[reason] ?? 0) + 1;
      this.counts.detect.count++;
      this.counts.detect.sum += this.#now() - this.timeOf(c.lastIn);
    } else {
      const closes = this.counts.closes as Record<string, number>;
      closes[reason] = (closes[reason] ?? 0) + 1;
      this.counts.closed++;
    }
    yield* this.#tell({ kind: "transition", c, from, to, reason, error });
    if (this.closed || c.driver === "none") return;
    if (to === "dead" || reason === "max-idle" || reason === "max-age") {
      yield* this.#tell({ kind: "destroy", c, reason: reason as DeathReason | DrainReason, error });
    }
  }
}
