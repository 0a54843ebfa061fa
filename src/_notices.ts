// What a monitor tells its user — callbacks, event listeners, the driver's destroy — in the order
// events happened. A notice caused from inside a callback waits until the one being told is told to
// every observer, so a listener that closes a connection cannot make the next listener see the
// close before the event that led to it. Nothing is told once the monitor is closed.

import type { Config } from "./_options.ts";
import type { DeathReason } from "./errors.ts";
import { LivenessEvent } from "./events.ts";
import type { DrainReason, Driver } from "./connection.ts";

/** The kinds of notices, and what their arguments are. */
export const Notice = {
  /** a: the Transition. */
  Transition: 0,
  /** a: the IdleEvent. */
  Idle: 1,
  /** a: context, b: id. */
  End: 2,
  /** a: context, b: id, c: the DrainReason. */
  Drain: 3,
  /** a: context, b: id. */
  TooManyPings: 4,
  /** a: the text. */
  Warning: 5,
  /** a: the driver, b: context, c: reason, d: error. */
  Destroy: 6,
} as const;
/** A kind of notice. */
export type Notice = typeof Notice[keyof typeof Notice];

// Each kind's callback option and event type, by kind (Destroy has neither: a driver is always told).
const CALLBACKS = [
  "onTransition",
  "onIdle",
  "onEnd",
  "onDrain",
  "onTooManyPings",
  "onWarning",
] as const;
const TYPES = ["transition", "idle", "end", "drain", "too-many-pings", "warning"] as const;

/**
 * What the notices need of their monitor. The monitor gives an object whose methods every monitor
 * shares (see `NoticesOf` in monitor.ts).
 */
export interface NoticeTarget {
  closed(): boolean;
  /** Whether a listener for the type was ever added. */
  listened(type: string): boolean;
  dispatch(event: Event): void;
  /** Reports what a callback threw, under the callback's name. */
  report(error: unknown, callback: string): void;
}

export class Notices<C> {
  #cfg: Config<C>;
  #target: NoticeTarget;
  #telling = false; // a notice is being told: later ones wait in #outbox
  #outbox: unknown[] = []; // 5 entries a notice: its kind, then its arguments

  constructor(cfg: Config<C>, target: NoticeTarget) {
    this.#cfg = cfg;
    this.#target = target;
  }

  /**
   * Whether a notice of this kind would reach anyone: a callback or a listener for it (a driver's
   * destroy always does). The monitor asks before it builds a notice's arguments.
   */
  wanted(kind: Notice): boolean {
    if (kind === Notice.Destroy) return true;
    return this.#cfg[CALLBACKS[kind]] !== undefined || this.#target.listened(TYPES[kind]);
  }

  /** Tells a notice now, or after the one being told (see the module's comment). */
  tell(kind: Notice, a: unknown, b?: unknown, c?: unknown, d?: unknown): void {
    const target = this.#target;
    if (target.closed() || !this.wanted(kind)) return;
    if (this.#telling) {
      this.#outbox.push(kind, a, b, c, d);
      return;
    }
    this.#telling = true;
    try {
      this.#deliver(kind, a, b, c, d);
      const outbox = this.#outbox;
      for (let i = 0; i < outbox.length && !target.closed(); i += 5) {
        const next = outbox[i] as Notice;
        this.#deliver(next, outbox[i + 1], outbox[i + 2], outbox[i + 3], outbox[i + 4]);
      }
    } finally {
      if (this.#outbox.length > 0) this.#outbox = [];
      this.#telling = false;
    }
  }

  /** Drops whatever waits (the monitor was closed). */
  clear(): void {
    this.#outbox = [];
  }

  #deliver(kind: Notice, a: unknown, b: unknown, c: unknown, d: unknown): void {
    const cfg = this.#cfg;
    switch (kind) {
      case Notice.Transition:
        if (cfg.onTransition !== undefined) this.#call1("onTransition", cfg.onTransition, a);
        this.#dispatch("transition", a);
        return;
      case Notice.Idle:
        if (cfg.onIdle !== undefined) this.#call1("onIdle", cfg.onIdle, a);
        this.#dispatch("idle", a);
        return;
      case Notice.End:
        if (cfg.onEnd !== undefined) this.#call2("onEnd", cfg.onEnd, a, b);
        this.#dispatch("end", a, () => ({ id: b, context: a }));
        return;
      case Notice.Drain:
        if (cfg.onDrain !== undefined) this.#call3("onDrain", cfg.onDrain, a, b, c);
        this.#dispatch("drain", a, () => ({ id: b, context: a, reason: c }));
        return;
      case Notice.TooManyPings:
        if (cfg.onTooManyPings !== undefined) {
          this.#call2("onTooManyPings", cfg.onTooManyPings, a, b);
        }
        this.#dispatch("too-many-pings", a, () => ({ id: b, context: a }));
        return;
      case Notice.Warning:
        if (cfg.onWarning !== undefined) this.#call1("onWarning", cfg.onWarning, a);
        this.#dispatch("warning", a);
        return;
      case Notice.Destroy:
        try {
          (a as Driver<unknown>).destroy(b, c as DeathReason | DrainReason, d);
        } catch (error) {
          this.#target.report(error, "driver.destroy");
        }
    }
  }

  // A user callback with as many arguments as it is documented to get; what it throws is reported.
  #call1(name: string, callback: (a: never) => void, a: unknown): void {
    try {
      (callback as (a: unknown) => void)(a);
    } catch (error) {
      this.#target.report(error, name);
    }
  }

  #call2(name: string, callback: (a: never, b: never) => void, a: unknown, b: unknown): void {
    try {
      (callback as (a: unknown, b: unknown) => void)(a, b);
    } catch (error) {
      this.#target.report(error, name);
    }
  }

  #call3(
    name: string,
    callback: (a: never, b: never, c: never) => void,
    a: unknown,
    b: unknown,
    c: unknown,
  ): void {
    try {
      (callback as (a: unknown, b: unknown, c: unknown) => void)(a, b, c);
    } catch (error) {
      this.#target.report(error, name);
    }
  }

  /** Dispatches to listeners, building the detail only when someone listens. */
  #dispatch(type: string, detail: unknown, build?: () => unknown): void {
    const target = this.#target;
    if (target.closed() || !target.listened(type)) return;
    target.dispatch(new LivenessEvent(type, build === undefined ? detail : build()));
  }
}
