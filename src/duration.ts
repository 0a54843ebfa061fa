/**
 * Durations: milliseconds as a number, or a string such as `"30s"`, `"1m30s"`, `"500ms"`.
 *
 * @module
 */

/** A duration in milliseconds, or a string with units: `ms`, `s`, `m`, `h`, `d` (e.g. `"1m30s"`). */
export type Duration = number | string;

import { describe } from "./_validate.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * Converts a {@linkcode Duration} to milliseconds.
 *
 * @param value A number of milliseconds or a string like `"30s"`, `"1m30s"`, `"500ms"`.
 * @param option The option's name, used in error messages.
 * @param unitless The unit of a bare number inside a string; by default a bare string number is
 *   rejected, since `"30"` is ambiguous.
 * @returns The duration in milliseconds (finite, zero or more).
 * @throws {TypeError} When the value is neither a number nor a duration string.
 * @throws {RangeError} When the value is negative, NaN or infinite.
 *
 * @example Parse durations
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseDuration("1m30s", "idle"), 90_000);
 * assert.equal(parseDuration(250, "idle"), 250);
 * ```
 */
export function parseDuration(
  value: unknown,
  option: string,
  unitless?: "s" | "ms",
): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(
        `Option "${option}" must be a finite number of milliseconds, 0 or more, got ${value}`,
      );
    }
    return value;
  }
  if (typeof value !== "string") {
    throw new TypeError(
      `Option "${option}" must be a number of milliseconds or a string like "30s", got ${
        describe(value)
      }`,
    );
  }
  const text = value.trim();
  if (unitless !== undefined && /^\d+(?:\.\d+)?$/.test(text)) {
    return Number(text) * UNIT_MS[unitless];
  }
  let total = 0;
  let at = 0;
  PART.lastIndex = 0;
  while (at < text.length) {
    PART.lastIndex = at;
    const match = PART.exec(text);
    if (match === null) {
      throw new TypeError(
        `Option "${option}" must be a duration like "30s", "1m30s" or "500ms", got "${value}"`,
      );
    }
    total += Number(match[1]) * UNIT_MS[match[2]];
    at = PART.lastIndex;
  }
  if (text.length === 0) {
    throw new TypeError(
      `Option "${option}" must be a duration like "30s", "1m30s" or "500ms", got an empty string`,
    );
  }
  if (!Number.isFinite(total)) {
    throw new RangeError(`Option "${option}" must be finite, got "${value}"`);
  }
  return total;
}

/**
 * Formats milliseconds for people: `"7200 s"`, `"2.5 s"`, `"300 ms"`.
 *
 * @param ms Milliseconds.
 * @returns A short human-readable duration.
 *
 * @example Format a duration
 * ```ts
 * import { formatDuration } from "./duration.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatDuration(7_200_000), "7200 s");
 * ```
 */
export function formatDuration(ms: number): string {
  if (typeof ms !== "number") {
    throw new TypeError(`Argument "ms" must be a number of milliseconds, got ${describe(ms)}`);
  }
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1000) return `${Math.round(ms * 1000) / 1000} ms`;
  return `${Math.round(ms) / 1000} s`;
}
