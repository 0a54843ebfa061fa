// What a monitor tells its user — callbacks, event listeners, the driver's destroy — in the order
// events happened. A notice caused from inside a callback waits until the one being told is told to
// every observer, so a listener that closes a connection cannot make the next listener see the
// close before the event that led to it. Nothing is told once the monitor is closed.

import type { Config } from "./_options.ts";
import type { DeathReason } from "./errors.ts";
import { LivenessEvent } from "./events.ts";
import type { DrainReason, Driver } from "./monitor.ts";

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

/** What the notices need of their monitor. */
export interface NoticeTarget {
  readonly closed: () => boolean;
  /** Whether a listener for the type was ever added. */
  readonly listened: (type: string) => boolean;
  readonly dispatch: (event: Event) => void;
  /** Reports what a callback threw, under the callback's name. */
  readonly report: (error: unknown, callback: string) => void;
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

  /** Tells a notice now, or after the one being told (see the module's comment). */
  tell(kind: Notice, a: unknown, b?: unknown, c?: unknown, d?: unknown): void {
    const target = this.#target;
    if (target.closed()) return;
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
      this.#outbox = [];
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
        this.#callback("onTransition", cfg.onTransition, a);
        this.#dispatch("transition", a);
        return;
      case Notice.Idle:
        this.#callback("onIdle", cfg.onIdle, a);
        this.#dispatch("idle", a);
        return;
      case Notice.End:
        this.#callback("onEnd", cfg.onEnd, a, b);
        this.#dispatch("end", a, () => ({ id: b, context: a }));
        return;
      case Notice.Drain:
        this.#callback("onDrain", cfg.onDrain, a, b, c);
        this.#dispatch("drain", a, () => ({ id: b, context: a, reason: c }));
        return;
      case Notice.TooManyPings:
        this.#callback("onTooManyPings", cfg.onTooManyPings, a, b);
        this.#dispatch("too-many-pings", a, () => ({ id: b, context: a }));
        return;
      case Notice.Warning:
        this.#callback("onWarning", cfg.onWarning, a);
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

  #callback(name: string, callback: ((...args: never[]) => void) | undefined, ...args: unknown[]) {
    if (callback === undefined) return;
    try {
      (callback as (...args: unknown[]) => void)(...args);
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
