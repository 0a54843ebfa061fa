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
import type { BackendResult } from "../src/_sockopt.ts";
import { loadBunBackend } from "../adapters/_ffi_bun.ts";
import { loadDenoBackend } from "../adapters/_ffi_deno.ts";
import { loadNodeBackend } from "../adapters/_ffi_node.ts";
import { type FlagSpec, type ParsedArgs, UsageError } from "./_args.ts";
import { CAPABILITIES, type RuntimeCapability } from "./_capabilities.ts";
import { durationFlag, type Tuning, TUNING_FLAGS, tuningFrom } from "./_options.ts";
import { registry } from "./_package.ts";
import { checkRuntimeName, type Output, runtime as running, type RuntimeName } from "./_runtime.ts";

/** The flags of `plan`. */
export const PLAN_FLAGS: readonly FlagSpec[] = [
  ...TUNING_FLAGS,
  {
    name: "--budget",
    value: "DURATION",
    help:
      "a middlebox's idle limit (NAT, load balancer), e.g. 350s for AWS NLB: says whether it is met",
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

/** Whether this runtime's FFI works here: checked for the runtime running `plan` only. */
interface FfiHere {
  readonly ok: boolean;
  /** Why not, e.g. `koffi not installed`. */
  readonly problem: string | null;
  /** What makes it work, when something can: `npm install koffi`, `run with --allow-ffi`. */
  readonly fix: string | null;
}

/** How long a quiet connection sends nothing, and what ends the silence. */
interface Silence {
  readonly ms: number;
  readonly by: "keepalive" | "heartbeat" | null;
}

/** One runtime's row. */
interface RuntimePlan {
  readonly id: RuntimeCapability["id"];
  readonly runtime: RuntimeName;
  readonly label: string;
  readonly api: string;
  readonly native: KeepaliveControl[];
  readonly ffi: KeepaliveControl[];
  readonly ffiVia: string;
  readonly install: string | null;
  readonly permission: string | null;
  /** `null` when another runtime runs `plan`. */
  readonly ffiHere: FfiHere | null;
  readonly withFfi: BoundJson;
  readonly withoutFfi: BoundJson & { readonly warning: string | null };
  /** Whether a quiet connection sends something within `--budget` (`null` without one). */
  readonly budgetMet: { readonly withFfi: boolean; readonly withoutFfi: boolean } | null;
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

/** The running runtime's FFI backend, loaded as its adapter loads it; never throws. */
function loadBackend(name: RuntimeName): BackendResult {
  switch (name) {
    case "node":
      return loadNodeBackend();
    case "deno":
      return loadDenoBackend();
    case "bun":
      return loadBunBackend();
  }
}

/** What is true of a runtime's FFI where `plan` runs, in plain words. */
function ffiHere(capability: RuntimeCapability, loaded: BackendResult | undefined): FfiHere | null {
  if (capability.runtime !== running || loaded === undefined) return null;
  if (loaded.ok) return { ok: true, problem: null, fix: null };
  const fixable = loaded.reason === capability.ffi.missing;
  const { install, permission } = capability.ffi;
  const fix = !fixable
    ? null
    : install !== undefined
    ? `npm install ${install}`
    : permission !== undefined
    ? `run with ${permission}`
    : null;
  return { ok: false, problem: loaded.reason, fix };
}

/**
 * How long a quiet connection sends nothing: until the first keepalive probe (the kernel sends it
 * after the idle time) or heartbeat ping (after the interval without a byte from the peer).
 */
function silence(tuning: Tuning, keepaliveIdleMs: number | undefined): Silence {
  const idle = tuning.settings.enabled ? keepaliveIdleMs ?? LINUX_DEFAULTS.idleMs : Infinity;
  const ping = tuning.heartbeat?.interval ?? Infinity;
  if (!Number.isFinite(Math.min(idle, ping))) return { ms: Infinity, by: null };
  return ping < idle ? { ms: ping, by: "heartbeat" } : { ms: idle, by: "keepalive" };
}

/** What one runtime's adapter will report for these options, computed by the core itself. */
function planFor(
  capability: RuntimeCapability,
  tuning: Tuning,
  budget: number | undefined,
  loaded: BackendResult | undefined,
): RuntimePlan {
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
  // The same rule as the core's budget warning: something must cross a quiet flow before the budget.
  let budgetMet: RuntimePlan["budgetMet"] = null;
  if (budget !== undefined) {
    const idleWithout = without.idle.status === "unsupported" ? undefined : settings.idleMs;
    const withFfiMet = silence(tuning, settings.idleMs).ms < budget;
    const withoutFfiMet = silence(tuning, idleWithout).ms < budget;
    budgetMet = { withFfi: withFfiMet, withoutFfi: withoutFfiMet };
    if (withFfiMet && !withoutFfiMet) {
      notes.push(
        `without FFI keepalive idle stays the system's ${
          formatDuration(LINUX_DEFAULTS.idleMs)
        }: a quiet flow outlasts the ${formatDuration(budget)} budget`,
      );
    }
  }
  return {
    id: capability.id,
    runtime: capability.runtime,
    label: capability.label,
    api: capability.api,
    native: nativeControls,
    ffi: ffiControls,
    ffiVia: capability.ffi.via,
    install: capability.ffi.install ?? null,
    permission: capability.ffi.permission ?? null,
    ffiHere: ffiHere(capability, loaded),
    withFfi: boundJson(withFfi),
    withoutFfi: {
      ...boundJson(without.bound),
      warning: ffiControls.length > 0 ? without.bound.warnings[0] ?? null : null,
    },
    budgetMet,
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
  const shown = CAPABILITIES.filter((c) => only === undefined || c.runtime === only);
  // Whether the FFI works is known for the runtime running this only: load it as its adapter does.
  const loaded = shown.some((c) => c.runtime === running) ? loadBackend(running) : undefined;
  const runtimes = shown.map((capability) => planFor(capability, tuning, budget, loaded));
  const quiet = silence(tuning, tuning.settings.idleMs);
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
      budget: budget === undefined ? null : {
        ms: budget,
        met: quiet.ms < budget,
        silentMs: finite(quiet.ms),
        silentUntil: quiet.by,
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
  if (budget !== undefined) {
    lines.push("");
    lines.push(budgetLine(budget, quiet));
  }
  lines.push("");
  lines.push("Per runtime (what each adapter's tuning report will say):");
  for (const runtime of runtimes) {
    lines.push(`  ${runtime.label}: ${runtime.api}`);
    lines.push(`    native       ${runtime.native.map((c) => NAMES[c]).join(", ") || "nothing"}`);
    if (runtime.ffi.length === 0) lines.push(`    needs FFI    nothing`);
    else {
      lines.push(
        `    needs FFI    ${runtime.ffi.map((c) => NAMES[c]).join(", ")}: ${ffiHow(runtime)}`,
      );
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

/** Whether the budget is met, in one plain sentence. */
function budgetLine(budget: number, quiet: Silence): string {
  const at = formatDuration(budget);
  if (quiet.ms < budget) {
    const what = quiet.by === "heartbeat" ? "a heartbeat ping" : "a keepalive probe";
    return `Budget ${at}: met. A quiet connection sends ${what} after ${
      formatDuration(quiet.ms)
    } of silence, before the middlebox drops the flow at ${at}.`;
  }
  if (quiet.by === null) {
    return `Budget ${at}: not met. A quiet connection sends nothing (keepalive off, no heartbeat): the middlebox drops the flow at ${at}.`;
  }
  const what = quiet.by === "heartbeat" ? "heartbeat interval" : "keepalive idle";
  return `Budget ${at}: not met. A quiet connection sends nothing for ${
    formatDuration(quiet.ms)
  } (the ${what}): the middlebox drops the flow first, at ${at}.`;
}

/** How a runtime reaches setsockopt, and what is true of it where `plan` runs. */
function ffiHow(runtime: RuntimePlan): string {
  const via = `through ${runtime.ffiVia}`;
  const here = runtime.ffiHere;
  if (here === null) {
    // Another runtime's FFI cannot be checked from here: what it takes. (From npm, koffi is an
    // optional dependency; JSR installs no npm package.)
    const install = runtime.install === null
      ? ""
      : ` (${
        registry === "npm"
          ? "an optional dependency of socket-liveness"
          : `npm install ${runtime.install}`
      }; checked when plan runs on ${runtime.runtime})`;
    return `${via}${install}${
      runtime.permission === null ? "" : `; run with ${runtime.permission}`
    }`;
  }
  if (here.ok) {
    return runtime.permission === null
      ? `${via}, which loads here`
      : `${via}; ${runtime.permission} is granted`;
  }
  if (here.fix === null) return `${via}, unavailable here: ${here.problem}`;
  return runtime.permission !== null
    ? `${via}; ${runtime.permission} is not granted: ${here.fix}`
    : `${via}, which is not installed here: ${here.fix}`;
}

function isAdjustment(warning: string): boolean {
  return / rounds up to /.test(warning);
}
