// Renders the tables of BENCHMARKS.md from the results a run of run.mjs wrote, so that every figure
// there comes from a run's file and not from copying by hand.
//
//   node scripts/bench/tables.mjs [results.json]            every table
//   node scripts/bench/tables.mjs results.json --core       per runtime: memory, mark, tick, sweep
//   node scripts/bench/tables.mjs results.json --compare    one row per metric, a column per runtime
//   node scripts/bench/tables.mjs results.json --compare --match=accept.,e2e.   those metrics only
//
// A cell is `median [min–max]` (with `p99` for ticks and ✓/✗ where a goal applies); `[of N]` when
// fewer connections than the column's size were measured. Plain JavaScript, like run.mjs.
import { readFileSync } from "node:fs";
import process from "node:process";

const args = process.argv.slice(2);
const file = args.find((arg) => !arg.startsWith("--")) ?? ".tmp/bench/results.json";
const match = args.find((arg) => arg.startsWith("--match="))?.slice(8).split(",") ?? [""];
const only = args.filter((arg) => arg.startsWith("--") && !arg.startsWith("--match="))
  .map((arg) => arg.slice(2));
const run = JSON.parse(readFileSync(file, "utf8"));
const runners = run.runtimes.map((r) => r.name);
const CORE_PREFIXES = ["memory.", "mark.", "mixed.", "tick.", "sweep."];
const isCore = (metric) => CORE_PREFIXES.some((prefix) => metric.startsWith(prefix));

/** Three significant figures, without exponent notation. */
function fmt(value) {
  if (value === undefined || value === null || Number.isNaN(value)) return "—";
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString("en-US");
  if (abs === 0) return "0";
  const digits = Math.max(0, 2 - Math.floor(Math.log10(abs)));
  return String(Number(value.toFixed(Math.min(digits, 6))));
}

function cell(result) {
  if (result === undefined) return "—";
  const mark = result.met === true ? " ✓" : result.met === false ? " ✗" : "";
  const p99 = result.p99 !== undefined ? `, p99 ${fmt(result.p99)}` : "";
  const of = result.sample !== undefined ? ` [of ${fmt(result.sample)}]` : "";
  const range = result.runs > 1 ? ` [${fmt(result.min)}–${fmt(result.max)}]` : "";
  return `${fmt(result.median)}${range}${p99}${mark}${of}`;
}

function table(head, rows) {
  const width = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells) => `| ${cells.map((text, c) => text.padEnd(width[c])).join(" | ")} |`;
  return [line(head), line(width.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

function byKey(results) {
  const map = new Map();
  for (const result of results) {
    map.set(`${result.runner}\u0000${result.metric}\u0000${result.n}`, result);
  }
  return map;
}

const results = run.results.filter((r) => match.some((prefix) => r.metric.startsWith(prefix)));
const index = byKey(results);
const out = [];

if (only.length === 0 || only.includes("core")) {
  for (const runner of runners) {
    const mine = results.filter((r) => r.runner === runner && isCore(r.metric));
    if (mine.length === 0) continue;
    const sizes = [...new Set(mine.map((r) => r.n))].sort((a, b) => a - b);
    const metrics = [...new Set(mine.map((r) => r.metric))];
    const label = (n) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n));
    const rows = metrics.map((metric) => {
      const any = mine.find((r) => r.metric === metric);
      return [
        `\`${metric}\``,
        any.unit,
        ...sizes.map((n) => cell(index.get(`${runner}\u0000${metric}\u0000${n}`))),
        any.goal ?? "",
      ];
    });
    const version = mine[0].version;
    out.push(
      `### ${runner} (${version})\n\n${
        table(["Metric", "Unit", ...sizes.map(label), "Goal"], rows)
      }`,
    );
  }
}

if (only.length === 0 || only.includes("compare")) {
  const other = results.filter((r) => !isCore(r.metric));
  const keys = [...new Set(other.map((r) => `${r.metric}\u0000${r.n}`))];
  const present = runners.filter((runner) => other.some((r) => r.runner === runner));
  const rows = keys.map((key) => {
    const [metric, n] = key.split("\u0000");
    const any = other.find((r) => r.metric === metric && String(r.n) === n);
    return [
      `\`${metric}\``,
      any.unit,
      ...present.map((runner) => cell(index.get(`${runner}\u0000${key}`))),
      any.goal ?? "",
    ];
  });
  if (rows.length > 0) {
    const versions = present.map((runner) => {
      const version = other.find((r) => r.runner === runner)?.version;
      return version === undefined ? runner : `${runner} ${version}`;
    });
    out.push(table(["Metric", "Unit", ...versions, "Goal"], rows));
  }
}

process.stdout.write(`${out.join("\n\n")}\n`);
