/**
 * TCP keepalive settings as people write them, checked against what the kernel accepts, and the
 * worst-case time to detect a vanished peer that follows from them.
 *
 * @module
 */

import { type Duration, formatDuration, parseDuration } from "./duration.ts";
import { describe, integerIn, knownKeys } from "./_validate.ts";

/** TCP keepalive controls. Unset controls keep the system's value. */
export interface KeepaliveOptions {
  /** Idle time before the first probe (`TCP_KEEPIDLE`); whole seconds from 1 s to 32767 s. */
  idle?: Duration;
  /** Time between probes (`TCP_KEEPINTVL`); whole seconds from 1 s to 32767 s. */
  interval?: Duration;
  /** Unanswered probes before the kernel gives up (`TCP_KEEPCNT`); 1 to 127. */
  count?: number;
  /**
   * How long sent data may stay unacknowledged before the kernel gives up (`TCP_USER_TIMEOUT`),
   * in milliseconds; 0 keeps the system's behaviour (about 15 minutes of retransmissions).
   */
  userTimeout?: Duration;
}

/**
 * A keepalive specification: an object of {@linkcode KeepaliveOptions}, nginx's `so_keepalive`
 * form `"idle:interval:count"` (e.g. `"30s:5s:4"`; parts may be empty; a bare number means
 * seconds, as in nginx), `"on"`/`true` (system values) or `"off"`/`false`.
 */
export type KeepaliveSpec = KeepaliveOptions | string | boolean;

/** Keepalive settings after validation; `undefined` means "keep the system's value". */
export interface KeepaliveSettings {
  /** Whether SO_KEEPALIVE is to be on. */
  readonly enabled: boolean;
  /** Idle time in milliseconds, a whole number of seconds. */
  readonly idleMs: number | undefined;
  /** Probe interval in milliseconds, a whole number of seconds. */
  readonly intervalMs: number | undefined;
  /** Probe count. */
  readonly count: number | undefined;
  /** `TCP_USER_TIMEOUT` in whole milliseconds (0: system behaviour). */
  readonly userTimeoutMs: number | undefined;
  /** What was changed from what was asked, and why (e.g. rounding up to whole seconds). */
  readonly adjustments: readonly string[];
  /**
   * What was asked before rounding, in milliseconds, for the controls whose value the rounding
   * changed: a tuning report shows them `adjusted`, not `applied`.
   */
  readonly requested: {
    readonly idleMs?: number;
    readonly intervalMs?: number;
    readonly userTimeoutMs?: number;
  };
}

/** Linux's defaults (`net.ipv4.tcp_keepalive_*`, `tcp_retries2`): what applies when nothing is set. */
export const LINUX_DEFAULTS: {
  readonly idleMs: number;
  readonly intervalMs: number;
  readonly count: number;
  readonly retransmitGiveUpMs: number;
} = Object.freeze({
  idleMs: 7_200_000,
  intervalMs: 75_000,
  count: 9,
  // tcp_retries2 = 15 with a 200 ms minimum RTO doubling up to 120 s: 204.6 s + 6 × 120 s.
  retransmitGiveUpMs: 924_600,
});

/** Linux limits of `TCP_KEEPIDLE` / `TCP_KEEPINTVL` in seconds. */
export const MAX_KEEPALIVE_SECONDS = 32767;
/** Linux limit of `TCP_KEEPCNT`. */
export const MAX_KEEPALIVE_COUNT = 127;
/** Largest `TCP_USER_TIMEOUT` the kernel accepts (an `int` of milliseconds). */
export const MAX_USER_TIMEOUT_MS = 2_147_483_647;
/**
 * Smallest `TCP_USER_TIMEOUT` given as a bare number that is taken as meant: Linux's minimum
 * retransmission timeout. Below it one lost segment ends the connection, and `userTimeout: 30`
 * almost surely meant 30 seconds; write `"150ms"` to mean it.
 */
export const MIN_BARE_USER_TIMEOUT_MS = 200;

const KEYS = ["idle", "interval", "count", "userTimeout"] as const;

/**
 * Validates a keepalive specification. The kernel counts idle and interval in whole seconds:
 * a fraction is rounded up (never silently down to "off" as the runtimes do), and the rounding
 * is listed in `adjustments`.
 *
 * @param spec The specification; `undefined` means "on with system values".
 * @param option The option's name, used in error messages.
 * @returns The validated settings.
 * @throws {TypeError} When the specification has the wrong shape.
 * @throws {RangeError} When a value is outside what the kernel accepts.
 *
 * @example nginx's so_keepalive form
 * ```ts
 * import { resolveKeepalive } from "./keepalive.ts";
 * import assert from "node:assert/strict";
 *
 * const settings = resolveKeepalive("30s:5s:4");
 * assert.equal(settings.idleMs, 30_000);
 * assert.equal(settings.intervalMs, 5_000);
 * assert.equal(settings.count, 4);
 * ```
 */
export function resolveKeepalive(spec: unknown, option = "keepalive"): KeepaliveSettings {
  if (spec === undefined || spec === true || spec === "on") return settings(true, {}, []);
  if (spec === false || spec === "off") return settings(false, {}, []);
  if (typeof spec === "string") return resolveKeepalive(parseSoKeepalive(spec, option), option);
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
    throw new TypeError(
      `Option "${option}" must be an object { idle, interval, count, userTimeout }, a string like "30s:5s:4", or a boolean, got ${
        describe(spec)
      }`,
    );
  }
  const object = spec as Record<string, unknown>;
  knownKeys(object, option, KEYS);
  const adjustments: string[] = [];
  const requested: { idleMs?: number; intervalMs?: number; userTimeoutMs?: number } = {};
  const idleMs = wholeSeconds(
    object.idle,
    `${option}.idle`,
    adjustments,
    (ms) => requested.idleMs = ms,
  );
  const intervalMs = wholeSeconds(
    object.interval,
    `${option}.interval`,
    adjustments,
    (ms) => requested.intervalMs = ms,
  );
  const count = object.count === undefined
    ? undefined
    : integerIn(object.count, `${option}.count`, 1, MAX_KEEPALIVE_COUNT);
  let userTimeoutMs: number | undefined;
  if (object.userTimeout !== undefined) {
    const ms = parseDuration(object.userTimeout, `${option}.userTimeout`);
    if (typeof object.userTimeout === "number" && ms > 0 && ms < MIN_BARE_USER_TIMEOUT_MS) {
      throw new RangeError(
        `Option "${option}.userTimeout" is ${ms} ms: a bare number is milliseconds, and below ${MIN_BARE_USER_TIMEOUT_MS} ms (the kernel's minimum retransmission timeout) one lost segment ends the connection; write "${ms}s" for ${ms} seconds, or "${ms}ms" if you mean it`,
      );
    }
    userTimeoutMs = Math.ceil(ms);
    if (userTimeoutMs > MAX_USER_TIMEOUT_MS) {
      throw new RangeError(
        `Option "${option}.userTimeout" must be from 0 ms to ${MAX_USER_TIMEOUT_MS} ms, got ${ms} ms`,
      );
    }
    if (userTimeoutMs !== ms) {
      requested.userTimeoutMs = ms;
      adjustments.push(
        `${option}.userTimeout ${ms} ms rounds up to ${userTimeoutMs} ms: the kernel counts whole milliseconds`,
      );
    }
  }
  return settings(true, { idleMs, intervalMs, count, userTimeoutMs }, adjustments, requested);
}

/**
 * Milliseconds as a duration string, for passing values already validated (which may be bare
 * numbers the checks above would take for a mistake) back through a specification.
 *
 * @param ms Milliseconds, or `undefined`.
 * @returns `"<ms>ms"`, or `undefined`.
 */
export function msSpec(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : `${ms}ms`;
}

function settings(
  enabled: boolean,
  values: { idleMs?: number; intervalMs?: number; count?: number; userTimeoutMs?: number },
  adjustments: string[],
  requested: KeepaliveSettings["requested"] = {},
): KeepaliveSettings {
  return Object.freeze({
    enabled,
    idleMs: values.idleMs,
    intervalMs: values.intervalMs,
    count: values.count,
    userTimeoutMs: values.userTimeoutMs,
    adjustments: Object.freeze(adjustments),
    requested: Object.freeze(requested),
  });
}

function wholeSeconds(
  value: unknown,
  option: string,
  adjustments: string[],
  rounded: (asked: number) => void,
): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value, option);
  if (typeof value === "number" && ms > 0 && ms < 1000) {
    throw new RangeError(
      `Option "${option}" is ${ms} ms: a bare number is milliseconds, and the kernel counts whole seconds from 1 s; write "${ms}s" for ${ms} seconds`,
    );
  }
  const max = MAX_KEEPALIVE_SECONDS * 1000;
  if (ms <= 0 || ms > max) {
    throw new RangeError(
      `Option "${option}" must be from 1 s to ${MAX_KEEPALIVE_SECONDS} s, got ${
        formatDuration(ms)
      }`,
    );
  }
  const whole = Math.ceil(ms / 1000) * 1000;
  if (whole !== ms) {
    rounded(ms);
    adjustments.push(
      `${option} ${formatDuration(ms)} rounds up to ${
        whole / 1000
      } s: the kernel counts whole seconds`,
    );
  }
  return whole;
}

function parseSoKeepalive(text: string, option: string): KeepaliveOptions {
  const parts = text.split(":");
  if (parts.length !== 3) {
    throw new TypeError(
      `Option "${option}" must be "on", "off" or "idle:interval:count" like "30s:5s:4", got "${text}"`,
    );
  }
  const [idle, interval, count] = parts.map((part) => part.trim());
  const result: KeepaliveOptions = {};
  // As explicit milliseconds: a bare number in this form means seconds, as in nginx.
  if (idle !== "") result.idle = `${parseDuration(idle, `${option}.idle`, "s")}ms`;
  if (interval !== "") {
    result.interval = `${parseDuration(interval, `${option}.interval`, "s")}ms`;
  }
  if (count !== "") {
    if (!/^\d+$/.test(count)) {
      throw new TypeError(
        `Option "${option}.count" must be an integer from 1 to ${MAX_KEEPALIVE_COUNT}, got "${count}"`,
      );
    }
    result.count = Number(count);
  }
  return result;
}
