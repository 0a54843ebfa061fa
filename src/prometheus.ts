/**
 * Renders monitor statistics in the Prometheus text exposition format (version 0.0.4), and serves
 * them from a fetch-style handler that `Deno.serve`, `Bun.serve` and Node adapters accept as is.
 *
 * @module
 */

import { DEATH_REASONS } from "./errors.ts";
import type { MonitorStats } from "./stats.ts";
import { describe, knownKeys, objectOrUndefined } from "./_validate.ts";

/** The statistics of one monitor among several, told apart by its labels. */
export interface LabeledStats {
  /** Labels added to every sample of this monitor, e.g. `{ server: "api" }`. */
  readonly labels: Readonly<Record<string, string>>;
  /** The monitor's snapshot. */
  readonly stats: MonitorStats;
}

/** Options of {@linkcode toPrometheus} and {@linkcode metricsHandler}. */
export interface PrometheusOptions {
  /** Metric name prefix, matching `[a-zA-Z_:][a-zA-Z0-9_:]*` (default `"socket_liveness"`). */
  prefix?: string;
}

/** The `Content-Type` of the text exposition format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const DEFAULT_PREFIX = "socket_liveness";
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
// Labels this module sets itself; a monitor's labels may not reuse them.
const OWN_LABELS = ["state", "reason", "le"];

// Records keyed by the snapshot's own keys, so the compiler flags a state or reason left out.
const STATES: Readonly<Record<keyof MonitorStats["states"], true>> = {
  connecting: true,
  open: true,
  idle: true,
  probing: true,
  suspect: true,
};
const CLOSES: Readonly<Record<keyof MonitorStats["closes"], true>> = {
  "local-close": true,
  "peer-close": true,
  "max-idle": true,
  "max-age": true,
};
interface OptionMetric {
  readonly name: string;
  readonly help: string;
  readonly seconds: boolean;
}
const OPTIONS: Readonly<Record<keyof MonitorStats["options"], OptionMetric>> = {
  resolution: {
    name: "option_resolution_seconds",
    help: "Scheduler tick of the monitor.",
    seconds: true,
  },
  idle: {
    name: "option_idle_seconds",
    help: "Time without data received after which a connection is reported idle.",
    seconds: true,
  },
  idleTimeout: {
    name: "option_idle_timeout_seconds",
    help: "Time without traffic either way after which a connection is declared dead.",
    seconds: true,
  },
  heartbeatInterval: {
    name: "option_heartbeat_interval_seconds",
    help: "Time without data received after which a heartbeat ping is sent.",
    seconds: true,
  },
  heartbeatTimeout: {
    name: "option_heartbeat_timeout_seconds",
    help: "Time a heartbeat ping may stay unanswered before the connection is declared dead.",
    seconds: true,
  },
  keepaliveIdle: {
    name: "option_keepalive_idle_seconds",
    help: "TCP keepalive idle time before the first probe (TCP_KEEPIDLE).",
    seconds: true,
  },
  keepaliveInterval: {
    name: "option_keepalive_interval_seconds",
    help: "Time between TCP keepalive probes (TCP_KEEPINTVL).",
    seconds: true,
  },
  keepaliveCount: {
    name: "option_keepalive_count",
    help: "Unanswered TCP keepalive probes before the connection is dropped (TCP_KEEPCNT).",
    seconds: false,
  },
  userTimeout: {
    name: "option_user_timeout_seconds",
    help: "Time sent data may stay unacknowledged before the connection is dropped " +
      "(TCP_USER_TIMEOUT).",
    seconds: true,
  },
};

type MetricType = "counter" | "gauge" | "histogram";

const FAMILIES: readonly (readonly [string, MetricType, string])[] = [
  ["connections", "gauge", "Connections now in each live state."],
  ["tracked_total", "counter", "Connections tracked since the monitor was created."],
  ["closed_total", "counter", "Connections ended in order since the monitor was created."],
  [
    "closes_total",
    "counter",
    "Connections ended in order since the monitor was created, by who closed them.",
  ],
  [
    "deaths_total",
    "counter",
    "Connections declared dead since the monitor was created, by reason.",
  ],
  ["pings_total", "counter", "Heartbeat pings sent since the monitor was created."],
  [
    "time_to_detect_seconds",
    "histogram",
    "Time from the last proof of life to the connection being declared dead.",
  ],
  ["heartbeat_rtt_seconds", "histogram", "Time from a heartbeat ping to its acknowledgement."],
  ...Object.values(OPTIONS).map(({ name, help }) => [name, "gauge", help] as const),
];
const HISTOGRAMS = [
  ["time_to_detect_seconds", "timeToDetect"],
  ["heartbeat_rtt_seconds", "heartbeatRtt"],
] as const;

interface Family {
  readonly help: string;
  readonly type: MetricType;
  readonly lines: string[];
}

/**
 * Renders one monitor's statistics, or several monitors' told apart by labels, in the Prometheus
 * text exposition format 0.0.4.
 *
 * Families (with the default prefix): the gauge `socket_liveness_connections{state}`, the counters
 * `socket_liveness_tracked_total`, `_closed_total`, `_closes_total{reason}` and
 * `_deaths_total{reason}` (every reason, zeros included) and `_pings_total`, the histograms `socket_liveness_time_to_detect_seconds` and
 * `_heartbeat_rtt_seconds`, and one gauge per option in force (`_option_idle_seconds`, ...;
 * unset options are left out). Times are converted from milliseconds to seconds.
 *
 * @param stats A snapshot, or several with the labels that tell them apart.
 * @param options The metric name prefix.
 * @returns The exposition text, each line ending in `\n`.
 * @throws {TypeError} When the snapshot is malformed or a label value is not a string.
 * @throws {RangeError} When the prefix or a label name is invalid, a label is repeated, or a
 * histogram is not cumulative.
 *
 * @example Render a snapshot
 * ```ts
 * import { toPrometheus } from "./prometheus.ts";
 * import assert from "node:assert/strict";
 *
 * const histogram = { bounds: [1000], counts: [1], count: 2, sum: 4500 };
 * const text = toPrometheus({
 *   states: { connecting: 0, open: 3, idle: 1, probing: 0, suspect: 0 },
 *   tracked: 10,
 *   closed: 4,
 *   closes: { "local-close": 3, "peer-close": 1, "max-idle": 0, "max-age": 0 },
 *   deaths: {
 *     "keepalive-timeout": 0, "user-timeout": 0, stalled: 0, "heartbeat-timeout": 1,
 *     "idle-timeout": 0, reset: 1, "broken-pipe": 0, unreachable: 0, refused: 0,
 *     "connect-timeout": 0, error: 0,
 *   },
 *   pings: 7,
 *   timeToDetect: histogram,
 *   heartbeatRtt: histogram,
 *   options: {
 *     resolution: 100, idle: null, idleTimeout: 300_000, heartbeatInterval: null,
 *     heartbeatTimeout: null, keepaliveIdle: null, keepaliveInterval: null, keepaliveCount: null,
 *     userTimeout: null,
 *   },
 * });
 * assert.match(text, /^socket_liveness_connections\{state="open"\} 3$/m);
 * assert.match(text, /^socket_liveness_time_to_detect_seconds_bucket\{le="1"\} 1$/m);
 * assert.match(text, /^socket_liveness_option_idle_timeout_seconds 300$/m);
 * ```
 */
export function toPrometheus(
  stats: MonitorStats | readonly LabeledStats[],
  options?: PrometheusOptions,
): string {
  const prefix = resolvePrefix(options);
  const entries = normalize(stats);
  // Every family known up front, in output order; those left without samples are not written.
  const families = new Map<string, Family>(
    FAMILIES.map(([name, type, help]) => [name, { type, help, lines: [] }]),
  );
  const add = (name: string, line: string): void => {
    families.get(name)?.lines.push(line);
  };

  for (const { labels, stats: s, path } of entries) {
    if (s === null || typeof s !== "object" || Array.isArray(s)) {
      throw new TypeError(`Argument "${path}" must be a MonitorStats object, got ${describe(s)}`);
    }
    const sample = (
      name: string,
      value: unknown,
      field: string,
      label?: readonly [string, string],
      seconds = false,
    ): void => {
      const number = checkNumber(value, `${path}.${field}`);
      const all = label === undefined ? labels : [...labels, label];
      const text = seconds ? msToSeconds(number) : formatNumber(number);
      add(name, `${prefix}_${name}${formatLabels(all)} ${text}`);
    };
    const states = checkObject(s.states, `${path}.states`);
    for (const state of Object.keys(STATES)) {
      sample("connections", states[state], `states.${state}`, ["state", state]);
    }
    sample("tracked_total", s.tracked, "tracked");
    sample("closed_total", s.closed, "closed");
    const closes = checkObject(s.closes, `${path}.closes`);
    for (const reason of Object.keys(CLOSES)) {
      sample("closes_total", closes[reason] ?? 0, `closes.${reason}`, ["reason", reason]);
    }
    const deaths = checkObject(s.deaths, `${path}.deaths`);
    for (const reason of DEATH_REASONS) {
      sample("deaths_total", deaths[reason] ?? 0, `deaths.${reason}`, ["reason", reason]);
    }
    sample("pings_total", s.pings, "pings");
    for (const [name, key] of HISTOGRAMS) {
      for (const line of histogram(`${prefix}_${name}`, labels, s[key], `${path}.${key}`)) {
        add(name, line);
      }
    }
    const inForce = checkObject(s.options, `${path}.options`);
    for (const [key, metric] of Object.entries(OPTIONS)) {
      const value = inForce[key];
      if (value === null || value === undefined) continue;
      sample(metric.name, value, `options.${key}`, undefined, metric.seconds);
    }
  }

  let text = "";
  for (const [name, { help, type, lines }] of families) {
    if (lines.length === 0) continue;
    const full = `${prefix}_${name}`;
    text += `# HELP ${full} ${escapeHelp(help)}\n# TYPE ${full} ${type}\n${lines.join("\n")}\n`;
  }
  return text;
}

/**
 * A fetch-style handler serving {@linkcode toPrometheus} of a fresh snapshot on every request:
 * `GET` and `HEAD` answer 200 with `Content-Type: text/plain; version=0.0.4; charset=utf-8`, other
 * methods 405 with `Allow: GET, HEAD`. It serves any path; route before it to share a server.
 * Give it to `Deno.serve(handler)` or `Bun.serve({ fetch: handler })` as is. An error thrown by
 * `source` or by rendering propagates, so the server answers 500 and logs it.
 *
 * @param source Returns the snapshot (or labeled snapshots) to serve, e.g. `() => monitor.stats()`.
 * @param options The metric name prefix, checked now rather than on the first scrape.
 * @returns The handler.
 * @throws {TypeError} When `source` is not a function or `options` is malformed.
 * @throws {RangeError} When the prefix is invalid.
 *
 * @example Answer a scrape
 * ```ts
 * import { metricsHandler } from "./prometheus.ts";
 * import assert from "node:assert/strict";
 *
 * const histogram = { bounds: [], counts: [], count: 0, sum: 0 };
 * const handler = metricsHandler(() => ({
 *   states: { connecting: 0, open: 1, idle: 0, probing: 0, suspect: 0 },
 *   tracked: 1,
 *   closed: 0,
 *   closes: { "local-close": 0, "peer-close": 0, "max-idle": 0, "max-age": 0 },
 *   deaths: {
 *     "keepalive-timeout": 0, "user-timeout": 0, stalled: 0, "heartbeat-timeout": 0,
 *     "idle-timeout": 0, reset: 0, "broken-pipe": 0, unreachable: 0, refused: 0,
 *     "connect-timeout": 0, error: 0,
 *   },
 *   pings: 0,
 *   timeToDetect: histogram,
 *   heartbeatRtt: histogram,
 *   options: {
 *     resolution: 100, idle: null, idleTimeout: null, heartbeatInterval: null,
 *     heartbeatTimeout: null, keepaliveIdle: null, keepaliveInterval: null, keepaliveCount: null,
 *     userTimeout: null,
 *   },
 * }));
 * const response = handler(new Request("http://localhost/metrics"));
 * assert.equal(response.status, 200);
 * assert.match(await response.text(), /^socket_liveness_tracked_total 1$/m);
 * assert.equal(handler(new Request("http://localhost/", { method: "POST" })).status, 405);
 * ```
 */
export function metricsHandler(
  source: () => MonitorStats | readonly LabeledStats[],
  options?: PrometheusOptions,
): (request: Request) => Response {
  if (typeof source !== "function") {
    throw new TypeError(`Argument "source" must be a function, got ${describe(source)}`);
  }
  const prefix = resolvePrefix(options);
  return (request: Request): Response => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method Not Allowed\n", {
        status: 405,
        headers: { "Allow": "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" },
      });
    }
    const text = toPrometheus(source(), { prefix });
    return new Response(request.method === "HEAD" ? null : text, {
      status: 200,
      headers: { "Content-Type": PROMETHEUS_CONTENT_TYPE, "Cache-Control": "no-store" },
    });
  };
}

function resolvePrefix(options: PrometheusOptions | undefined): string {
  const object = objectOrUndefined(options, "options");
  if (object === undefined) return DEFAULT_PREFIX;
  knownKeys(object, "", ["prefix"]);
  const prefix = object.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== "string") {
    throw new TypeError(`Option "prefix" must be a string, got ${describe(prefix)}`);
  }
  if (!METRIC_NAME.test(prefix)) {
    throw new RangeError(
      `Option "prefix" must match [a-zA-Z_:][a-zA-Z0-9_:]*, got ${describe(prefix)}`,
    );
  }
  return prefix;
}

interface Entry {
  readonly labels: readonly (readonly [string, string])[];
  readonly stats: Record<string, unknown>;
  readonly path: string;
}

function normalize(stats: MonitorStats | readonly LabeledStats[]): Entry[] {
  if (!Array.isArray(stats)) {
    return [{ labels: [], stats: stats as unknown as Record<string, unknown>, path: "stats" }];
  }
  const seen = new Map<string, number>();
  return (stats as readonly LabeledStats[]).map((entry, i) => {
    const path = `stats[${i}]`;
    if (entry === null || typeof entry !== "object") {
      throw new TypeError(
        `Argument "${path}" must be an object with labels and stats, got ${describe(entry)}`,
      );
    }
    const labels = checkLabels(entry.labels, `${path}.labels`);
    const key = JSON.stringify([...labels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const twin = seen.get(key);
    if (twin !== undefined) {
      throw new RangeError(
        `Argument "${path}.labels" must differ from those of stats[${twin}], got the same labels`,
      );
    }
    seen.set(key, i);
    return {
      labels,
      stats: entry.stats as unknown as Record<string, unknown>,
      path: `${path}.stats`,
    };
  });
}

function checkLabels(labels: unknown, path: string): [string, string][] {
  if (labels === null || typeof labels !== "object" || Array.isArray(labels)) {
    throw new TypeError(`Argument "${path}" must be an object, got ${describe(labels)}`);
  }
  return Object.entries(labels).map(([name, value]): [string, string] => {
    if (!LABEL_NAME.test(name) || name.startsWith("__")) {
      throw new RangeError(
        `Argument "${path}" has an invalid label name ${
          describe(name)
        }: it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"`,
      );
    }
    if (OWN_LABELS.includes(name)) {
      throw new RangeError(
        `Argument "${path}" may not use the label name "${name}": the exporter sets it`,
      );
    }
    if (typeof value !== "string") {
      throw new TypeError(
        `Argument "${path}.${name}" must be a string, got ${describe(value)}`,
      );
    }
    return [name, value];
  });
}

function checkObject(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== "object") {
    throw new TypeError(`Argument "${path}" must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function checkNumber(value: unknown, path: string): number {
  if (typeof value !== "number") {
    throw new TypeError(`Argument "${path}" must be a number, got ${describe(value)}`);
  }
  return value;
}

function histogram(
  name: string,
  labels: readonly (readonly [string, string])[],
  value: unknown,
  path: string,
): string[] {
  const h = checkObject(value, path);
  const lines: string[] = [];
  const { bounds, counts } = h;
  if (!Array.isArray(bounds) || !Array.isArray(counts)) {
    throw new TypeError(`Argument "${path}" must have arrays "bounds" and "counts"`);
  }
  if (bounds.length !== counts.length) {
    throw new RangeError(
      `Argument "${path}" must have as many counts as bounds, got ${counts.length} and ${bounds.length}`,
    );
  }
  const count = checkNumber(h.count, `${path}.count`);
  const sum = checkNumber(h.sum, `${path}.sum`);
  let previousBound = -Infinity;
  let previousCount = 0;
  for (let i = 0; i < bounds.length; i++) {
    const bound = checkNumber(bounds[i], `${path}.bounds[${i}]`);
    const cumulative = checkNumber(counts[i], `${path}.counts[${i}]`);
    if (!Number.isFinite(bound) || bound <= previousBound) {
      throw new RangeError(
        `Argument "${path}.bounds" must be finite and strictly ascending, got ${bound} at ${i}`,
      );
    }
    if (cumulative < previousCount || cumulative > count) {
      throw new RangeError(
        `Argument "${path}.counts" must be cumulative (non-decreasing, at most count ${count}), got ${cumulative} at ${i}`,
      );
    }
    lines.push(
      `${name}_bucket${formatLabels([...labels, ["le", msToSeconds(bound)]])} ${
        formatNumber(cumulative)
      }`,
    );
    previousBound = bound;
    previousCount = cumulative;
  }
  lines.push(`${name}_bucket${formatLabels([...labels, ["le", "+Inf"]])} ${formatNumber(count)}`);
  lines.push(`${name}_sum${formatLabels(labels)} ${msToSeconds(sum)}`);
  lines.push(`${name}_count${formatLabels(labels)} ${formatNumber(count)}`);
  return lines;
}

function formatLabels(labels: readonly (readonly [string, string])[]): string {
  if (labels.length === 0) return "";
  return `{${labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`;
}

function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

/** A sample value as Prometheus (Go's `ParseFloat`) reads it. */
function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * Milliseconds as seconds, by moving the decimal point of the shortest decimal form, so that 5 ms
 * is `0.005` and 0.1 ms is `0.0001` (dividing by 1000 can leave binary noise in the last digit).
 */
function msToSeconds(ms: number): string {
  if (!Number.isFinite(ms)) return formatNumber(ms);
  const sign = ms < 0 ? "-" : "";
  const text = String(Math.abs(ms));
  const e = text.indexOf("e");
  if (e !== -1) {
    const exponent = Number(text.slice(e + 1)) - 3;
    return `${sign}${text.slice(0, e)}e${exponent < 0 ? "" : "+"}${exponent}`;
  }
  const [whole, fraction = ""] = text.split(".");
  const digits = whole.padStart(4, "0");
  const int = digits.slice(0, -3).replace(/^0+(?=\d)/, "");
  const frac = (digits.slice(-3) + fraction).replace(/0+$/, "");
  return `${sign}${int}${frac === "" ? "" : `.${frac}`}`;
}
