/**
 * `plan`: the worst-case detection time of a set of options, and per runtime what its own API
 * sets, what needs FFI (and which package or permission), and what the bound is without it.
 *
 * @module
 */

import {
  type DetectionBound,
  detectionBound,
  type Detector,
  formatDuration,
  type KeepaliveControl,
  LINUX_DEFAULTS,
  type NativeKeepalive,
  tuneKeepalive,
} from "../mod.ts";
import { type FlagSpec, type ParsedArgs, UsageError } from "./_args.ts";
import { CAPABILITIES, type RuntimeCapability } from "./_capabilities.ts";
import { durationFlag, type Tuning, TUNING_FLAGS, tuningFrom } from "./_options.ts";
import { checkRuntimeName, type Output } from "./_runtime.ts";

/** The flags of `plan`. */
export const PLAN_FLAGS: readonly FlagSpec[] = [
  ...TUNING_FLAGS,
  {
    name: "--budget",
    value: "DURATION",
    help:
      "a middlebox's idle limit (NAT, load balancer), e.g. 350s for AWS NLB: warns when exceeded",
  },
  { name: "--runtime", value: "NAME", help: "show only node, deno or bun" },
  { name: "--json", help: "one JSON object on stdout" },
];

/** Bounds as `--json` prints them: `null` for never. */
interface BoundJson {
  readonly idleMs: number | null;
  readonly idleBy: Detector;
  readonly busyMs: number | null;
  readonly busyBy: Detector;
  readonly keepaliveMs: number | null;
}

/** One runtime's row. */
interface RuntimePlan {
  readonly id: RuntimeCapability["id"];
  readonly label: string;
  readonly api: string;
  readonly native: KeepaliveControl[];
  readonly ffi: KeepaliveControl[];
  readonly ffiVia: string;
  readonly install: string | null;
  readonly permission: string | null;
  readonly withFfi: BoundJson;
  readonly withoutFfi: BoundJson & { readonly warning: string | null };
  readonly notes: string[];
}

const NAMES: Record<KeepaliveControl, string> = {
  keepalive: "keepalive",
  idle: "idle",
  interval: "interval",
  count: "count",
  userTimeout: "user timeout",
};

const finite = (ms: number): number | null => Number.isFinite(ms) ? ms : null;
const never = (ms: number): string => Number.isFinite(ms) ? formatDuration(ms) : "never";

function boundJson(bound: DetectionBound): BoundJson {
  return {
    idleMs: finite(bound.idleMs),
    idleBy: bound.idleBy,
    busyMs: finite(bound.busyMs),
    busyBy: bound.busyBy,
    keepaliveMs: finite(bound.keepaliveMs),
  };
}

/** The core speaks of its options; the CLI's user typed flags. */
function inFlags(warning: string): string {
  return warning.replace(/\bset keepalive\.userTimeout\b/, "set --user-timeout")
    .replace(/\bset keepalive\.idle\b/, "set --idle");
}

/** What one runtime's adapter will report for these options, computed by the core itself. */
function planFor(capability: RuntimeCapability, tuning: Tuning): RuntimePlan {
  const settings = tuning.settings;
  const withIdle = settings.enabled && settings.idleMs !== undefined;
  const fixed = withIdle ? capability.fixedWithIdle : undefined;
  const nativeFor = (control: "interval" | "count"): boolean =>
    settings.enabled && capability.native[control] && (!capability.needsIdle || withIdle);
  const native: NativeKeepalive = {
    idle: capability.native.idle,
    interval: nativeFor("interval"),
    count: nativeFor("count"),
    sideEffects: fixed,
    set() {},
  };
  const policy = {
    heartbeat: tuning.heartbeat,
    idleTimeout: tuning.idleTimeout,
    resolution: tuning.resolution,
  };
  const without = tuneKeepalive(settings, { native, unavailable: capability.ffi.missing }, policy);
  const controls: KeepaliveControl[] = ["keepalive", "idle", "interval", "count", "userTimeout"];
  // Set as asked by the runtime's own API; anything else asked (unsupported, or held at a value
  // the runtime fixes) needs setsockopt.
  const nativeControls = controls.filter((control) =>
    without[control].via === "native" && without[control].status === "applied"
  );
  const ffiControls = controls.filter((control) =>
    without[control].status === "unsupported" || without[control].status === "adjusted"
  );
  const withFfi = detectionBound({
    ...policy,
    keepalive: settings.enabled
      ? {
        idle: settings.idleMs,
        interval: settings.intervalMs ?? fixed?.interval,
        count: settings.count ?? fixed?.count,
        userTimeout: settings.userTimeoutMs,
      }
      : false,
  });
  const notes: string[] = [];
  if (fixed !== undefined && (settings.intervalMs === undefined || settings.count === undefined)) {
    notes.push(
      `along with an idle time ${capability.label} sets interval ${
        formatDuration(fixed.interval)
      } and count ${fixed.count} by itself, not Linux's ${
        formatDuration(LINUX_DEFAULTS.intervalMs)
      } and ${LINUX_DEFAULTS.count}`,
    );
  }
  return {
    id: capability.id,
    label: capability.label,
    api: capability.api,
    native: nativeControls,
    ffi: ffiControls,
    ffiVia: capability.ffi.via,
    install: capability.ffi.install ?? null,
    permission: capability.ffi.permission ?? null,
    withFfi: boundJson(withFfi),
    withoutFfi: {
      ...boundJson(without.bound),
      warning: ffiControls.length > 0 ? without.bound.warnings[0] ?? null : null,
    },
    notes,
  };
}

/** Why the bound is what it is, in one line. */
function explain(by: Detector, tuning: Tuning): string {
  const k = tuning.settings;
  const sys = (ms: number | undefined, fallback: number) =>
    ms === undefined ? `${formatDuration(fallback)} (system)` : formatDuration(ms);
  const idle = sys(k.idleMs, LINUX_DEFAULTS.idleMs);
  const interval = sys(k.intervalMs, LINUX_DEFAULTS.intervalMs);
  const tick = formatDuration(tuning.resolution);
  switch (by) {
    case "keepalive": {
      const userTimeout = k.userTimeoutMs ?? 0;
      if (userTimeout > 0) {
        return `keepalive: idle ${idle}, then probes every ${interval} until the first at or after the user timeout ${
          formatDuration(userTimeout)
        }`;
      }
      const count = k.count === undefined ? `${LINUX_DEFAULTS.count} (system)` : String(k.count);
      return `keepalive: idle ${idle} + ${count} unanswered probes × ${interval}`;
    }
    case "user-timeout":
      return `user timeout: sent data unacknowledged for ${
        formatDuration(k.userTimeoutMs ?? 0)
      } (TCP_USER_TIMEOUT)`;
    case "retransmission":
      return `the kernel's retransmissions (tcp_retries2 = 15): no user timeout is set`;
    case "heartbeat":
      return `heartbeat: a ping after ${formatDuration(tuning.heartbeat!.interval)} of silence + ${
        formatDuration(tuning.heartbeat!.timeout)
      } for its answer + 3 ticks of ${tick}`;
    case "idle-timeout":
      return `idle timeout ${formatDuration(tuning.idleTimeout!)} + 2 ticks of ${tick}`;
  }
}

/**
 * Runs `plan`.
 *
 * @param parsed The parsed arguments.
 * @param out Where to print.
 * @returns The exit code.
 * @throws {UsageError} For bad flags.
 */
export function plan(parsed: ParsedArgs, out: Output): number {
  const tuning = tuningFrom(parsed, "plan");
  const budgetText = parsed.flags.get("--budget");
  const budget = typeof budgetText === "string"
    ? durationFlag("--budget", budgetText, "plan")
    : undefined;
  if (budget === 0) throw new UsageError(`--budget must be above 0 s, got "${budgetText}"`, "plan");
  const runtimeFlag = parsed.flags.get("--runtime");
  const only = typeof runtimeFlag === "string" ? checkRuntimeName(runtimeFlag, "plan") : undefined;
  const bound = detectionBound({
    keepalive: tuning.keepalive,
    heartbeat: tuning.heartbeat,
    idleTimeout: tuning.idleTimeout,
    resolution: tuning.resolution,
    budget,
  });
  const warnings = [
    ...tuning.adjustments,
    ...bound.warnings.filter((w) => !isAdjustment(w)).map(inFlags),
  ];
  const runtimes = CAPABILITIES.filter((c) => only === undefined || c.runtime === only)
    .map((capability) => planFor(capability, tuning));
  const k = tuning.settings;

  if (parsed.flags.has("--json")) {
    out.line(JSON.stringify({
      options: {
        keepalive: {
          enabled: k.enabled,
          idleMs: k.idleMs ?? null,
          intervalMs: k.intervalMs ?? null,
          count: k.count ?? null,
          userTimeoutMs: k.userTimeoutMs ?? null,
        },
        heartbeat: tuning.heartbeat === undefined ? null : {
          intervalMs: tuning.heartbeat.interval,
          timeoutMs: tuning.heartbeat.timeout,
        },
        idleTimeoutMs: tuning.idleTimeout ?? null,
        resolutionMs: tuning.resolution,
        budgetMs: budget ?? null,
      },
      bound: {
        ...boundJson(bound),
        idleExplained: explain(bound.idleBy, tuning),
        busyExplained: explain(bound.busyBy, tuning),
      },
      runtimes,
      warnings,
    }));
    return 0;
  }

  const lines: string[] = [];
  lines.push(`Worst case, from the peer's last sign of life to "dead":`);
  const rows = [
    ["quiet connection", never(bound.idleMs), explain(bound.idleBy, tuning)],
    ["data in flight", never(bound.busyMs), explain(bound.busyBy, tuning)],
    [
      "keepalive alone",
      never(bound.keepaliveMs),
      k.enabled ? explain("keepalive", tuning) : "keepalive is off",
    ],
  ];
  for (const [what, ms, why] of rows) lines.push(`  ${what.padEnd(18)}${ms.padEnd(11)}${why}`);
  lines.push("");
  lines.push("Per runtime (what each adapter's tuning report will say):");
  for (const runtime of runtimes) {
    lines.push(`  ${runtime.label}: ${runtime.api}`);
    lines.push(`    native       ${runtime.native.map((c) => NAMES[c]).join(", ") || "nothing"}`);
    if (runtime.ffi.length === 0) lines.push(`    needs FFI    nothing`);
    else {
      const how = `through ${runtime.ffiVia}${
        runtime.install === null ? "" : `, ${runtime.install}`
      }${runtime.permission === null ? "" : `; run with ${runtime.permission}`}`;
      lines.push(`    needs FFI    ${runtime.ffi.map((c) => NAMES[c]).join(", ")}: ${how}`);
    }
    const ms = (value: number | null) => value === null ? "never" : formatDuration(value);
    const bounds = (b: BoundJson) =>
      `quiet ${ms(b.idleMs)} (${b.idleBy}), in flight ${
        ms(b.busyMs)
      } (${b.busyBy}), keepalive alone ${ms(b.keepaliveMs)}`;
    lines.push(`    bound        ${bounds(runtime.withFfi)}`);
    if (runtime.withoutFfi.warning !== null) {
      lines.push(`    without FFI  ${bounds(runtime.withoutFfi)}`);
    }
    for (const note of runtime.notes) lines.push(`    note         ${note}`);
  }
  lines.push("  Heartbeat and idle timeout run in the monitor: the same on every runtime, no FFI.");
  if (warnings.length > 0) {
    lines.push("");
    lines.push("Warnings:");
    for (const warning of warnings) lines.push(`  ! ${warning}`);
  }
  out.line(lines.join("\n"));
  return 0;
}

function isAdjustment(warning: string): boolean {
  return / rounds up to /.test(warning);
}
