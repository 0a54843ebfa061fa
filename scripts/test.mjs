// Runs the static checks, the build and the test suite on every runtime, concurrently, and prints a
// summary (passed, failed and skipped per task) whose last line is `N passed, N failed, N skipped`.
// Each task logs to .tmp/logs/<task>.log.
//
//   node scripts/test.mjs                      everything (what `npm test` runs)
//   node scripts/test.mjs --only node24,deno   these tasks (and what they need); also `checks`, `tests`
//   node scripts/test.mjs --no-checks          the test runners only
//   node scripts/test.mjs --filter socket      only test files whose path contains "socket"
//   node scripts/test.mjs --jobs 4             tasks at once (default: cores + 1)
//
// Plain JavaScript on purpose: it must run on any Node the machine has (npm scripts put Node 24 first
// on PATH; CI's own Node is 20) without type stripping.
import { execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const logDir = join(root, ".tmp", "logs");
const packDir = join(root, ".tmp", "pack");
const bin = (name) => join(root, "node_modules", ".bin", name);
const node24 = join(root, "node_modules", "node24", "bin", "node");
const node26 = join(root, "node_modules", "node26", "bin", "node");
// The machine's own Node (20 here): npm records the Node that runs it; outside npm, our own.
const nodeSystem = process.env.npm_node_execpath || process.execPath;
const nodeSystemMajor = execFileSync(nodeSystem, ["--version"], { encoding: "utf8" }).trim()
  .replace(/^v(\d+).*/, "$1");
const node = process.execPath; // runs the JavaScript tools (tsc, tsup, publint, attw)
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
const tarball = join(packDir, `${pkg.name.replace(/^@/, "").replace("/", "-")}-${pkg.version}.tgz`);
const TASK_TIMEOUT_MS = 10 * 60_000;
const TEST_TIMEOUT_MS = 60_000; // per test, for the runners that have such a limit (Bun's is 5 s)

// ---- arguments -------------------------------------------------------------------------------

function parseArgs(argv) {
  const options = { only: null, checks: true, filter: null, jobs: availableParallelism() + 1 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const [flag, inline] = arg.split("=", 2);
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    if (arg === "--no-checks") options.checks = false;
    else if (arg.startsWith("--only")) options.only = value().split(",").filter(Boolean);
    else if (arg.startsWith("--filter")) options.filter = value();
    else if (arg.startsWith("--jobs")) {
      options.jobs = Math.max(1, Number.parseInt(value(), 10) || 1);
    } else if (arg === "--help" || arg === "-h") usage();
    else usage(`unknown argument ${arg}`);
  }
  return options;
}

function usage(error) {
  const lines = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
  const help = lines.slice(0, lines.findIndex((line) => !line.startsWith("//"))).join("\n");
  console.error(`${error ? `${error}\n\n` : ""}${help.replaceAll(/^\/\/ ?/gm, "")}`);
  process.exit(error ? 2 : 0);
}

const options = parseArgs(process.argv.slice(2));

// ---- test files ------------------------------------------------------------------------------

const testFiles = existsSync(join(root, "tests"))
  ? readdirSync(join(root, "tests"))
    .filter((name) => name.endsWith("_test.ts"))
    .sort()
    .map((name) => `tests/${name}`)
    .filter((file) => options.filter === null || file.includes(options.filter))
  : [];

// ---- how each runner reports its counts -------------------------------------------------------

function lastNumber(text, pattern) {
  const matches = [...text.matchAll(pattern)];
  return matches.length === 0 ? null : Number(matches.at(-1)[1]);
}

// Skips are counted per runtime too: a test that cannot run here must say so where it is defined
// (`{ skip: reason }`, see tests/_skip.ts), since Deno counts an in-body `t.skip()` as passed.
const counters = {
  // TAP (`# pass 3`) when not on a terminal up to Node 22, the spec reporter (`ℹ pass 3`) since.
  // A test that hits its timeout is `cancelled`, not `fail`.
  node: (log) => {
    const failed = lastNumber(log, /^(?:#|ℹ) fail (\d+)$/gm);
    const cancelled = lastNumber(log, /^(?:#|ℹ) cancelled (\d+)$/gm) ?? 0;
    return {
      passed: lastNumber(log, /^(?:#|ℹ) pass (\d+)$/gm),
      failed: failed === null ? null : failed + cancelled,
      skipped: lastNumber(log, /^(?:#|ℹ) skipped (\d+)$/gm),
    };
  },
  // `ok | 12 passed (3 steps) | 0 failed | 2 ignored (45ms)`, or `FAILED | 11 passed | 1 failed …`;
  // a test skipped where it is defined is `ignored` (none: no such part).
  deno: (log) => ({
    passed: lastNumber(log, /^(?:ok|FAILED) \| (\d+) passed/gm),
    failed: lastNumber(log, /^(?:ok|FAILED) \| .*?(\d+) failed/gm),
    skipped: lastNumber(log, /^(?:ok|FAILED) \| .*?(\d+) ignored/gm) ??
      (lastNumber(log, /^(?:ok|FAILED) \| (\d+) passed/gm) === null ? null : 0),
  }),
  // ` 12 pass`, ` 2 skip` and ` 0 fail` near the end (no skip line when none was skipped).
  bun: (log) => ({
    passed: lastNumber(log, /^\s*(\d+) pass$/gm),
    failed: lastNumber(log, /^\s*(\d+) fail$/gm),
    skipped: lastNumber(log, /^\s*(\d+) skip$/gm) ??
      (lastNumber(log, /^\s*(\d+) pass$/gm) === null ? null : 0),
  }),
};

// ---- the tasks -------------------------------------------------------------------------------

// `kind` is "check" (counts as one) or "tests" (counts what the runner reports). `needs` names
// tasks that must pass first. Order is priority: the longest-running tasks start first.
const nodeTest = (binary) => [
  binary,
  "--test",
  `--test-timeout=${TEST_TIMEOUT_MS}`,
  ...testFiles,
];
const ALL_TASKS = [
  { name: "build", kind: "check", cmd: [node, bin("tsup")] },
  { name: "node24", kind: "tests", count: counters.node, cmd: nodeTest(node24), files: true },
  { name: "node26", kind: "tests", count: counters.node, cmd: nodeTest(node26), files: true },
  {
    name: "deno",
    kind: "tests",
    count: counters.deno,
    // Type errors are the deno check task's to report; here they would hide every test result.
    cmd: [bin("deno"), "test", "-A", "--no-check", ...testFiles],
    files: true,
  },
  {
    name: "bun",
    kind: "tests",
    count: counters.bun,
    // A path that does not start with ./ is a name filter to `bun test`, not a file.
    cmd: [bin("bun"), "test", `--timeout=${TEST_TIMEOUT_MS}`, ...testFiles.map((f) => `./${f}`)],
    files: true,
  },
  {
    name: `dist-node${nodeSystemMajor}`,
    alias: "dist",
    kind: "tests",
    count: counters.node,
    needs: ["build"],
    // The cable-cut suite too, bundled against the built package (this Node runs no TypeScript).
    before: () =>
      execFileSync(node, ["scripts/bundle_node20.mjs"], { cwd: root, stdio: "inherit" }),
    env: { LIVENESS_PEER_FIXTURE: join(root, ".tmp/node20/node_peer.mjs") },
    cmd: [
      nodeSystem,
      "--test",
      `--test-timeout=${TEST_TIMEOUT_MS}`,
      "tests/dist_smoke.mjs",
      "tests/dist_smoke.cjs",
      ".tmp/node20/cut_test.mjs",
    ],
  },
  { name: "tsc", kind: "check", cmd: [node, bin("tsc"), "--noEmit", "-p", "."] },
  {
    name: "deno-check",
    kind: "check",
    // The TypeScript sources; not tests/dist_smoke.*, which test the built package under Node (tsup's
    // declaration chunks import `./chunk.js` names that only TypeScript maps to `.d.ts`).
    cmd: [
      bin("deno"),
      "check",
      ...existing(["mod.ts", "adapters", "cli", "scripts"]),
      ...readdirSync(join(root, "tests"), { recursive: true })
        .map((file) => join("tests", String(file)))
        .filter((file) => file.endsWith(".ts")),
    ],
  },
  { name: "deno-lint", kind: "check", cmd: [bin("deno"), "lint"] },
  {
    // The core's JSDoc examples (the adapters' run on their own runtime in tests/examples_test.ts).
    name: "deno-doc",
    kind: "check",
    cmd: [bin("deno"), "test", "--doc", "-A", "mod.ts", "src/"],
  },
  {
    // Every public symbol documented, no public type referring to a private one (what JSR shows).
    name: "deno-doc-lint",
    kind: "check",
    cmd: [bin("deno"), "doc", "--lint", ...existing(Object.values(denoJson.exports))],
  },
  { name: "deno-fmt", kind: "check", cmd: [bin("deno"), "fmt", "--check"] },
  {
    name: "deno-publish",
    kind: "check",
    cmd: [bin("deno"), "publish", "--dry-run", "--allow-dirty"],
  },
  {
    name: "check-package",
    kind: "check",
    needs: ["build"],
    cmd: [node24, "scripts/check_package.ts"],
  },
  {
    // README and JSDoc examples compile: tsc with @types/node, tsc with bun-types, deno check.
    name: "examples-types",
    kind: "check",
    cmd: [node24, "scripts/check_examples.ts"],
  },
  {
    name: "pack",
    kind: "check",
    needs: ["build"],
    before: () => {
      rmSync(packDir, { recursive: true, force: true });
      mkdirSync(packDir, { recursive: true });
    },
    cmd: ["npm", "pack", "--ignore-scripts", "--pack-destination", packDir],
  },
  {
    name: "publint",
    kind: "check",
    needs: ["pack"],
    cmd: [node, bin("publint"), "run", "--strict", tarball],
  },
  {
    name: "attw",
    kind: "check",
    needs: ["pack"],
    // node16 resolution (CJS and ESM) and bundlers must pass; node10 cannot see subpath exports.
    cmd: [node, bin("attw"), "--profile", "node16", "--no-emoji", "--no-color", tarball],
  },
];

function existing(paths) {
  return paths.filter((path) => existsSync(join(root, path)));
}

function selectTasks() {
  const byName = new Map(ALL_TASKS.map((task) => [task.name, task]));
  const wanted = new Set();
  if (options.only === null) {
    for (const task of ALL_TASKS) wanted.add(task.name);
  } else {
    for (const name of options.only) {
      const matches = ALL_TASKS.filter((task) =>
        task.name === name || task.alias === name ||
        (name === "checks" && task.kind === "check") || (name === "tests" && task.kind === "tests")
      );
      if (matches.length === 0) {
        const names = ALL_TASKS.map((task) => task.alias ?? task.name);
        usage(`--only: no task ${name}; choose from checks, tests, ${names.join(", ")}`);
      }
      for (const task of matches) wanted.add(task.name);
    }
  }
  if (!options.checks) {
    for (const task of ALL_TASKS) if (task.kind === "check") wanted.delete(task.name);
  }
  // What a chosen task needs runs too, even when --no-checks dropped it.
  const add = (name) => {
    wanted.add(name);
    for (const need of byName.get(name).needs ?? []) add(need);
  };
  for (const name of [...wanted]) add(name);
  return ALL_TASKS.filter((task) => wanted.has(task.name));
}

// ---- running ---------------------------------------------------------------------------------

const running = new Map(); // pid -> child
const childEnv = { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" };
delete childEnv.FORCE_COLOR;

function run(task) {
  return new Promise((resolve) => {
    const started = Date.now();
    const logFile = join(logDir, `${task.name}.log`);
    const fd = openSync(logFile, "w");
    const finish = (code, note) => {
      closeSync(fd);
      resolve({
        code,
        note,
        seconds: (Date.now() - started) / 1000,
        log: readFileSync(logFile, "utf8"),
      });
    };
    try {
      task.before?.();
    } catch (error) {
      return finish(1, String(error));
    }
    const [command, ...args] = task.cmd;
    // Writing straight to the file means a leftover grandchild cannot keep us waiting on a pipe;
    // its own process group lets us end the whole tree on a timeout.
    const child = spawn(command, args, {
      cwd: root,
      stdio: ["ignore", fd, fd],
      detached: true,
      env: { ...childEnv, ...task.env },
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, TASK_TIMEOUT_MS);
    running.set(child.pid, child);
    child.on("error", (error) => {
      clearTimeout(timer);
      finish(127, `could not start ${command}: ${error.message}`);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      running.delete(child.pid);
      killGroup(child.pid); // whatever the task left running
      const note = timedOut
        ? `timed out after ${TASK_TIMEOUT_MS / 1000} s`
        : signal
        ? `killed by ${signal}`
        : code !== 0
        ? `exit code ${code}`
        : null;
      finish(code ?? 1, note);
    });
  });
}

function killGroup(pid) {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    for (const pid of running.keys()) killGroup(pid);
    process.exit(130);
  });
}

/** Runs the tasks, at most `jobs` at once, each once all it needs has passed. */
function schedule(tasks, jobs) {
  const results = new Map();
  const pending = [...tasks];
  const active = new Set();
  const selected = new Set(tasks.map((task) => task.name));
  return new Promise((resolve) => {
    const pump = () => {
      for (let i = 0; i < pending.length && active.size < jobs;) {
        const task = pending[i];
        const needs = (task.needs ?? []).filter((need) => selected.has(need));
        const failedNeed = needs.find((need) => results.has(need) && results.get(need).code !== 0);
        if (task.files && testFiles.length === 0) {
          pending.splice(i, 1);
          results.set(task.name, { code: 1, note: "no test files", seconds: 0, log: "" });
          console.log(`✘ ${task.name} not run: no test files`);
          continue;
        }
        if (failedNeed) {
          pending.splice(i, 1);
          results.set(task.name, {
            code: 1,
            note: `not run: ${failedNeed} failed`,
            seconds: 0,
            log: "",
          });
          console.log(`✘ ${task.name} not run: ${failedNeed} failed`);
          continue;
        }
        if (!needs.every((need) => results.has(need))) {
          i++;
          continue;
        }
        pending.splice(i, 1);
        active.add(task.name);
        console.log(`▶ ${task.name}: ${task.cmd.map((part) => relativeArg(part)).join(" ")}`);
        run(task).then((result) => {
          active.delete(task.name);
          results.set(task.name, result);
          const mark = result.code === 0 ? "✔" : "✘";
          console.log(
            `${mark} ${task.name} (${result.seconds.toFixed(1)} s)${
              result.note ? `: ${result.note}` : ""
            }`,
          );
          pump();
        });
      }
      if (pending.length === 0 && active.size === 0) resolve(results);
    };
    pump();
  });
}

function relativeArg(arg) {
  return arg.startsWith(root) ? relative(root, arg) || "." : arg;
}

// ---- report ----------------------------------------------------------------------------------

function tally(task, result) {
  if (task.kind === "check") {
    const ok = result.code === 0;
    return { passed: ok ? 1 : 0, failed: ok ? 0 : 1, skipped: null, ok, note: result.note };
  }
  const counted = task.count(result.log);
  const passed = counted.passed ?? 0;
  const skipped = counted.skipped ?? null;
  let failed = counted.failed ?? 0;
  let note = result.note;
  if (result.code === 0 && passed + failed === 0) note = "ran no tests";
  // A crash before the runner's summary still has to show up in the totals.
  if ((result.code !== 0 || note) && failed === 0) failed = 1;
  return { passed, failed, skipped, ok: result.code === 0 && failed === 0 && passed > 0, note };
}

function tail(text, lines) {
  const all = text.trimEnd().split("\n");
  return all.slice(-lines).join("\n");
}

async function main() {
  const tasks = selectTasks();
  mkdirSync(logDir, { recursive: true });
  const empty = tasks.filter((task) => task.files && testFiles.length === 0);
  if (empty.length > 0) {
    console.log(
      `No test files match tests/*_test.ts${options.filter ? ` and "${options.filter}"` : ""}`,
    );
  }
  const started = Date.now();
  const results = await schedule(tasks, options.jobs);
  const rows = tasks.map((task) => ({ task, result: results.get(task.name) }))
    .map(({ task, result }) => ({ task, result, ...tally(task, result) }));

  for (const { task, result, ok, note } of rows) {
    if (!result.log) continue;
    const log = relative(root, join(logDir, `${task.name}.log`));
    if (ok) {
      const lines = tail(result.log, task.kind === "tests" ? 6 : 3);
      console.log(`\n──── ${task.name}: passed; last lines of ${log} ────\n${lines}`);
    } else {
      const lines = result.log.trimEnd().split("\n");
      const shown = lines.length > 400
        ? `… ${lines.length - 400} lines cut, see ${log}\n${tail(result.log, 400)}`
        : result.log.trimEnd();
      console.log(`\n──── ${task.name}: FAILED${note ? ` (${note})` : ""}; ${log} ────\n${shown}`);
    }
  }

  // `skip` is what each runner reported as skipped (Deno: ignored); checks skip nothing ("-").
  const width = Math.max(4, ...rows.map(({ task }) => task.name.length));
  const line = (...cells) =>
    cells.map((cell, i) => i < 2 ? cell.padEnd(i === 0 ? width : 6) : cell.padStart(5)).join("  ");
  console.log(`\n${line("task", "result", "pass", "fail", "skip", "time")}`);
  for (const { task, result, passed, failed, skipped, ok, note } of rows) {
    const time = `${result.seconds.toFixed(1)}s`;
    const skip = skipped === null ? "-" : String(skipped);
    const cells = [task.name, ok ? "ok" : "FAILED", String(passed), String(failed), skip, time];
    console.log(`${line(...cells)}${note && !ok ? `  ${note}` : ""}`);
  }
  const passed = rows.reduce((sum, row) => sum + row.passed, 0);
  const failed = rows.reduce((sum, row) => sum + row.failed, 0);
  const skipped = rows.reduce((sum, row) => sum + (row.skipped ?? 0), 0);
  const allOk = rows.every((row) => row.ok);
  console.log(`\ntotal time ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exitCode = allOk ? 0 : 1;
}

await main();
