// toPrometheus and metricsHandler: the text is parsed back by a small strict parser of the text
// exposition format 0.0.4 written here, and the handler is served for real on the runtime running
// the file (node:http adapted by hand on Node, Deno.serve on Deno, Bun.serve on Bun).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type LabeledStats,
  metricsHandler,
  PROMETHEUS_CONTENT_TYPE,
  toPrometheus,
} from "../src/prometheus.ts";
import type { MonitorStats } from "../src/stats.ts";
import { onlyOn, runtime } from "./_skip.ts";

// ---- a strict parser of the text format ------------------------------------------------------

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

interface ParsedFamily {
  help: string | undefined;
  type: string | undefined;
  readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const FLOAT = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;

/** Undoes the escapes of a HELP text (`\\` and `\n` only). */
function unescapeHelp(text: string, where: string): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (c === "\\") return "\\";
    if (c === "n") return "\n";
    throw new Error(`${where}: bad escape \\${c} in HELP`);
  });
}

function parseValue(text: string, where: string): number {
  if (!FLOAT.test(text)) throw new Error(`${where}: bad value ${JSON.stringify(text)}`);
  if (text.endsWith("Inf")) return text.startsWith("-") ? -Infinity : Infinity;
  return Number(text);
}

function parseLabels(line: string, at: number, where: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = at;
  if (line[i] !== "{") return [labels, i];
  i++;
  while (line[i] !== "}") {
    const name = LABEL_NAME.exec(line.slice(i))?.[0];
    if (name === undefined) throw new Error(`${where}: bad label name at ${i}`);
    if (name.startsWith("__")) throw new Error(`${where}: reserved label name ${name}`);
    if (Object.hasOwn(labels, name)) throw new Error(`${where}: label ${name} repeated`);
    i += name.length;
    if (line.slice(i, i + 2) !== '="') throw new Error(`${where}: expected =" after ${name}`);
    i += 2;
    let value = "";
    for (;;) {
      const c = line[i++];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === "\\") {
        const e = line[i++];
        if (e === "\\" || e === '"') value += e;
        else if (e === "n") value += "\n";
        else throw new Error(`${where}: bad escape \\${e} in a label value`);
      } else {
        value += c;
      }
    }
    labels[name] = value;
    if (line[i] === ",") {
      i++;
      if (line[i] === "}") throw new Error(`${where}: trailing comma in labels`);
    } else if (line[i] !== "}") {
      throw new Error(`${where}: expected , or } at ${i}`);
    }
  }
  return [labels, i + 1];
}

/**
 * Parses the exposition text strictly: `\n` line ends with one at the end, HELP and TYPE at most
 * once per family and before its samples, samples grouped by family, names that belong to their
 * family (`_bucket`, `_sum` and `_count` for histograms), no series twice, and histograms whose
 * buckets are cumulative and end in `le="+Inf"` equal to `_count`.
 */
function parse(text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>();
  if (text === "") return families;
  assert.ok(text.endsWith("\n"), "the text ends with a line feed");
  assert.ok(!text.includes("\r"), "no carriage returns");
  const series = new Set<string>();
  let current: string | undefined;
  const open = (name: string, where: string): ParsedFamily => {
    let family = families.get(name);
    if (family === undefined) {
      family = { help: undefined, type: undefined, samples: [] };
      families.set(name, family);
    } else if (current !== name) {
      throw new Error(`${where}: family ${name} resumed after another one`);
    }
    current = name;
    return family;
  };
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((line, index) => {
    const where = `line ${index + 1} ${JSON.stringify(line)}`;
    if (line === "") throw new Error(`${where}: empty line`);
    const meta = /^# (HELP|TYPE) ([^ ]+) (.*)$/.exec(line);
    if (meta !== null) {
      const [, keyword, name, rest] = meta;
      if (!METRIC_NAME.test(name) || METRIC_NAME.exec(name)![0] !== name) {
        throw new Error(`${where}: bad metric name`);
      }
      const family = open(name, where);
      if (family.samples.length > 0) throw new Error(`${where}: ${keyword} after samples`);
      if (keyword === "HELP") {
        if (family.help !== undefined) throw new Error(`${where}: HELP repeated`);
        family.help = unescapeHelp(rest, where);
      } else {
        if (family.type !== undefined) throw new Error(`${where}: TYPE repeated`);
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) {
          throw new Error(`${where}: bad type ${rest}`);
        }
        family.type = rest;
      }
      return;
    }
    if (line.startsWith("#")) throw new Error(`${where}: unexpected comment`);
    const name = METRIC_NAME.exec(line)?.[0];
    if (name === undefined) throw new Error(`${where}: no metric name`);
    const [labels, end] = parseLabels(line, name.length, where);
    if (line[end] !== " ") throw new Error(`${where}: expected one space before the value`);
    const value = parseValue(line.slice(end + 1), where);
    const base = current !== undefined && families.get(current)?.type === "histogram"
      ? name.replace(/_(?:bucket|sum|count)$/, "")
      : name;
    if (base !== current) throw new Error(`${where}: sample outside its family ${current}`);
    if (name.endsWith("_bucket") && labels.le === undefined) {
      throw new Error(`${where}: bucket without le`);
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`${where}: series repeated`);
    series.add(key);
    families.get(current)!.samples.push({ name, labels, value });
  });
  for (const [name, family] of families) {
    assert.ok(family.type !== undefined, `${name} has a TYPE`);
    assert.ok(family.help !== undefined, `${name} has a HELP`);
    assert.ok(family.samples.length > 0, `${name} has samples`);
    if (family.type === "histogram") checkHistogram(name, family.samples);
  }
  return families;
}

function checkHistogram(name: string, samples: Sample[]): void {
  const groups = new Map<string, { buckets: Sample[]; count?: number; sum?: number }>();
  for (const sample of samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (sample.name === `${name}_bucket`) group.buckets.push(sample);
    else if (sample.name === `${name}_count`) group.count = sample.value;
    else if (sample.name === `${name}_sum`) group.sum = sample.value;
    else assert.fail(`${sample.name} in histogram ${name}`);
    if (sample.name !== `${name}_bucket`) assert.equal(le, undefined);
  }
  for (const [key, { buckets, count, sum }] of groups) {
    assert.ok(count !== undefined && sum !== undefined, `${name}${key} has _count and _sum`);
    const last = buckets.at(-1);
    assert.equal(last?.labels.le, "+Inf", `${name}${key} ends with le="+Inf"`);
    assert.equal(last?.value, count, `${name}${key}: +Inf bucket equals _count`);
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(
        parseValue(buckets[i].labels.le, name) > parseValue(buckets[i - 1].labels.le, name),
      );
      assert.ok(buckets[i].value >= buckets[i - 1].value, `${name}${key} is cumulative`);
    }
  }
}

/** The value of the one sample of `family` named `name` with exactly these labels. */
function value(
  families: Map<string, ParsedFamily>,
  family: string,
  labels: Record<string, string> = {},
  name = family,
): number {
  const found =
    families.get(family)?.samples.filter((s) =>
      s.name === name && JSON.stringify(Object.entries(s.labels).sort()) ===
        JSON.stringify(Object.entries(labels).sort())
    ) ?? [];
  assert.equal(found.length, 1, `one ${name}${JSON.stringify(labels)}`);
  return found[0].value;
}

// ---- snapshots -------------------------------------------------------------------------------

const REASONS = [
  "keepalive-timeout",
  "user-timeout",
  "stalled",
  "heartbeat-timeout",
  "idle-timeout",
  "reset",
  "broken-pipe",
  "unreachable",
  "refused",
  "connect-timeout",
  "error",
] as const;

function makeStats(): MonitorStats {
  return {
    states: { connecting: 5, open: 12, idle: 3, probing: 2, suspect: 1 },
    tracked: 1234,
    closed: 1100,
    closes: { "local-close": 700, "peer-close": 350, "max-idle": 40, "max-age": 10 },
    deaths: {
      "keepalive-timeout": 4,
      "user-timeout": 0,
      "stalled": 6,
      "heartbeat-timeout": 7,
      "idle-timeout": 0,
      "reset": 90,
      "broken-pipe": 2,
      "unreachable": 0,
      "refused": 13,
      "connect-timeout": 3,
      "error": 0,
    },
    pings: 5678,
    timeToDetect: {
      bounds: [0.1, 5, 250, 2500, 60_000],
      counts: [0, 1, 10, 40, 100],
      count: 116,
      sum: 8_765_432.5,
    },
    heartbeatRtt: { bounds: [1, 10, 100], counts: [0, 0, 0], count: 0, sum: 0 },
    options: {
      resolution: 100,
      idle: 30_000,
      idleTimeout: null,
      heartbeatInterval: 15_000,
      heartbeatTimeout: 5_500,
      keepaliveIdle: null,
      keepaliveInterval: null,
      keepaliveCount: 4,
      userTimeout: 20_000,
    },
  };
}

const P = "socket_liveness";

// ---- rendering -------------------------------------------------------------------------------

test("one snapshot: every family, type, help and value", () => {
  const text = toPrometheus(makeStats());
  const families = parse(text);
  assert.deepEqual([...families.keys()], [
    `${P}_connections`,
    `${P}_tracked_total`,
    `${P}_closed_total`,
    `${P}_closes_total`,
    `${P}_deaths_total`,
    `${P}_pings_total`,
    `${P}_time_to_detect_seconds`,
    `${P}_heartbeat_rtt_seconds`,
    `${P}_option_resolution_seconds`,
    `${P}_option_idle_seconds`,
    `${P}_option_heartbeat_interval_seconds`,
    `${P}_option_heartbeat_timeout_seconds`,
    `${P}_option_keepalive_count`,
    `${P}_option_user_timeout_seconds`,
  ]);
  const types = Object.fromEntries([...families].map(([name, f]) => [name, f.type]));
  assert.equal(types[`${P}_connections`], "gauge");
  for (
    const name of ["tracked_total", "closed_total", "closes_total", "deaths_total", "pings_total"]
  ) {
    assert.equal(types[`${P}_${name}`], "counter", name);
  }
  assert.equal(types[`${P}_time_to_detect_seconds`], "histogram");
  assert.equal(types[`${P}_heartbeat_rtt_seconds`], "histogram");
  for (const [name, family] of families) {
    if (name.includes("_option_")) assert.equal(family.type, "gauge", name);
    assert.ok((family.help ?? "").length > 10, `${name} has a real HELP`);
  }

  const states = [["connecting", 5], ["open", 12], ["idle", 3], ["probing", 2], ["suspect", 1]];
  for (const [state, n] of states) {
    assert.equal(value(families, `${P}_connections`, { state: String(state) }), n);
  }
  assert.equal(families.get(`${P}_connections`)?.samples.length, 5);
  const closes = makeStats().closes;
  for (const [reason, n] of Object.entries(closes)) {
    assert.equal(value(families, `${P}_closes_total`, { reason }), n, reason);
  }
  assert.equal(value(families, `${P}_tracked_total`), 1234);
  assert.equal(value(families, `${P}_closed_total`), 1100);
  assert.equal(value(families, `${P}_pings_total`), 5678);
  const deaths = makeStats().deaths;
  for (const reason of REASONS) {
    assert.equal(value(families, `${P}_deaths_total`, { reason }), deaths[reason], reason);
  }
  assert.equal(families.get(`${P}_deaths_total`)?.samples.length, REASONS.length);

  const ttd = `${P}_time_to_detect_seconds`;
  const bucket = (le: string): number => value(families, ttd, { le }, `${ttd}_bucket`);
  assert.deepEqual(
    families.get(ttd)?.samples.filter((s) => s.name.endsWith("_bucket")).map((s) => s.labels.le),
    ["0.0001", "0.005", "0.25", "2.5", "60", "+Inf"],
  );
  assert.equal(bucket("0.0001"), 0);
  assert.equal(bucket("0.005"), 1);
  assert.equal(bucket("0.25"), 10);
  assert.equal(bucket("2.5"), 40);
  assert.equal(bucket("60"), 100);
  assert.equal(bucket("+Inf"), 116);
  assert.equal(value(families, ttd, {}, `${ttd}_count`), 116);
  assert.equal(value(families, ttd, {}, `${ttd}_sum`), 8765.4325);
  assert.match(text, /^socket_liveness_time_to_detect_seconds_sum 8765\.4325$/m);

  const rtt = `${P}_heartbeat_rtt_seconds`;
  assert.deepEqual(
    families.get(rtt)?.samples.map((s) => [s.name.slice(rtt.length), s.labels.le, s.value]),
    [
      ["_bucket", "0.001", 0],
      ["_bucket", "0.01", 0],
      ["_bucket", "0.1", 0],
      ["_bucket", "+Inf", 0],
      ["_sum", undefined, 0],
      ["_count", undefined, 0],
    ],
  );

  assert.equal(value(families, `${P}_option_resolution_seconds`), 0.1);
  assert.equal(value(families, `${P}_option_idle_seconds`), 30);
  assert.equal(value(families, `${P}_option_heartbeat_interval_seconds`), 15);
  assert.equal(value(families, `${P}_option_heartbeat_timeout_seconds`), 5.5);
  assert.equal(value(families, `${P}_option_keepalive_count`), 4, "a count, not converted");
  assert.equal(value(families, `${P}_option_user_timeout_seconds`), 20);
  for (const unset of ["idle_timeout", "keepalive_idle", "keepalive_interval"]) {
    assert.ok(!text.includes(`_option_${unset}_seconds`), `${unset} is unset and left out`);
  }
});

test("the text is exactly the expected lines for a small snapshot", () => {
  const stats: MonitorStats = {
    ...makeStats(),
    timeToDetect: { bounds: [1000], counts: [2], count: 3, sum: 4500 },
    heartbeatRtt: { bounds: [], counts: [], count: 0, sum: 0 },
    options: {
      resolution: 100,
      idle: null,
      idleTimeout: null,
      heartbeatInterval: null,
      heartbeatTimeout: null,
      keepaliveIdle: null,
      keepaliveInterval: null,
      keepaliveCount: null,
      userTimeout: null,
    },
  };
  const lines = toPrometheus(stats, { prefix: "app" }).split("\n");
  assert.deepEqual(lines.slice(0, 9), [
    "# HELP app_connections Connections now in each live state.",
    "# TYPE app_connections gauge",
    'app_connections{state="connecting"} 5',
    'app_connections{state="open"} 12',
    'app_connections{state="idle"} 3',
    'app_connections{state="probing"} 2',
    'app_connections{state="suspect"} 1',
    "# HELP app_tracked_total Connections tracked since the monitor was created.",
    "# TYPE app_tracked_total counter",
  ]);
  const from = lines.indexOf("# TYPE app_time_to_detect_seconds histogram");
  assert.deepEqual(lines.slice(from + 1), [
    'app_time_to_detect_seconds_bucket{le="1"} 2',
    'app_time_to_detect_seconds_bucket{le="+Inf"} 3',
    "app_time_to_detect_seconds_sum 4.5",
    "app_time_to_detect_seconds_count 3",
    "# HELP app_heartbeat_rtt_seconds Time from a heartbeat ping to its acknowledgement.",
    "# TYPE app_heartbeat_rtt_seconds histogram",
    'app_heartbeat_rtt_seconds_bucket{le="+Inf"} 0',
    "app_heartbeat_rtt_seconds_sum 0",
    "app_heartbeat_rtt_seconds_count 0",
    "# HELP app_option_resolution_seconds Scheduler tick of the monitor.",
    "# TYPE app_option_resolution_seconds gauge",
    "app_option_resolution_seconds 0.1",
    "",
  ]);
});

test("several monitors: their labels on every sample, values escaped", () => {
  const tricky = 'C:\\path "quoted"\nnext line, {braces}=ü';
  const a = makeStats();
  const b: MonitorStats = {
    ...makeStats(),
    tracked: 7,
    states: { connecting: 0, open: 0, idle: 0, probing: 0, suspect: 0 },
    options: { ...makeStats().options, idle: null, idleTimeout: 60_000 },
  };
  const entries: LabeledStats[] = [
    { labels: { server: "api", zone: "eu-1" }, stats: a },
    { labels: { server: tricky, zone: "" }, stats: b },
  ];
  const text = toPrometheus(entries);
  assert.ok(
    text.includes('server="C:\\\\path \\"quoted\\"\\nnext line, {braces}=ü",zone=""'),
    "backslash, double quote and line feed are escaped; the rest is kept as is",
  );
  const families = parse(text);
  const api = { server: "api", zone: "eu-1" };
  const other = { server: tricky, zone: "" };
  assert.equal(value(families, `${P}_tracked_total`, api), 1234);
  assert.equal(value(families, `${P}_tracked_total`, other), 7);
  assert.equal(value(families, `${P}_connections`, { ...api, state: "open" }), 12);
  assert.equal(value(families, `${P}_connections`, { ...other, state: "open" }), 0);
  assert.equal(value(families, `${P}_deaths_total`, { ...other, reason: "reset" }), 90);
  const ttd = `${P}_time_to_detect_seconds`;
  assert.equal(value(families, ttd, { ...other, le: "+Inf" }, `${ttd}_bucket`), 116);
  assert.equal(value(families, ttd, other, `${ttd}_count`), 116);
  // An option set on one monitor only appears for that one.
  assert.equal(value(families, `${P}_option_idle_seconds`, api), 30);
  assert.equal(families.get(`${P}_option_idle_seconds`)?.samples.length, 1);
  assert.equal(value(families, `${P}_option_idle_timeout_seconds`, other), 60);
  assert.equal(families.get(`${P}_option_idle_timeout_seconds`)?.samples.length, 1);
  // Labels come first, in the order given, then the family's own.
  assert.match(
    text,
    /^socket_liveness_deaths_total\{server="api",zone="eu-1",reason="reset"\} 90$/m,
  );
  assert.equal(toPrometheus([]), "");
});

test("numbers: +Inf, -Inf, NaN, large and tiny values stay parseable", () => {
  const stats: MonitorStats = {
    ...makeStats(),
    tracked: 2 ** 53,
    closed: Infinity,
    pings: NaN,
    timeToDetect: { bounds: [1e-7, 0.3, 1e22], counts: [0, 0, 1], count: 1, sum: 123.456 },
    options: { ...makeStats().options, idle: -Infinity, idleTimeout: 0.1 + 0.2 },
  };
  const text = toPrometheus(stats);
  const families = parse(text);
  assert.match(text, /^socket_liveness_tracked_total 9007199254740992$/m);
  assert.match(text, /^socket_liveness_closed_total \+Inf$/m);
  assert.match(text, /^socket_liveness_pings_total NaN$/m);
  assert.match(text, /^socket_liveness_option_idle_seconds -Inf$/m);
  assert.match(text, /^socket_liveness_option_idle_timeout_seconds 0\.00030000000000000004$/m);
  assert.match(text, /^socket_liveness_time_to_detect_seconds_sum 0\.123456$/m);
  const ttd = `${P}_time_to_detect_seconds`;
  const les = families.get(ttd)?.samples.filter((s) => s.labels.le).map((s) => s.labels.le);
  assert.deepEqual(les, ["1e-10", "0.0003", "1e+19", "+Inf"]);
  assert.ok(Number.isNaN(value(families, `${P}_pings_total`)));
});

test("a custom prefix is used for every family and checked", () => {
  const text = toPrometheus(makeStats(), { prefix: "edge:lb_7" });
  const families = parse(text);
  assert.ok([...families.keys()].every((name) => name.startsWith("edge:lb_7_")));
  for (const prefix of ["", "1abc", "a-b", "a b", "é", "a\n"]) {
    assert.throws(() => toPrometheus(makeStats(), { prefix }), {
      name: "RangeError",
      message: `Option "prefix" must match [a-zA-Z_:][a-zA-Z0-9_:]*, got "${prefix}"`,
    });
  }
  assert.throws(() => toPrometheus(makeStats(), { prefix: 3 as unknown as string }), {
    name: "TypeError",
    message: 'Option "prefix" must be a string, got number 3',
  });
  assert.throws(() => toPrometheus(makeStats(), { perfix: "x" } as unknown as { prefix: string }), {
    name: "TypeError",
    message: 'Unknown option "perfix": expected one of prefix',
  });
  assert.throws(() => toPrometheus(makeStats(), "x" as unknown as undefined), {
    name: "TypeError",
    message: 'Option "options" must be an object, got "x"',
  });
});

test("label names are checked, and the exporter's own labels are refused", () => {
  const stats = makeStats();
  for (const name of ["1x", "a-b", "a.b", "", "é"]) {
    assert.throws(() => toPrometheus([{ labels: { [name]: "v" }, stats }]), {
      name: "RangeError",
      message:
        `Argument "stats[0].labels" has an invalid label name "${name}": it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"`,
    });
  }
  assert.throws(() => toPrometheus([{ labels: { __name__: "v" }, stats }]), {
    name: "RangeError",
    message:
      'Argument "stats[0].labels" has an invalid label name "__name__": it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with "__"',
  });
  for (const name of ["state", "reason", "le"]) {
    assert.throws(() => toPrometheus([{ labels: { [name]: "v" }, stats }]), {
      name: "RangeError",
      message:
        `Argument "stats[0].labels" may not use the label name "${name}": the exporter sets it`,
    });
  }
  assert.throws(() => toPrometheus([{ labels: { a: 1 as unknown as string }, stats }]), {
    name: "TypeError",
    message: 'Argument "stats[0].labels.a" must be a string, got number 1',
  });
  assert.throws(
    () =>
      toPrometheus([{ labels: { a: "1", b: "2" }, stats }, { labels: { b: "2", a: "1" }, stats }]),
    {
      name: "RangeError",
      message: 'Argument "stats[1].labels" must differ from those of stats[0], got the same labels',
    },
  );
  assert.throws(
    () => toPrometheus([{ labels: null as unknown as Record<string, string>, stats }]),
    {
      name: "TypeError",
      message: 'Argument "stats[0].labels" must be an object, got null',
    },
  );
});

test("a malformed snapshot is refused with the path of the bad value", () => {
  const base = makeStats();
  const cases: [unknown, string, string][] = [
    [null, "TypeError", 'Argument "stats" must be a MonitorStats object, got null'],
    [{ ...base, tracked: "1" }, "TypeError", 'Argument "stats.tracked" must be a number, got "1"'],
    [
      { ...base, states: { ...base.states, suspect: undefined } },
      "TypeError",
      'Argument "stats.states.suspect" must be a number, got undefined',
    ],
    [{ ...base, deaths: null }, "TypeError", 'Argument "stats.deaths" must be an object, got null'],
    [
      { ...base, timeToDetect: { bounds: [1, 2], counts: [1], count: 1, sum: 1 } },
      "RangeError",
      'Argument "stats.timeToDetect" must have as many counts as bounds, got 1 and 2',
    ],
    [
      { ...base, heartbeatRtt: { bounds: [1, 2], counts: [2, 1], count: 2, sum: 1 } },
      "RangeError",
      'Argument "stats.heartbeatRtt.counts" must be cumulative (non-decreasing, at most count 2), got 1 at 1',
    ],
    [
      { ...base, heartbeatRtt: { bounds: [1], counts: [3], count: 2, sum: 1 } },
      "RangeError",
      'Argument "stats.heartbeatRtt.counts" must be cumulative (non-decreasing, at most count 2), got 3 at 0',
    ],
    [
      { ...base, heartbeatRtt: { bounds: [2, 2], counts: [0, 0], count: 0, sum: 0 } },
      "RangeError",
      'Argument "stats.heartbeatRtt.bounds" must be finite and strictly ascending, got 2 at 1',
    ],
    [
      { ...base, heartbeatRtt: { bounds: [Infinity], counts: [0], count: 0, sum: 0 } },
      "RangeError",
      'Argument "stats.heartbeatRtt.bounds" must be finite and strictly ascending, got Infinity at 0',
    ],
    [
      { ...base, heartbeatRtt: { bounds: 1, counts: [], count: 0, sum: 0 } },
      "TypeError",
      'Argument "stats.heartbeatRtt" must have arrays "bounds" and "counts"',
    ],
    [
      { ...base, options: { ...base.options, idle: "30s" } },
      "TypeError",
      'Argument "stats.options.idle" must be a number, got "30s"',
    ],
  ];
  for (const [stats, name, message] of cases) {
    assert.throws(() => toPrometheus(stats as MonitorStats), { name, message });
  }
  assert.throws(() => toPrometheus([{ labels: {}, stats: { ...base, pings: null } as never }]), {
    name: "TypeError",
    message: 'Argument "stats[0].stats.pings" must be a number, got null',
  });
});

// ---- the handler -----------------------------------------------------------------------------

test("the handler answers GET and HEAD with the text, other methods with 405", async () => {
  let calls = 0;
  const handler = metricsHandler(() => {
    calls++;
    return { ...makeStats(), pings: calls };
  }, { prefix: "x" });

  const get = handler(new Request("http://localhost/metrics"));
  assert.equal(get.status, 200);
  assert.equal(get.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.equal(get.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
  assert.equal(await get.text(), toPrometheus({ ...makeStats(), pings: 1 }, { prefix: "x" }));

  const again = handler(new Request("http://localhost/anything?x=1"));
  assert.match(await again.text(), /^x_pings_total 2$/m, "a fresh snapshot on every request");

  const head = handler(new Request("http://localhost/metrics", { method: "HEAD" }));
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
  assert.equal(await head.text(), "");

  for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    const response = handler(new Request("http://localhost/metrics", { method }));
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "GET, HEAD", method);
    await response.text();
  }
  assert.equal(calls, 3, "only GET and HEAD take a snapshot");
});

test("metricsHandler checks its arguments when created", () => {
  assert.throws(() => metricsHandler(makeStats() as unknown as () => MonitorStats), {
    name: "TypeError",
    message: 'Argument "source" must be a function, got an object',
  });
  assert.throws(() => metricsHandler(makeStats, { prefix: "no-dash" }), {
    name: "RangeError",
    message: 'Option "prefix" must match [a-zA-Z_:][a-zA-Z0-9_:]*, got "no-dash"',
  });
});

// ---- served for real -------------------------------------------------------------------------

interface Served {
  readonly url: string;
  close(): Promise<void>;
}

async function scrape(served: Served): Promise<void> {
  try {
    const get = await fetch(`${served.url}/metrics`);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    const families = parse(await get.text());
    assert.equal(value(families, `${P}_tracked_total`, { runtime }), 1234);
    assert.equal(value(families, `${P}_option_heartbeat_timeout_seconds`, { runtime }), 5.5);

    const head = await fetch(`${served.url}/metrics`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
    assert.equal(await head.text(), "");

    const post = await fetch(`${served.url}/metrics`, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.text();
  } finally {
    await served.close();
  }
}

const handler = metricsHandler(() => [{ labels: { runtime }, stats: makeStats() }]);

interface NodeRequest extends AsyncIterable<Uint8Array> {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
}
interface NodeResponse {
  writeHead(status: number, headers: Record<string, string>): void;
  end(body?: Uint8Array): void;
}
interface NodeServer {
  listen(port: number, host: string, callback: () => void): void;
  address(): { port: number };
  close(callback: () => void): void;
  closeAllConnections(): void;
}

test("served by node:http through a hand-written adapter", { skip: onlyOn("node") }, async () => {
  const http = await import("node:http") as unknown as {
    createServer(listener: (req: NodeRequest, res: NodeResponse) => void): NodeServer;
  };
  const server = http.createServer(async (req, res) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of req) chunks.push(chunk);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      for (const one of [value ?? []].flat()) headers.append(name, one);
    }
    const method = req.method ?? "GET";
    const body = method === "GET" || method === "HEAD" ? undefined : concat(chunks);
    const response = handler(
      new Request(`http://${req.headers.host}${req.url}`, { method, headers, body }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(new Uint8Array(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  await scrape({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  });
});

function concat(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

test("served by Deno.serve as is", { skip: onlyOn("deno") }, async () => {
  const deno = (globalThis as unknown as {
    Deno: {
      serve(
        options: { hostname: string; port: number; onListen(): void },
        handler: (request: Request) => Response,
      ): { addr: { port: number }; shutdown(): Promise<void> };
    };
  }).Deno;
  const server = deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  await scrape({ url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() });
});

test("served by Bun.serve as is", { skip: onlyOn("bun") }, async () => {
  const bun = (globalThis as unknown as {
    Bun: {
      serve(options: { hostname: string; port: number; fetch: typeof handler }): {
        port: number;
        stop(closeActiveConnections: boolean): Promise<void> | void;
      };
    };
  }).Bun;
  const server = bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
  await scrape({
    url: `http://127.0.0.1:${server.port}`,
    close: async () => await server.stop(true),
  });
});

test("the test's parser is strict", () => {
  const bad = [
    "a 1", // no final line feed
    "# TYPE a gauge\n# TYPE a gauge\na 1\n",
    "# TYPE a gauge\na 1\n# HELP a late\n",
    "# HELP a x\n# TYPE a gauge\na 1\n# HELP b y\n# TYPE b gauge\nb 1\na 2\n",
    '# HELP a x\n# TYPE a gauge\na{l="\\t"} 1\n',
    '# HELP a x\n# TYPE a gauge\na{l="v",} 1\n',
    '# HELP a x\n# TYPE a gauge\na{l="v"} 1\na{l="v"} 2\n',
    "# HELP a x\n# TYPE a gauge\na Infinity\n",
    "# HELP a x\n# TYPE a gauge\nb 1\n",
    '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 0\nh_count 1\n',
    '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 0\nh_count 1\n',
  ];
  for (const text of bad) assert.throws(() => parse(text), Error, JSON.stringify(text));
  const good = '# HELP a x\\\\y\\nz\n# TYPE a gauge\na{l="q\\"\\\\\\n"} -1.5e3\n';
  const parsed = parse(good).get("a");
  assert.equal(parsed?.help, "x\\y\nz");
  assert.deepEqual(parsed?.samples, [{ name: "a", labels: { l: 'q"\\\n' }, value: -1500 }]);
});
