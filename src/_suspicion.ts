// φ accrual suspicion for every slot of a monitor's store: a ring of inter-arrival samples per
// slot, their running sums, and the time at which φ will pass the threshold if nothing arrives.
// The monitor owns the slots and the clock; this keeps the numbers (Akka's detector, per slot).

import { phi, phiCrossing } from "./phi.ts";

/** The validated suspicion settings (milliseconds). */
export interface SuspicionSettings {
  readonly threshold: number;
  readonly maxSamples: number;
  readonly minStdDeviationMs: number;
  readonly acceptablePauseMs: number;
  readonly firstEstimateMs: number;
}

type TypedArray =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array;

/** A copy of `array` with room for `capacity × per` entries (the store grows by copying). */
export function grown<T extends TypedArray>(array: T, capacity: number, per = 1): T {
  const bigger = new (array.constructor as new (length: number) => T)(capacity * per);
  bigger.set(array);
  return bigger;
}

/** The samples and deadlines of φ for every slot; allocated only when suspicion is configured. */
export class Suspicion {
  readonly settings: SuspicionSettings;
  #beatMs = new Float64Array(0); // clock time of the last arrival
  #sum = new Float64Array(0); // sum of the samples
  #sumSq = new Float64Array(0); // sum of their squares
  #samples = new Float32Array(0); // maxSamples per slot, a ring
  #count = new Uint16Array(0);
  #head = new Uint16Array(0);
  // The tick at which φ passes the threshold: a double, so that a crossing years away (a huge
  // acceptable pause) stays exact instead of wrapping.
  #dueTick = new Float64Array(0);

  /**
   * The fewest ticks from an arrival to φ's crossing, whatever the samples: for a threshold of
   * log10(2) or more the crossing grows with the mean (never below 0 plus the acceptable pause) and
   * the deviation (never below its minimum).
   */
  readonly soonestTicks: number;

  constructor(settings: SuspicionSettings, resolution: number) {
    this.settings = settings;
    const crossing = phiCrossing(
      settings.threshold,
      settings.acceptablePauseMs,
      settings.minStdDeviationMs,
    );
    // Below log10(2) φ crosses before the mean, the sooner the wider the spread: no bound but the
    // next tick.
    this.soonestTicks = settings.threshold < Math.log10(2)
      ? 1
      : Math.max(1, Math.floor(crossing / resolution));
  }

  grow(capacity: number): void {
    this.#beatMs = grown(this.#beatMs, capacity);
    this.#sum = grown(this.#sum, capacity);
    this.#sumSq = grown(this.#sumSq, capacity);
    this.#samples = grown(this.#samples, capacity, this.settings.maxSamples);
    this.#count = grown(this.#count, capacity);
    this.#head = grown(this.#head, capacity);
    this.#dueTick = grown(this.#dueTick, capacity);
  }

  /** Forgets a slot's samples: φ starts from Akka's bootstrap estimate, counted from `now`. */
  reset(slot: number, now: number, tick: number, resolution: number): void {
    this.#count[slot] = 0;
    this.#head[slot] = 0;
    this.#sum[slot] = 0;
    this.#sumSq[slot] = 0;
    this.restart(slot, now, tick, resolution);
  }

  /** Counts silence from `now` again, keeping the samples (traffic after a suspicion). */
  restart(slot: number, now: number, tick: number, resolution: number): void {
    this.#beatMs[slot] = now;
    this.#plan(slot, now, tick, resolution);
  }

  /** Records an arrival: the interval since the previous one becomes a sample. */
  arrival(slot: number, now: number, tick: number, resolution: number): void {
    const max = this.settings.maxSamples;
    const interval = now - this.#beatMs[slot];
    this.#beatMs[slot] = now;
    const head = this.#head[slot];
    const count = this.#count[slot];
    let at: number;
    if (count === max) {
      // The ring is full: the oldest sample makes room.
      at = slot * max + head;
      const old = this.#samples[at];
      this.#sum[slot] -= old;
      this.#sumSq[slot] -= old * old;
      this.#head[slot] = (head + 1) % max;
    } else {
      at = slot * max + (head + count) % max;
      this.#count[slot] = count + 1;
    }
    this.#samples[at] = interval;
    const stored = this.#samples[at]; // as rounded to 32 bits, so removing it later is exact
    this.#sum[slot] += stored;
    this.#sumSq[slot] += stored * stored;
    this.#plan(slot, now, tick, resolution);
  }

  /** Ticks from `tick` until φ passes the threshold (0 or less: it has). */
  ticksLeft(slot: number, tick: number): number {
    return this.#dueTick[slot] - tick;
  }

  /** φ of a slot at `now`. */
  phiAt(slot: number, now: number): number {
    const [mean, sd] = this.#distribution(slot);
    return phi(now - this.#beatMs[slot], mean, sd);
  }

  /** Mean (plus acceptable pause) and standard deviation (at least the minimum) of the samples. */
  #distribution(slot: number): [number, number] {
    const settings = this.settings;
    const count = this.#count[slot];
    let mean: number;
    let variance: number;
    if (count === 0) {
      // Akka's bootstrap: the first estimate, with a quarter of it as standard deviation.
      mean = settings.firstEstimateMs;
      variance = (mean / 4) ** 2;
    } else {
      mean = this.#sum[slot] / count;
      variance = Math.max(0, this.#sumSq[slot] / count - mean * mean);
    }
    return [
      mean + settings.acceptablePauseMs,
      Math.max(Math.sqrt(variance), settings.minStdDeviationMs),
    ];
  }

  /** The tick at which φ passes the threshold, if nothing arrives before. */
  #plan(slot: number, now: number, tick: number, resolution: number): void {
    const [mean, sd] = this.#distribution(slot);
    const at = this.#beatMs[slot] + phiCrossing(this.settings.threshold, mean, sd);
    this.#dueTick[slot] = tick + Math.max(1, Math.ceil((at - now) / resolution));
  }
}
