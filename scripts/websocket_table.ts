// Runs the WebSocket scenario suite (tests/websocket_test.ts) on Bun, Deno and Node 24, one after
// the other, with 1,000 connections in scenario (e) and up to 20 s more for each runtime's own
// mechanism to reach its verdict, and prints the side-by-side table of detection times that the
// README quotes. Needs root (the suite's network namespaces); takes about three minutes.
//
//   node scripts/websocket_table.ts [--connections N] [--native-wait MS]
//   node scripts/websocket_table.ts --results FILE     only print the table of an earlier run
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string): string => join(root, "node_modules", ".bin", name);
const node24 = join(root, "node_modules", "node24", "bin", "node");
const file = "tests/websocket_test.ts";

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}
const connections = flag("--connections", 1_000);
const nativeWait = flag("--native-wait", 20_000);

const RUNNERS: Record<string, string[]> = {
  bun: [bin("bun"), "test", "--timeout=300000", `./${file}`],
  deno: [bin("deno"), "test", "-A", "--no-check", file],
  node: [node24, "--test", "--test-timeout=300000", file],
};
const TITLES: Record<string, string> = {
  bun: "Bun (Bun.serve)",
  deno: "Deno (Deno.serve)",
  node: "Node (node:http + ws)",
};

const dir = join(root, ".tmp", "websocket_table");
const given = process.argv.indexOf("--results");
const results = given === -1 ? join(dir, "results.jsonl") : process.argv[given + 1];
if (given === -1) {
  mkdirSync(dir, { recursive: true });
  rmSync(results, { force: true });
}

for (const [runtime, [cmd, ...args]] of given === -1 ? Object.entries(RUNNERS) : []) {
  process.stderr.write(`running ${file} on ${runtime}…\n`);
  const run = spawnSync(cmd, args, {
    cwd: root,
    encoding: "utf8",
    env: {
      ...process.env,
      LIVENESS_WS_RESULTS: results,
      LIVENESS_WS_CONNECTIONS: String(connections),
      LIVENESS_WS_NATIVE_WAIT_MS: String(nativeWait),
    },
    timeout: 15 * 60_000,
  });
  if (run.status !== 0) {
    process.stderr.write(`${run.stdout}\n${run.stderr}\n${file} failed on ${runtime}\n`);
    process.exit(1);
  }
}

type Row = Record<string, unknown> & {
  runtime: string;
  scenario: string;
  native: Record<string, unknown> & { detectedMs?: number | null; waitedMs?: number };
};
const rows: Row[] = existsSync(results)
  ? readFileSync(results, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line))
  : [];
const find = (runtime: string, scenario: string): Row | undefined =>
  rows.find((row) => row.runtime === runtime && row.scenario === scenario);

const s = (ms: unknown): string => `${(Number(ms) / 1000).toFixed(2)} s`;
const never = (waited: unknown): string => `not within ${s(waited)}`;

function ours(row: Row | undefined, key = "detectedMs", boundKey = "boundMs"): string {
  if (row === undefined) return "—";
  const reason = row.reason === undefined ? "" : `, ${row.reason}`;
  return `${s(row[key])} (bound ${s(row[boundKey])}${reason})`;
}

function theirs(native: Row["native"] | undefined, key = "detectedMs", waited?: unknown): string {
  if (native === undefined) return "—";
  const value = native[key];
  if (value === null || value === undefined) return never(waited ?? native.waitedMs ?? nativeWait);
  const reason = native.reason === undefined || native.reason === null ? "" : `, ${native.reason}`;
  return `${s(value)}${key === "detectedMs" ? reason : ""}`;
}

const lines: string[] = [
  "| runtime | scenario | socket-liveness | the runtime's own mechanism |",
  "| --- | --- | --- | --- |",
];
for (const runtime of Object.keys(RUNNERS)) {
  const setting = String(find(runtime, "setting")?.native ?? "");
  const a = find(runtime, "a");
  const b = find(runtime, "b");
  const c = find(runtime, "c");
  const cut = find(runtime, "c-cut");
  const d = find(runtime, "d");
  const e = find(runtime, "e");
  const title = `${TITLES[runtime]}<br>own: ${setting}`;
  const cells: [string, string, string][] = [
    ["(a) idle client, cable cut", ours(a), theirs(a?.native)],
    ["(b) server pushing to a cut client", ours(b), theirs(b?.native)],
    ["(c) hung client (TCP healthy, no pongs)", ours(c), theirs(c?.native)],
    [
      "cut client: TCP connection freed after the verdict",
      cut === undefined ? "—" : `${s(cut.freedMs)} (bound ${s(cut.freedBoundMs)})`,
      theirs(
        cut?.native,
        "freedMs",
        cut?.native.freedWaitedMs ?? Number(cut?.freedBoundMs) + nativeWait,
      ),
    ],
    [
      "(d) healthy client over 3 bounds",
      d === undefined ? "—" : "alive",
      d === undefined ? "—" : d.native.falsePositive ? `closed (${d.native.reason})` : "alive",
    ],
    [
      `(e) ${e?.connections ?? connections} connections, half cut`,
      e === undefined
        ? "—"
        : `${e.dead} dead, last at ${s(e.detectedMs)} (bound ${
          s(e.boundMs)
        }), ${e.falsePositives} false`,
      e === undefined
        ? "—"
        : `${e.native.dead} dead${
          e.native.detectedMs === null ? "" : `, last at ${s(e.native.detectedMs)}`
        }, ${e.native.falsePositives} false`,
    ],
  ];
  cells.forEach(([scenario, left, right], i) => {
    lines.push(`| ${i === 0 ? title : ""} | ${scenario} | ${left} | ${right} |`);
  });
}
console.log(lines.join("\n"));
