// Validation of the monitor's options into deadlines counted in ticks.

import type { Clock } from "./clock.ts";
import type { ConnectionId, DrainReason, IdleEvent, Transition } from "./connection.ts";
import type { MonitorOptions } from "./options.ts";
import { systemClock } from "./clock.ts";
import { parseDuration } from "./duration.ts";
import { type KeepaliveSettings, resolveKeepalive } from "./keepalive.ts";
import {
  describe,
  functionOrUndefined,
  integerIn,
  knownKeys,
  objectOrUndefined,
} from "./_validate.ts";

const MAX_DURATION_MS = 2_147_483_647;

const OPTION_KEYS = [
  "keepalive",
  "idle",
  "writerIdle",
  "allIdle",
  "idleTimeout",
  "connectTimeout",
  "maxIdle",
  "maxAge",
  "maxAgeJitter",
  "grace",
  "heartbeat",
  "suspicion",
  "pingEnforcement",
  "watchKernel",
  "capacity",
  "resolution",
  "clock",
  "random",
  "onTransition",
  "onEnd",
  "onIdle",
  "onDrain",
  "onTooManyPings",
  "onError",
  "signal",
  "onWarning",
] as const;
/** The keys of the `heartbeat` option (`detectionBound` takes the same). */
export const HEARTBEAT_KEYS = [
  "interval",
  "timeout",
  "send",
  "ackOnData",
  "jitter",
  "when",
] as const;
const SUSPICION_KEYS = [
  "threshold",
  "maxSamples",
  "minStdDeviation",
  "acceptablePause",
  "firstHeartbeatEstimate",
] as const;
const ENFORCEMENT_KEYS = ["minInterval", "maxStrikes"] as const;

/** The validated options; durations as ticks (0 = off) unless named `…Ms`. */
export interface Config<C = unknown> {
  keepalive: KeepaliveSettings;
  capacity: number;
  watchKernelIdle: number;
  watchKernelInterval: number;
  resolution: number;
  clock: Clock;
  random: () => number;
  idle: number;
  writerIdle: number;
  allIdle: number;
  idleTimeout: number;
  connectTimeout: number;
  maxIdle: number;
  maxAge: number;
  maxAgeJitter: number;
  grace: number;
  heartbeatInterval: number;
  heartbeatTimeout: number;
  heartbeatJitter: number;
  heartbeatAckOnData: boolean;
  heartbeatSend: ((context: C, id: ConnectionId) => void) | undefined;
  heartbeatWhen: ((context: C, id: ConnectionId) => boolean) | undefined;
  suspicion: {
    threshold: number;
    maxSamples: number;
    minStdDeviationMs: number;
    acceptablePauseMs: number;
    firstEstimateMs: number;
  } | undefined;
  pingEnforcement: { minInterval: number; maxStrikes: number } | undefined;
  onTransition: ((transition: Transition<C>) => void) | undefined;
  onEnd: ((context: C, id: ConnectionId) => void) | undefined;
  onIdle: ((event: IdleEvent<C>) => void) | undefined;
  onDrain: ((context: C, id: ConnectionId, reason: DrainReason) => void) | undefined;
  onTooManyPings: ((context: C, id: ConnectionId) => void) | undefined;
  onError: ((error: unknown, callback: string) => void) | undefined;
  signal: AbortSignal | undefined;
  onWarning: ((message: string) => void) | undefined;
}

/** The monitor's tick, in ms, from its option (default 100 ms); checked. */
export function resolutionOf(value: unknown): number {
  const resolution = value === undefined ? 100 : parseDuration(value, "resolution");
  if (!(resolution >= 1 && resolution <= 60_000)) {
    throw new RangeError(`Option "resolution" must be from 1 ms to 60000 ms, got ${resolution} ms`);
  }
  return resolution;
}

/** A duration the monitor counts in ticks, in ms: from the resolution up; checked. */
export function tickedMs(value: unknown, option: string, resolution: number): number {
  const ms = parseDuration(value, option);
  if (ms < resolution || ms > MAX_DURATION_MS) {
    throw new RangeError(
      `Option "${option}" must be from ${resolution} ms (the resolution) to ${MAX_DURATION_MS} ms, got ${ms} ms`,
    );
  }
  return ms;
}

/** Validates monitor options; throws TypeError/RangeError naming the option. */
export function parseOptions<C>(options: MonitorOptions<C> | undefined): Config<C> {
  const opts = objectOrUndefined(options, "options") ?? {};
  knownKeys(opts, "", OPTION_KEYS);
  const resolution = resolutionOf(opts.resolution);
  const ticks = (value: unknown, option: string): number =>
    value === undefined ? 0 : Math.ceil(tickedMs(value, option, resolution) / resolution);
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
  const config: Config<C> = {
    keepalive: resolveKeepalive(opts.keepalive),
    capacity: opts.capacity === undefined
      ? 64
      : integerIn(opts.capacity, "capacity", 1, 16_777_216),
    resolution,
    watchKernelIdle: 0,
    watchKernelInterval: 0,
    clock: clock as Clock,
    random: functionOrUndefined(opts.random, "random") ?? Math.random,
    idle: ticks(opts.idle, "idle"),
    writerIdle: ticks(opts.writerIdle, "writerIdle"),
    allIdle: ticks(opts.allIdle, "allIdle"),
    idleTimeout: ticks(opts.idleTimeout, "idleTimeout"),
    connectTimeout: opts.connectTimeout === undefined
      ? Math.ceil(20_000 / resolution)
      : ticks(opts.connectTimeout, "connectTimeout"),
    maxIdle: ticks(opts.maxIdle, "maxIdle"),
    maxAge: ticks(opts.maxAge, "maxAge"),
    maxAgeJitter: fraction(opts.maxAgeJitter, "maxAgeJitter", 0.1),
    grace: 0,
    heartbeatInterval: 0,
    heartbeatTimeout: 0,
    heartbeatJitter: 0,
    heartbeatAckOnData: true,
    heartbeatSend: undefined,
    heartbeatWhen: undefined,
    suspicion: undefined,
    pingEnforcement: undefined,
    onTransition: functionOrUndefined(opts.onTransition, "onTransition"),
    onEnd: functionOrUndefined(opts.onEnd, "onEnd"),
    onIdle: functionOrUndefined(opts.onIdle, "onIdle"),
    onDrain: functionOrUndefined(opts.onDrain, "onDrain"),
    onTooManyPings: functionOrUndefined(opts.onTooManyPings, "onTooManyPings"),
    onError: functionOrUndefined(opts.onError, "onError"),
    signal: abortSignal(opts.signal),
    onWarning: functionOrUndefined(opts.onWarning, "onWarning"),
  };
  if (opts.grace !== undefined) {
    const ms = parseDuration(opts.grace, "grace");
    if (ms > MAX_DURATION_MS) {
      throw new RangeError(
        `Option "grace" must be from 0 ms to ${MAX_DURATION_MS} ms, got ${ms} ms`,
      );
    }
    config.grace = Math.ceil(ms / resolution);
  }
  const heartbeat = objectOrUndefined(opts.heartbeat, "heartbeat");
  if (heartbeat !== undefined) {
    knownKeys(heartbeat, "heartbeat", HEARTBEAT_KEYS);
    if (heartbeat.interval === undefined || heartbeat.timeout === undefined) {
      throw new TypeError(`Option "heartbeat" needs "interval", "timeout" and "send"`);
    }
    config.heartbeatInterval = ticks(heartbeat.interval, "heartbeat.interval");
    config.heartbeatTimeout = ticks(heartbeat.timeout, "heartbeat.timeout");
    config.heartbeatSend = functionOrUndefined(heartbeat.send, "heartbeat.send");
    if (config.heartbeatSend === undefined) {
      throw new TypeError(`Option "heartbeat.send" must be a function, got undefined`);
    }
    if (heartbeat.ackOnData !== undefined && typeof heartbeat.ackOnData !== "boolean") {
      throw new TypeError(
        `Option "heartbeat.ackOnData" must be a boolean, got ${describe(heartbeat.ackOnData)}`,
      );
    }
    config.heartbeatAckOnData = heartbeat.ackOnData !== false;
    config.heartbeatJitter = fraction(heartbeat.jitter, "heartbeat.jitter", 0);
    config.heartbeatWhen = functionOrUndefined(heartbeat.when, "heartbeat.when");
  }
  const suspicion = opts.suspicion === true ? {} : objectOrUndefined(opts.suspicion, "suspicion");
  if (suspicion !== undefined) {
    knownKeys(suspicion, "suspicion", SUSPICION_KEYS);
    const threshold = suspicion.threshold ?? 8;
    if (typeof threshold !== "number" || !(threshold > 0 && threshold <= 100)) {
      throw new RangeError(
        `Option "suspicion.threshold" must be a number above 0 and at most 100, got ${
          describe(threshold)
        }`,
      );
    }
    const positive = (value: unknown, option: string, fallback: number): number => {
      const ms = value === undefined ? fallback : parseDuration(value, option);
      if (ms > MAX_DURATION_MS) {
        throw new RangeError(
          `Option "${option}" must be from 0 ms to ${MAX_DURATION_MS} ms, got ${ms} ms`,
        );
      }
      return ms;
    };
    const minStdDeviationMs = positive(suspicion.minStdDeviation, "suspicion.minStdDeviation", 100);
    if (minStdDeviationMs <= 0) {
      throw new RangeError(
        `Option "suspicion.minStdDeviation" must be above 0 ms, got ${minStdDeviationMs} ms`,
      );
    }
    config.suspicion = {
      threshold,
      maxSamples: suspicion.maxSamples === undefined
        ? 100
        : integerIn(suspicion.maxSamples, "suspicion.maxSamples", 2, 10_000),
      minStdDeviationMs,
      acceptablePauseMs: positive(suspicion.acceptablePause, "suspicion.acceptablePause", 0),
      firstEstimateMs: Math.max(
        1,
        positive(suspicion.firstHeartbeatEstimate, "suspicion.firstHeartbeatEstimate", 1_000),
      ),
    };
  }
  const enforcement = objectOrUndefined(opts.pingEnforcement, "pingEnforcement");
  if (enforcement !== undefined) {
    knownKeys(enforcement, "pingEnforcement", ENFORCEMENT_KEYS);
    if (enforcement.minInterval === undefined) {
      throw new TypeError(`Option "pingEnforcement" needs "minInterval"`);
    }
    config.pingEnforcement = {
      minInterval: ticks(enforcement.minInterval, "pingEnforcement.minInterval"),
      maxStrikes: enforcement.maxStrikes === undefined
        ? 2
        : integerIn(enforcement.maxStrikes, "pingEnforcement.maxStrikes", 0, 255),
    };
  }
  if (opts.watchKernel !== undefined && typeof opts.watchKernel !== "boolean") {
    throw new TypeError(
      `Option "watchKernel" must be a boolean, got ${describe(opts.watchKernel)}`,
    );
  }
  if (opts.watchKernel === true && config.keepalive.enabled) {
    // Linux's defaults where the keepalive settings leave a value to the system.
    const idle = config.keepalive.idleMs ?? 7_200_000;
    const interval = config.keepalive.intervalMs ?? 75_000;
    config.watchKernelIdle = Math.max(1, Math.ceil(idle / resolution));
    config.watchKernelInterval = Math.max(1, Math.ceil(interval / resolution));
  }
  return config;
}

/**
 * The longest heartbeat interval, in ticks, that `jitter` can draw for a connection from an
 * interval of `ticks` (the monitor draws each within ± the jitter, rounded).
 */
export function longestInterval(ticks: number, jitter: number): number {
  return Math.ceil(ticks * (1 + jitter));
}

/** A fraction from 0 to 0.5 (a jitter), or `fallback` when undefined. */
export function fraction(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0 && value <= 0.5)) {
    throw new RangeError(
      `Option "${option}" must be a fraction from 0 to 0.5, got ${describe(value)}`,
    );
  }
  return value;
}

function abortSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  const signal = value as AbortSignal | null;
  if (
    typeof signal !== "object" || signal === null || typeof signal.aborted !== "boolean" ||
    typeof signal.addEventListener !== "function" ||
    typeof signal.removeEventListener !== "function"
  ) {
    throw new TypeError(`Option "signal" must be an AbortSignal, got ${describe(value)}`);
  }
  return signal;
}
