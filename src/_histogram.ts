// A fixed-bucket histogram of milliseconds: observing is a short scan, snapshots are cumulative.

import type { Histogram } from "./stats.ts";

/** Time-to-detect buckets, from 10 ms to 4 h. */
export const DETECT_BOUNDS: readonly number[] = [
  10,
  50,
  100,
  250,
  500,
  1_000,
  2_500,
  5_000,
  10_000,
  30_000,
  60_000,
  120_000,
  300_000,
  900_000,
  1_800_000,
  3_600_000,
  7_200_000,
  14_400_000,
];
/** Round-trip buckets, from 0.5 ms to 10 s. */
export const RTT_BOUNDS: readonly number[] = [
  0.5,
  1,
  2,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1_000,
  2_500,
  5_000,
  10_000,
];

/** Counts observations into buckets. */
export class Buckets {
  readonly bounds: readonly number[];
  #counts: Float64Array;
  #count = 0;
  #sum = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.#counts = new Float64Array(bounds.length);
  }

  observe(ms: number): void {
    this.#count++;
    this.#sum += ms;
    for (let i = 0; i < this.bounds.length; i++) {
      if (ms <= this.bounds[i]) {
        this.#counts[i]++;
        return;
      }
    }
  }

  snapshot(): Histogram {
    const counts: number[] = [];
    let running = 0;
    for (const count of this.#counts) counts.push(running += count);
    return { bounds: this.bounds, counts, count: this.#count, sum: this.#sum };
  }
}
