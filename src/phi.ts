/**
 * The φ accrual failure detector (Hayashibara et al., 2004), as Akka computes it: φ expresses how
 * unlikely the current silence is, given the inter-arrival times seen so far. φ = 1 means about a
 * 10% chance the peer is still alive, 2 about 1%, 8 about 10⁻⁸ — with Akka's defaults a peer is
 * suspected at φ 8.
 *
 * @module
 */

import { describe } from "./_validate.ts";

/**
 * φ for a silence of `elapsed` milliseconds, given the mean and standard deviation of the
 * inter-arrival times. Uses the logistic approximation of the normal distribution's tail that
 * Akka uses: `y = (elapsed − mean) / sd`, `e = exp(−y (1.5976 + 0.070566 y²))`, then
 * `φ = −log10(e / (1 + e))` when `elapsed > mean`, else `−log10(1 − 1 / (1 + e))`.
 *
 * @param elapsed Milliseconds since the last arrival.
 * @param mean Mean inter-arrival time in milliseconds (acceptable pause already added).
 * @param stdDeviation Standard deviation in milliseconds (minimum already applied), > 0.
 * @returns φ, 0 or more.
 *
 * @example φ grows with silence
 * ```ts
 * import { phi } from "./phi.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(phi(1000, 1000, 100) < 1);
 * assert.ok(phi(2000, 1000, 100) > 8);
 * ```
 */
export function phi(elapsed: number, mean: number, stdDeviation: number): number {
  checkParameters(elapsed, mean, stdDeviation);
  const y = (elapsed - mean) / stdDeviation;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  const value = elapsed > mean ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
  return value > 0 ? value : 0;
}

/**
 * The silence, in milliseconds, after which φ reaches `threshold`: φ grows with silence, so the
 * crossing is found by bisection to 0.1 ms.
 *
 * @param threshold The φ to reach, > 0.
 * @param mean Mean inter-arrival time in milliseconds.
 * @param stdDeviation Standard deviation in milliseconds, > 0.
 * @returns Milliseconds of silence at which φ ≥ `threshold` (`Infinity` when no finite number of
 * milliseconds reaches it: a mean and deviation near the largest double).
 *
 * @example When does φ reach 8?
 * ```ts
 * import { phi, phiCrossing } from "./phi.ts";
 * import assert from "node:assert/strict";
 *
 * const at = phiCrossing(8, 1000, 100);
 * assert.ok(phi(at, 1000, 100) >= 8 && phi(at - 1, 1000, 100) < 8);
 * ```
 */
export function phiCrossing(threshold: number, mean: number, stdDeviation: number): number {
  check("threshold", threshold, "a finite number above 0", true);
  check("mean", mean, "a finite number of milliseconds, 0 or more", false);
  check("stdDeviation", stdDeviation, "a finite number of milliseconds above 0", true);
  let low = 0;
  let high = Math.min(mean + stdDeviation, Number.MAX_VALUE);
  while (phi(high, mean, stdDeviation) < threshold) {
    if (high === Number.MAX_VALUE) return Infinity;
    high = Math.min(high * 2, Number.MAX_VALUE);
  }
  for (;;) {
    const middle = low + (high - low) / 2;
    // Within 0.1 ms, or no double left between the two (their spacing passes 0.1 ms past 2^49 ms).
    if (high - low <= 0.1 || middle === low || middle === high) return high;
    if (phi(middle, mean, stdDeviation) >= threshold) high = middle;
    else low = middle;
  }
}

function checkParameters(elapsed: number, mean: number, stdDeviation: number): void {
  check("elapsed", elapsed, "a finite number of milliseconds, 0 or more", false);
  check("mean", mean, "a finite number of milliseconds, 0 or more", false);
  check("stdDeviation", stdDeviation, "a finite number of milliseconds above 0", true);
}

/** A TypeError for what is not a number, a RangeError for a number out of range. */
function check(name: string, value: unknown, allowed: string, above0: boolean): void {
  if (typeof value !== "number") {
    throw new TypeError(`Argument "${name}" must be ${allowed}, got ${describe(value)}`);
  }
  if (!Number.isFinite(value) || (above0 ? !(value > 0) : !(value >= 0))) {
    throw new RangeError(`Argument "${name}" must be ${allowed}, got ${value}`);
  }
}
