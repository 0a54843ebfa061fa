/**
 * The tuning flags shared by `plan` and `probe` (keepalive, user timeout, heartbeat, idle timeout,
 * resolution), turned into validated monitor options. Validation is the core's own (a throwaway
 * `LivenessMonitor`), with its option names rewritten to the flags the user typed.
 *
 * @module
 */

import {
  formatDuration,
  type KeepaliveOptions,
  type KeepaliveSettings,
  type KeepaliveSpec,
  LivenessMonitor,
  MAX_KEEPALIVE_COUNT,
  parseDuration,
  resolveKeepalive,
} from "../mod.ts";
import { type FlagSpec, type ParsedArgs, UsageError } from "./_args.ts";

/** The flags of {@linkcode tuningFrom}. */
export const TUNING_FLAGS: readonly FlagSpec[] = [
  {
    name: "--keepalive",
    value: "SPEC",
    help: 'OS keepalive as idle:interval:count ("30s:5s:4", parts may be empty), "on" or "off"',
  },
  {
    name: "--idle",
    value: "DURATION",
    help: "keepalive idle before the first probe (TCP_KEEPIDLE)",
  },
  { name: "--interval", value: "DURATION", help: "time between keepalive probes (TCP_KEEPINTVL)" },
  {
    name: "--count",
    value: "N",
    help: `unanswered probes before giving up, 1-${MAX_KEEPALIVE_COUNT}`,
  },
  {
    name: "--user-timeout",
    value: "DURATION",
    help: "how long sent data may stay unacknowledged (TCP_USER_TIMEOUT)",
  },
  {
    name: "--heartbeat",
    value: "INTERVAL/TIMEOUT",
    help: 'application heartbeat: ping after INTERVAL of silence, dead TIMEOUT later ("20s/10s")',
  },
  { name: "--heartbeat-interval", value: "DURATION", help: "the heartbeat's interval alone" },
  { name: "--heartbeat-timeout", value: "DURATION", help: "the heartbeat's timeout alone" },
  {
    name: "--idle-timeout",
    value: "DURATION",
    help: "dead after no traffic either way for this long",
  },
  {
    name: "--resolution",
    value: "DURATION",
    help: "the monitor's tick, 1ms-60s (default 100ms)",
  },
];

/** Validated tuning, ready for a monitor and for `detectionBound`. */
export interface Tuning {
  /** For `LivenessMonitor`'s `keepalive` option. */
  readonly keepalive: KeepaliveSpec;
  /** The same, validated. */
  readonly settings: KeepaliveSettings;
  /** Heartbeat timing in milliseconds. */
  readonly heartbeat: { readonly interval: number; readonly timeout: number } | undefined;
  /** Idle timeout in milliseconds. */
  readonly idleTimeout: number | undefined;
  /** The monitor's tick in milliseconds. */
  readonly resolution: number;
  /** What was changed from what was asked (rounding), in the flags' words. */
  readonly adjustments: readonly string[];
}

const UNIT_HINT = 'a duration like "30s", "1m30s" or "500ms"';

/** Rewrites the core's `Option "name"` into the flag that carried the value. */
function rewrite(text: string, names: Readonly<Record<string, string>>): string {
  return text
    .replace(/Option "([^"]+)"/g, (_, name: string) => names[name] ?? name)
    .replace(/^([a-zA-Z.]+) (?=\d)/, (_, name: string) => `${names[name] ?? name} `);
}

function asUsage(
  error: unknown,
  names: Readonly<Record<string, string>>,
  command: string,
): UsageError {
  if (error instanceof UsageError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new UsageError(rewrite(message, names), command);
}

/**
 * Parses a duration flag; the error names the flag.
 *
 * @param flag The flag's name.
 * @param value Its value.
 * @param command The command, for the error.
 * @returns Milliseconds.
 * @throws {UsageError} When the value is not a duration.
 */
export function durationFlag(flag: string, value: string, command: string): number {
  if (/^\d+(?:\.\d+)?$/.test(value.trim())) {
    throw new UsageError(
      `${flag} must be ${UNIT_HINT} (the unit is required), got "${value}"`,
      command,
    );
  }
  try {
    return parseDuration(value, flag);
  } catch {
    throw new UsageError(`${flag} must be ${UNIT_HINT}, got "${value}"`, command);
  }
}

function text(parsed: ParsedArgs, flag: string): string | undefined {
  const value = parsed.flags.get(flag);
  return typeof value === "string" ? value : undefined;
}

/**
 * Turns the tuning flags into validated options.
 *
 * @param parsed The parsed arguments.
 * @param command The command, for errors.
 * @returns The tuning.
 * @throws {UsageError} Naming the flag and what is allowed.
 */
export function tuningFrom(parsed: ParsedArgs, command: string): Tuning {
  // Which flag carried each of the core's options, for its error messages.
  const names: Record<string, string> = {
    keepalive: "--keepalive",
    "keepalive.idle": "--idle",
    "keepalive.interval": "--interval",
    "keepalive.count": "--count",
    "keepalive.userTimeout": "--user-timeout",
    "heartbeat.interval": "--heartbeat-interval",
    "heartbeat.timeout": "--heartbeat-timeout",
    idleTimeout: "--idle-timeout",
    resolution: "--resolution",
  };
  const spec = text(parsed, "--keepalive");
  let base: KeepaliveSettings | undefined;
  if (spec !== undefined) {
    const part = (name: string) => `--keepalive's ${name}`;
    try {
      base = resolveKeepalive(spec, "keepalive");
    } catch (error) {
      throw asUsage(error, {
        keepalive: "--keepalive",
        "keepalive.idle": part("idle"),
        "keepalive.interval": part("interval"),
        "keepalive.count": part("count"),
      }, command);
    }
    if (base.idleMs !== undefined) names["keepalive.idle"] = part("idle");
    if (base.intervalMs !== undefined) names["keepalive.interval"] = part("interval");
    if (base.count !== undefined) names["keepalive.count"] = part("count");
  }
  const parts: KeepaliveOptions = {};
  if (base?.idleMs !== undefined) parts.idle = base.idleMs;
  if (base?.intervalMs !== undefined) parts.interval = base.intervalMs;
  if (base?.count !== undefined) parts.count = base.count;
  for (const [flag, key] of [["--idle", "idle"], ["--interval", "interval"]] as const) {
    const value = text(parsed, flag);
    if (value === undefined) continue;
    parts[key] = durationFlag(flag, value, command);
    names[`keepalive.${key}`] = flag;
  }
  const count = text(parsed, "--count");
  if (count !== undefined) {
    if (!/^\d+$/.test(count)) {
      throw new UsageError(
        `--count must be an integer from 1 to ${MAX_KEEPALIVE_COUNT}, got "${count}"`,
        command,
      );
    }
    parts.count = Number(count);
    names["keepalive.count"] = "--count";
  }
  const userTimeout = text(parsed, "--user-timeout");
  if (userTimeout !== undefined) {
    parts.userTimeout = durationFlag("--user-timeout", userTimeout, command);
  }
  const off = base !== undefined && !base.enabled;
  const given = ["--idle", "--interval", "--count", "--user-timeout"].filter((flag) =>
    parsed.flags.has(flag)
  );
  if (off && given.length > 0) {
    throw new UsageError(
      `${
        given[0]
      } cannot be combined with --keepalive off (TCP_USER_TIMEOUT too is set along with keepalive); drop one of them`,
      command,
    );
  }
  const keepalive: KeepaliveSpec = off ? false : Object.keys(parts).length === 0 ? "on" : parts;

  const heartbeat = heartbeatFrom(parsed, command, names);
  const idleTimeoutText = text(parsed, "--idle-timeout");
  const idleTimeout = idleTimeoutText === undefined
    ? undefined
    : durationFlag("--idle-timeout", idleTimeoutText, command);
  const resolutionText = text(parsed, "--resolution");
  const resolution = resolutionText === undefined
    ? 100
    : durationFlag("--resolution", resolutionText, command);

  let monitor: LivenessMonitor | undefined;
  try {
    // The core validates; nothing runs until a connection is tracked.
    monitor = new LivenessMonitor({
      keepalive,
      idleTimeout,
      resolution,
      heartbeat: heartbeat && { ...heartbeat, send: () => {} },
    });
  } catch (error) {
    throw asUsage(error, names, command);
  } finally {
    monitor?.close();
  }
  const settings = monitor.keepalive;
  return {
    keepalive,
    settings,
    heartbeat,
    idleTimeout,
    resolution,
    adjustments: settings.adjustments.map((line) => rewrite(line, names)),
  };
}

function heartbeatFrom(
  parsed: ParsedArgs,
  command: string,
  names: Record<string, string>,
): { interval: number; timeout: number } | undefined {
  const both = text(parsed, "--heartbeat");
  const interval = text(parsed, "--heartbeat-interval");
  const timeout = text(parsed, "--heartbeat-timeout");
  if (both !== undefined) {
    const other = interval !== undefined ? "--heartbeat-interval" : "--heartbeat-timeout";
    if (interval !== undefined || timeout !== undefined) {
      throw new UsageError(`--heartbeat cannot be combined with ${other}: use one form`, command);
    }
    const halves = both.split("/");
    if (halves.length !== 2) {
      throw new UsageError(
        `--heartbeat must be INTERVAL/TIMEOUT like "20s/10s", got "${both}"`,
        command,
      );
    }
    names["heartbeat.interval"] = "--heartbeat's interval";
    names["heartbeat.timeout"] = "--heartbeat's timeout";
    return {
      interval: durationFlag("--heartbeat's interval", halves[0], command),
      timeout: durationFlag("--heartbeat's timeout", halves[1], command),
    };
  }
  if (interval === undefined && timeout === undefined) return undefined;
  if (interval === undefined || timeout === undefined) {
    const missing = interval === undefined ? "--heartbeat-interval" : "--heartbeat-timeout";
    const present = interval === undefined ? "--heartbeat-timeout" : "--heartbeat-interval";
    throw new UsageError(`${present} needs ${missing} too (or use --heartbeat 20s/10s)`, command);
  }
  return {
    interval: durationFlag("--heartbeat-interval", interval, command),
    timeout: durationFlag("--heartbeat-timeout", timeout, command),
  };
}

/**
 * One line saying what a tuning asks for, in the flags' notation.
 *
 * @param tuning The tuning.
 * @returns E.g. `keepalive 30s:5s:4, user timeout 50 s, heartbeat 20 s/10 s`.
 */
export function describeTuning(tuning: Tuning): string {
  const k = tuning.settings;
  const s = (ms: number | undefined) => ms === undefined ? "" : `${ms / 1000}s`;
  const parts: string[] = [];
  if (!k.enabled) parts.push("keepalive off");
  else if (k.idleMs === undefined && k.intervalMs === undefined && k.count === undefined) {
    parts.push("keepalive on (system values)");
  } else parts.push(`keepalive ${s(k.idleMs)}:${s(k.intervalMs)}:${k.count ?? ""}`);
  if (k.userTimeoutMs !== undefined) parts.push(`user timeout ${formatDuration(k.userTimeoutMs)}`);
  if (tuning.heartbeat !== undefined) {
    parts.push(
      `heartbeat ${formatDuration(tuning.heartbeat.interval)}/${
        formatDuration(tuning.heartbeat.timeout)
      }`,
    );
  }
  if (tuning.idleTimeout !== undefined) {
    parts.push(`idle timeout ${formatDuration(tuning.idleTimeout)}`);
  }
  return parts.join(", ");
}
