// Runs the benchmarks on Node 24, Node 26, Deno and Bun, one runtime after another (the machine has
// 2 cores), collects their JSON lines into .tmp/bench/results.json and prints a summary table with
// the goals.
//
//   node scripts/bench/run.mjs                       full run (what `npm run bench` runs)
//   node scripts/bench/run.mjs --quick               under two minutes in all (without detect)
//   node scripts/bench/run.mjs --n 100000,1000000    these sizes only (the core groups)
//   node scripts/bench/run.mjs --only node24,bun     these runtimes only
//   node scripts/bench/run.mjs --groups mark,e2e     these groups only
//   node scripts/bench/run.mjs --out run2.json       results there (default .tmp/bench/results.json)
//
// Groups, and the script that measures them:
//   memory, mark, mixed, tick, sweep   core.ts, on the runtime: tracking scale, no sockets
//   kernel                             kernel.ts, on the runtime: TCP_INFO, getsockopt through FFI
//   e2e, accept                        net.ts, on Node 24 as the load generator, against servers of
//                                      the runtime (_server_<runtime>.ts) over 127.0.0.1
//   ws                                 ws.ts, on Node 24 as the load generator (raw WebSocket),
//                                      against WebSocket servers of the runtime (Bun.serve,
//                                      Deno.serve, node:http + ws: _ws_server_<runtime>.ts): echo
//                                      round trips and upgrades per second, with and without
//                                      socket-liveness
//   detect                             detect.ts, on Node 24, against the runtime's peer fixtures in
//                                      a private network namespace (root, ip, nft); full run only
//
// Plain JavaScript on purpose, like scripts/test.mjs: it must run on whatever Node starts it.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, release, totalmem } from "node:os";
import { dirname, join, resolve as resolvePath } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bench = (name) => join(root, "scripts", "bench", name);
const outDir = join(root, ".tmp", "bench");
const RUNTIME_TIMEOUT_MS = 30 * 60_000;
const node24 = join(root, "node_modules", "node24", "bin", "node");

const CORE_GROUPS = ["memory", "mark", "mixed", "tick", "sweep"];
const NET_GROUPS = ["e2e", "accept"];
const GROUPS = [...CORE_GROUPS, "kernel", ...NET_GROUPS, "ws", "detect"];
// Detection waits out real keepalive and user timeouts (~15 s per runtime): too long for --quick.
const QUICK_GROUPS = GROUPS.filter((group) => group !== "detect");

const RUNTIMES = [
  {
    name: "node24",
    bin: node24,
    args: (script, gc) => [...(gc ? ["--expose-gc"] : []), script],
  },
  {
    name: "node26",
    bin: join(root, "node_modules", "node26", "bin", "node"),
    args: (script, gc) => [...(gc ? ["--expose-gc"] : []), script],
  },
  {
    name: "deno",
    bin: join(root, "node_modules", ".bin", "deno"),
    args: (script, gc) => ["run", "-A", ...(gc ? ["--v8-flags=--expose-gc"] : []), script],
  },
  { name: "bun", bin: join(root, "node_modules", ".bin", "bun"), args: (script) => [script] },
];

function parseArgs(argv) {
  const options = { quick: false, sizes: null, only: null, groups: null, out: null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === "--quick") options.quick = true;
    else if (flag === "--full") options.quick = false;
    else if (flag === "--n") options.sizes = value();
    else if (flag === "--only") options.only = value().split(",").filter(Boolean);
    else if (flag === "--out") options.out = value();
    else if (flag === "--groups") options.groups = value().split(",").filter(Boolean);
    else if (flag === "--help" || flag === "-h") usage();
    else usage(`Unknown argument ${argv[i]}`);
  }
  const names = RUNTIMES.map((r) => r.name);
  for (const name of options.only ?? []) {
    if (!names.includes(name)) usage(`--only: no runtime ${name}; choose from ${names.join(", ")}`);
  }
  for (const group of options.groups ?? []) {
    if (!GROUPS.includes(group)) {
      usage(`--groups: no group ${group}; choose from ${GROUPS.join(", ")}`);
    }
  }
  options.groups ??= options.quick ? QUICK_GROUPS : GROUPS;
  return options;
}

function usage(message) {
  if (message) process.stderr.write(`${message}\n`);
  process.stderr.write(
    "Usage: node scripts/bench/run.mjs [--quick | --full] [--n 10000,100000,1000000]" +
      " [--only node24,node26,deno,bun] [--groups " + GROUPS.join(",") + "] [--out file.json]\n",
  );
  process.exit(message ? 2 : 0);
}

function machine() {
  let cpu = "unknown";
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) =>
      l.startsWith("model name")
    );
    if (line) cpu = line.split(":")[1].trim();
  } catch {
    // Not Linux: the model stays unknown.
  }
  let commit = "unknown";
  try {
    const git = (...args) => execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
    const dirty = git("status", "--porcelain", "--", "mod.ts", "src", "adapters") !== "";
    commit = `${git("rev-parse", "--short", "HEAD")}${dirty ? " (library files modified)" : ""}`;
  } catch {
    // Not a git checkout.
  }
  return {
    commit,
    cpus: availableParallelism(),
    cpu,
    memoryGiB: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    kernel: release(),
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Runs one benchmark script; its stderr (progress and table) goes straight through. */
function runScript(label, bin, args) {
  return new Promise((resolve) => {
    const started = Date.now();
    const results = [];
    const child = spawn(bin, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    const timer = setTimeout(() => child.kill("SIGKILL"), RUNTIME_TIMEOUT_MS);
    let pending = "";
    const take = (line) => {
      if (line.trim() === "") return;
      try {
        results.push(JSON.parse(line));
      } catch {
        process.stderr.write(`[${label}] not JSON: ${line}\n`);
      }
    };
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      lines.forEach(take);
    });
    const done = (code, error) => {
      clearTimeout(timer);
      take(pending);
      pending = "";
      resolve({
        command: [bin, ...args].join(" "),
        ok: code === 0,
        exitCode: code,
        error: error?.message,
        seconds: Math.round((Date.now() - started) / 100) / 10,
        results,
      });
    };
    child.on("error", (error) => done(null, error));
    child.on("close", (code) => done(code));
  });
}

/** Every chosen group on one runtime: the scripts one after another, their results together. */
async function runOne(runtime, options) {
  const mode = options.quick ? "--quick" : "--full";
  const chosen = (groups) => groups.filter((group) => options.groups.includes(group));
  const steps = [];
  const core = chosen(CORE_GROUPS);
  if (core.length > 0) {
    const args = [mode, ...(options.sizes ? ["--n", options.sizes] : [])];
    if (core.length < CORE_GROUPS.length) args.push("--only", core.join(","));
    steps.push([runtime.bin, [...runtime.args(bench("core.ts"), true), ...args]]);
  }
  if (chosen(["kernel"]).length > 0) {
    steps.push([runtime.bin, [...runtime.args(bench("kernel.ts"), false), mode]]);
  }
  const net = chosen(NET_GROUPS);
  if (net.length > 0) {
    steps.push([node24, [
      bench("net.ts"),
      "--target",
      runtime.name,
      mode,
      "--only",
      net.join(","),
    ]]);
  }
  if (chosen(["ws"]).length > 0) {
    steps.push([node24, [bench("ws.ts"), "--target", runtime.name, mode]]);
  }
  if (chosen(["detect"]).length > 0) {
    steps.push([node24, [bench("detect.ts"), "--target", runtime.name, mode]]);
  }
  const runs = [];
  for (const [bin, args] of steps) runs.push(await runScript(runtime.name, bin, args));
  const failed = runs.find((run) => !run.ok);
  return {
    name: runtime.name,
    commands: runs.map((run) => run.command),
    ok: failed === undefined,
    exitCode: failed?.exitCode ?? 0,
    error: failed?.error,
    seconds: Math.round(runs.reduce((sum, run) => sum + run.seconds, 0) * 10) / 10,
    results: runs.flatMap((run) => run.results),
  };
}

function fmt(x) {
  if (x === undefined) return "";
  if (x === 0) return "0";
  const abs = Math.abs(x);
  if (abs >= 100) return String(Math.round(x));
  return String(Number(x.toPrecision(3)));
}

/** One row per (metric, n), one column per runtime: "median [min–max]", and the goal. */
function summary(runs) {
  const names = runs.map((r) => r.name);
  const rows = new Map();
  for (const run of runs) {
    for (const r of run.results) {
      const key = `${r.metric}\u0000${r.n}`;
      if (!rows.has(key)) {
        rows.set(key, { metric: r.metric, n: r.n, unit: r.unit, goal: r.goal, cells: {} });
      }
      const mark = r.met === false ? " ✗" : r.met === true ? " ✓" : "";
      const sample = r.sample !== undefined ? ` (of ${r.sample})` : "";
      rows.get(key).cells[run.name] = `${fmt(r.median)} [${fmt(r.min)}–${
        fmt(r.max)
      }]${mark}${sample}`;
    }
  }
  const head = ["metric", "n", "unit", ...names, "goal"];
  const body = [...rows.values()]
    .sort((a, b) => a.metric.localeCompare(b.metric) || a.n - b.n)
    .map((row) => [
      row.metric,
      String(row.n),
      row.unit,
      ...names.map((name) => row.cells[name] ?? "-"),
      row.goal ?? "",
    ]);
  const width = head.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
  const line = (cells) =>
    cells.map((cell, c) =>
      c === 0 || c === cells.length - 1 ? cell.padEnd(width[c]) : cell.padStart(width[c])
    )
      .join("  ").trimEnd();
  return [line(head), line(width.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

const options = parseArgs(process.argv.slice(2));
const measuredOn = machine(); // before the runs: the tree may move while they run

const chosen = RUNTIMES.filter((r) => options.only === null || options.only.includes(r.name));
const started = Date.now();
const runs = [];
for (const runtime of chosen) {
  if (!existsSync(runtime.bin)) {
    process.stderr.write(`[${runtime.name}] skipped: ${runtime.bin} is missing (npm install)\n`);
    runs.push({ name: runtime.name, ok: false, error: "missing", seconds: 0, results: [] });
    continue;
  }
  process.stderr.write(`\n== ${runtime.name} ==\n`);
  runs.push(await runOne(runtime, options));
}

const file = options.out === null ? join(outDir, "results.json") : resolvePath(options.out);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(
  file,
  `${
    JSON.stringify(
      {
        date: new Date().toISOString(),
        mode: options.quick ? "quick" : "full",
        groups: options.groups,
        sizes: options.sizes ?? undefined,
        machine: measuredOn,
        runtimes: runs.map(({ results, ...run }) => ({
          ...run,
          version: results[0]?.version,
          measurements: results.length,
        })),
        results: runs.flatMap((run) => run.results.map((r) => ({ runner: run.name, ...r }))),
      },
      null,
      2,
    )
  }\n`,
);

process.stdout.write(`\n${summary(runs)}\n\n`);
for (const run of runs) {
  const version = run.results[0]?.version ?? "?";
  const status = run.ok
    ? "ok"
    : `FAILED${run.error ? ` (${run.error})` : ` (exit ${run.exitCode})`}`;
  process.stdout.write(`${run.name} ${version}: ${status}, ${run.seconds} s\n`);
}
process.stdout.write(
  `Results in ${file} (${((Date.now() - started) / 1000).toFixed(1)} s; ✓/✗ = goal met or not)\n`,
);
if (runs.some((run) => !run.ok)) process.exitCode = 1;
