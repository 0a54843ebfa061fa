// The command line, run as a child process with the runtime running this test (Node: its own
// binary; Deno: `deno run -A`; Bun: its own binary): plan's numbers and warnings, usage errors,
// help, probe against a server this test starts on 127.0.0.1, and the JSON lines of the demo and
// of `demo --websocket`. Every wait is bounded.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer, type Server, type Socket } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { inCI, runtime } from "./_skip.ts";
import { registryOf, specifier } from "../cli/_package.ts";

const MAIN = fileURLToPath(new URL("../cli/main.ts", import.meta.url));
const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;

interface Run {
  /** Everything printed on stdout so far. */
  stdout: string;
  /** Everything printed on stderr so far. */
  stderr: string;
  /** Resolves when stdout holds a match (lines printed before the call count). */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** How it ended; rejects (after SIGKILL) when it runs past its time limit. */
  exited: Promise<{ code: number | null; signal: string | null }>;
  kill(signal: "SIGINT" | "SIGKILL"): void;
}

/** Starts the CLI with this runtime; it is killed, and `exited` rejects, after `limitMs`. */
function start(args: string[], limitMs = 20_000): Run {
  const [cmd, ...prefix] = deno !== undefined
    ? [deno.execPath(), "run", "-A", MAIN]
    : [process.execPath, MAIN];
  const child = spawn(cmd, [...prefix, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
  });
  const waiters = new Set<() => void>();
  const run: Run = {
    stdout: "",
    stderr: "",
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${pattern} within ${timeoutMs} ms;\n${run.stdout}\n${run.stderr}`));
        }, timeoutMs);
        const check = (): void => {
          if (!pattern.test(run.stdout)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
    exited: new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(
          new Error(`${args.join(" ")} ran past ${limitMs} ms;\n${run.stdout}\n${run.stderr}`),
        );
      }, limitMs);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    }),
    // process.kill, not child.kill: Deno's child_process reports any child it signalled as
    // ended by that signal, hiding the exit code the child chose.
    kill: (signal) => void (child.pid !== undefined && process.kill(child.pid, signal)),
  };
  child.stdout.setEncoding("utf8").on("data", (text: string) => {
    run.stdout += text;
    for (const waiter of [...waiters]) waiter();
  });
  child.stderr.setEncoding("utf8").on("data", (text: string) => run.stderr += text);
  return run;
}

async function cli(args: string[], limitMs?: number) {
  const run = start(args, limitMs);
  const { code } = await run.exited;
  return { code, stdout: run.stdout, stderr: run.stderr };
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
}

function note(t: TestContext, text: string): void {
  if (typeof t.diagnostic === "function") t.diagnostic(text);
  else console.log(`# ${text}`);
}

/** A server on 127.0.0.1 that keeps each connection it accepts (and never writes). */
async function listen(): Promise<{ server: Server; port: number; accepted: Promise<Socket> }> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => {
    server.on("connection", (socket) => {
      socket.on("error", () => {});
      resolve(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as { port: number }).port, accepted };
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

test("plan: keepalive 2s:1s:3 gives 5 s on a quiet connection", { timeout: 30_000 }, async () => {
  const json = await cli(["plan", "--keepalive", "2s:1s:3", "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const plan = JSON.parse(json.stdout);
  assert.equal(plan.bound.idleMs, 5_000);
  assert.equal(plan.bound.idleBy, "keepalive");
  assert.equal(plan.bound.busyMs, 924_600); // no user timeout: the kernel's retransmissions
  assert.equal(plan.bound.busyBy, "retransmission");
  assert.deepEqual(plan.runtimes.map((r: { id: string }) => r.id), [
    "node20",
    "node24",
    "deno",
    "bun",
  ]);
  const byId = Object.fromEntries(plan.runtimes.map((r: { id: string }) => [r.id, r]));
  assert.deepEqual(byId.deno.ffi, ["idle", "interval", "count"]);
  assert.equal(byId.deno.permission, "--allow-ffi");
  assert.equal(byId.deno.withoutFfi.idleMs, 7_875_000); // the system's 7200 s + 9 × 75 s
  assert.deepEqual(byId.node24.ffi, []);
  // Node 20 and Bun set the idle time, and fix interval 1 s and count 10 along with it.
  for (const id of ["node20", "bun"]) {
    assert.deepEqual(byId[id].native, ["keepalive", "idle", "interval"], id);
    assert.deepEqual(byId[id].ffi, ["count"], id);
    assert.equal(byId[id].withoutFfi.idleMs, 12_000, id); // 2 s + 10 × 1 s
  }
  assert.equal(byId.node20.ffiVia, "koffi");

  const text = await cli(["plan", "--keepalive", "2s:1s:3", "--user-timeout", "3s"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /quiet connection\s+3 s\s+keepalive/);
  assert.match(text.stdout, /data in flight\s+4 s\s+user timeout/);
  assert.match(
    text.stdout,
    /Deno 2[^\n]*\n\s+native\s+keepalive\n\s+needs FFI\s+idle, interval, count, user timeout/,
  );

  const heartbeat = await cli(["plan", "--keepalive", "2s:1s:3", "--heartbeat", "1s/1s", "--json"]);
  assert.equal(JSON.parse(heartbeat.stdout).bound.idleMs, 2_300); // 1 s + 1 s + 3 ticks
});

test("plan: a middlebox budget shorter than keepalive's idle is a warning", {
  timeout: 30_000,
}, async () => {
  const text = await cli(["plan", "--budget", "350s"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /quiet connection\s+7875 s/);
  assert.match(
    text.stdout,
    /keepalive idle 7200 s exceeds the 350 s budget: the middlebox will drop this flow before the first probe/,
  );
  const json = JSON.parse((await cli(["plan", "--budget", "350s", "--json"])).stdout);
  assert.equal(json.options.budgetMs, 350_000);
  assert.ok(json.warnings.some((w: string) => w.includes("exceeds the 350 s budget")));
  const fine = JSON.parse(
    (await cli(["plan", "--idle", "60s", "--budget", "350s", "--json"])).stdout,
  );
  assert.ok(!fine.warnings.some((w: string) => w.includes("budget")), fine.warnings.join("\n"));
});

test("plan: says plainly whether the budget is met, per runtime too", {
  timeout: 30_000,
}, async () => {
  const [met, missed, json] = await Promise.all([
    cli(["plan", "--idle", "60s", "--budget", "350s"]),
    cli(["plan", "--budget", "350s"]),
    cli(["plan", "--idle", "60s", "--budget", "350s", "--json"]),
  ]);
  assert.equal(met.code, 0, met.stderr);
  assert.match(
    met.stdout,
    /^Budget 350 s: met\. A quiet connection sends a keepalive probe after 60 s/m,
  );
  // Deno sets the idle time only through FFI: without it the system's 7200 s outlasts the budget.
  assert.match(
    met.stdout,
    /Deno 2:[^]*?note\s+without FFI keepalive idle stays the system's 7200 s: a quiet flow outlasts the 350 s budget/,
  );
  assert.match(
    missed.stdout,
    /^Budget 350 s: not met\. A quiet connection sends nothing for 7200 s/m,
  );
  const plan = JSON.parse(json.stdout);
  assert.deepEqual(plan.budget, {
    ms: 350_000,
    met: true,
    silentMs: 60_000,
    silentUntil: "keepalive",
  });
  const byId = Object.fromEntries(plan.runtimes.map((r: { id: string }) => [r.id, r]));
  assert.deepEqual(byId.deno.budgetMet, { withFfi: true, withoutFfi: false });
  assert.deepEqual(byId.node24.budgetMet, { withFfi: true, withoutFfi: true });
  const heartbeat = await cli([
    "plan",
    "--keepalive",
    "off",
    "--heartbeat",
    "20s/10s",
    "--budget",
    "30s",
  ]);
  assert.match(
    heartbeat.stdout,
    /^Budget 30 s: met\. A quiet connection sends a heartbeat ping after 20 s/m,
  );
  const { stdout } = await cli(["plan"]);
  assert.doesNotMatch(stdout, /^Budget/m);
});

/** What this runtime's FFI really is here, found out apart from the CLI. */
function ffiHereExpected(): RegExp {
  if (runtime === "deno") return /through Deno\.dlopen; --allow-ffi is granted/;
  if (runtime === "bun") return /through bun:ffi \(built in\), which loads here/;
  try {
    createRequire(import.meta.url)("koffi");
    return /through koffi, which loads here/;
  } catch {
    return /through koffi, which is not installed here: npm install koffi/;
  }
}

test("plan: says whether this runtime's FFI works here, not what might be missing", {
  skip: process.platform === "linux" ? false : "the FFI backends load on Linux only",
  timeout: 30_000,
}, async () => {
  const text = await cli(["plan", "--keepalive", "2s:1s:3", "--user-timeout", "3s"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, ffiHereExpected());
  assert.doesNotMatch(text.stdout, /if it was skipped/);
  const json = JSON.parse(
    (await cli(["plan", "--keepalive", "2s:1s:3", "--user-timeout", "3s", "--json"])).stdout,
  );
  for (const row of json.runtimes as { runtime: string; ffiHere: { ok: boolean } | null }[]) {
    if (row.runtime !== runtime) assert.equal(row.ffiHere, null, JSON.stringify(row));
    else assert.equal(typeof row.ffiHere?.ok, "boolean", JSON.stringify(row));
  }
  if (runtime !== "node") {
    // Node rows, seen from Deno or Bun: how koffi is reached, unchecked.
    assert.match(
      text.stdout,
      /through koffi \(npm install koffi; checked when plan runs on node\)/,
    );
  }
});

test("plan on Deno without --allow-ffi says it is not granted", {
  skip: runtime === "deno" ? false : "a Deno permission",
  timeout: 30_000,
}, () => {
  const child = spawnSync(deno!.execPath(), [
    "run",
    "--no-prompt",
    "--allow-read",
    "--allow-env",
    MAIN,
    "plan",
    "--keepalive",
    "2s:1s:3",
    "--runtime",
    "deno",
    "--json",
  ], { encoding: "utf8", timeout: 20_000, env: { ...process.env, NO_COLOR: "1" } });
  assert.equal(child.status, 0, child.stderr);
  const [row] = JSON.parse(child.stdout).runtimes;
  assert.deepEqual(row.ffiHere, {
    ok: false,
    problem: "Deno needs --allow-ffi",
    fix: "run with --allow-ffi",
  });
});

test("plan on Node where koffi cannot be found says it is not installed", {
  skip: runtime === "node"
    ? process.platform === "linux" ? false : "koffi is loaded on Linux only"
    : "koffi is Node's",
  timeout: 30_000,
}, () => {
  // The sources, copied where no node_modules above them holds koffi.
  const dir = mkdtempSync(join(tmpdir(), "socket-liveness-cli-"));
  try {
    const root = new URL("../", import.meta.url);
    for (const name of ["mod.ts", "src", "adapters", "cli", "deno.json", "package.json"]) {
      cpSync(new URL(name, root), join(dir, name), { recursive: true });
    }
    const child = spawnSync(process.execPath, [
      join(dir, "cli", "main.ts"),
      "plan",
      "--keepalive",
      "2s:1s:3",
      "--user-timeout",
      "3s",
      "--runtime",
      "node",
    ], { encoding: "utf8", timeout: 20_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.match(
      child.stdout,
      /needs FFI\s+user timeout: through koffi, which is not installed here: npm install koffi/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--version and -V print the package's version", { timeout: 30_000 }, async () => {
  const root = new URL("../", import.meta.url);
  const { version } = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
  assert.equal(JSON.parse(readFileSync(new URL("deno.json", root), "utf8")).version, version);
  for (const flag of ["--version", "-V"]) {
    const result = await cli([flag]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${version}\n`);
  }
  assert.match((await cli(["--help"])).stdout, /socket-liveness --version/);
});

test("messages name the specifiers of the registry the CLI came from", () => {
  const cases: [string, "npm" | "jsr"][] = [
    ["https://jsr.io/@liveness/socket/0.1.0/cli/_package.ts", "jsr"],
    ["file:///app/node_modules/@jsr/liveness__socket/cli/_package.js", "jsr"],
    ["file:///app/node_modules/socket-liveness/dist/chunk-ABC.js", "npm"],
    ["file:///app/node_modules/socket-liveness/dist/cli.js", "npm"],
    ["file:///home/me/socket-liveness/cli/_package.ts", "jsr"], // a checkout: JSR's layout
  ];
  for (const [url, registry] of cases) assert.equal(registryOf(url), registry, url);
  assert.equal(specifier("deno", "jsr"), "@liveness/socket/deno");
  assert.equal(specifier("deno", "npm"), "socket-liveness/deno");
  assert.equal(specifier(undefined, "npm"), "socket-liveness");
});

test("bad flags exit 2 and name the flag and what is allowed", { timeout: 30_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [["plan", "--idle", "abc"], /--idle must be a duration like "30s"/],
    [["plan", "--idle", "30"], /--idle must be a duration .*the unit is required/],
    [["plan", "--count", "0"], /--count must be an integer from 1 to 127, got 0/],
    [["plan", "--keepalive", "0:1:2"], /--keepalive's idle must be from 1 s to 32767 s/],
    [["plan", "--heartbeat", "1s"], /--heartbeat must be INTERVAL\/TIMEOUT like "20s\/10s"/],
    [["plan", "--heartbeat-interval", "1s"], /--heartbeat-interval needs --heartbeat-timeout/],
    [
      ["plan", "--keepalive", "off", "--idle", "2s"],
      /--idle cannot be combined with --keepalive off/,
    ],
    [["plan", "--bogus"], /unknown option --bogus for plan; allowed: --keepalive, /],
    [["plan", "--budget"], /--budget needs a value: --budget DURATION/],
    [["demo", "--runtime", "java"], /--runtime must be node, deno or bun, got "java"/],
    [["demo", "--wait", "1s"], /--wait goes with --websocket/],
    [["demo", "--websocket", "--wait", "soon"], /--wait must be a duration like "30s"/],
    [["probe"], /probe needs HOST:PORT/],
    [["probe", "127.0.0.1:70000"], /port of HOST:PORT must be from 1 to 65535/],
    [["probe", "127.0.0.1:1", "--heartbeat", "1s/1s"], /--heartbeat needs --ping TEXT/],
    [["launch"], /unknown command "launch"; choose plan, probe, demo or help/],
  ];
  const results = await Promise.all(cases.map(([args]) => cli(args)));
  results.forEach((result, i) => {
    const [args, message] = cases[i];
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, message, args.join(" "));
    assert.match(result.stderr, /Run "socket-liveness help/);
  });
});

test("help for every command, as --help and as help COMMAND", { timeout: 30_000 }, async () => {
  const general = await cli(["--help"]);
  assert.equal(general.code, 0);
  for (const command of ["plan", "probe", "demo"]) {
    assert.match(general.stdout, new RegExp(`socket-liveness ${command}`));
  }
  const [flag, topic, bare] = await Promise.all([
    cli(["plan", "--help"]),
    cli(["help", "plan"]),
    cli([]),
  ]);
  assert.equal(flag.code, 0);
  assert.equal(flag.stdout, topic.stdout);
  assert.match(flag.stdout, /^Usage: socket-liveness plan/);
  assert.match(flag.stdout, /--budget DURATION/);
  assert.equal(bare.code, 2); // no command
  assert.match(bare.stderr, /Usage:/);
  for (const command of ["probe", "demo"]) {
    const help = await cli([command, "-h"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`^Usage: socket-liveness ${command}`));
    assert.match(help.stdout, /--runtime NAME/);
  }
});

test("probe prints the tuning report and exits 1 with reason reset when the peer resets", {
  timeout: 40_000,
}, async () => {
  const { server, port, accepted } = await listen();
  try {
    const run = start([
      "probe",
      `127.0.0.1:${port}`,
      "--keepalive",
      "2s:1s:3",
      "--user-timeout",
      "3s",
    ]);
    await run.waitFor(/Watching/, 15_000);
    assert.match(run.stdout, /^Connected 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ on \w+/m);
    // From this checkout (the source JSR publishes): JSR's names.
    assert.match(run.stdout, new RegExp(` through @liveness/socket/${runtime}$`, "m"));
    assert.match(run.stdout, /Tuning report \(setsockopt through \S+\)/);
    assert.match(run.stdout, /idle\s+applied\s+2 s\s+2 s/);
    assert.match(run.stdout, /user timeout\s+applied\s+3 s\s+3 s\s+setsockopt, read back/);
    assert.match(run.stdout, /bound: quiet 3 s \(keepalive\), in flight 4 s \(user-timeout\)/);
    await run.waitFor(/ESTABLISHED/, 5_000); // a live line with the kernel's view
    (await accepted).resetAndDestroy();
    const { code } = await run.exited;
    assert.equal(code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /open -> dead \(reset\)/);
    assert.match(run.stdout, /^dead: reset: the peer reset the connection/m);
  } finally {
    await close(server);
  }
});

test("probe --json: connected, samples, and the end; Ctrl-C and the peer's FIN exit 0", {
  timeout: 40_000,
}, async () => {
  const { server, port, accepted } = await listen();
  try {
    const run = start(["probe", `127.0.0.1:${port}`, "--keepalive", "2s:1s:3", "--json"]);
    await run.waitFor(/"event":"sample"/, 15_000);
    const [connected, sample] = jsonLines(run.stdout);
    assert.equal(connected.event, "connected");
    assert.equal(connected.runtime, runtime);
    const report = connected.report as Record<string, { status: string; value: unknown }>;
    assert.equal(report.idle.status, "applied");
    assert.equal(report.count.value, 3);
    assert.equal((report.bound as unknown as { idleMs: number }).idleMs, 5_000);
    const kernel = sample.kernel as Record<string, unknown>;
    assert.equal(kernel.state, "ESTABLISHED");
    assert.equal(kernel.probes, 0);
    run.kill("SIGINT");
    const { code } = await run.exited;
    assert.equal(code, 0, run.stdout + run.stderr);
    const end = jsonLines(run.stdout).at(-1)!;
    assert.deepEqual([end.event, end.how, end.reason], ["end", "closed", "stopped by the user"]);
    await accepted;
  } finally {
    await close(server);
  }

  const peer = await listen();
  try {
    const run = start(["probe", `127.0.0.1:${peer.port}`, "--json"]);
    await run.waitFor(/"event":"connected"/, 15_000);
    (await peer.accepted).end();
    const { code } = await run.exited;
    assert.equal(code, 0, run.stdout + run.stderr);
    const end = jsonLines(run.stdout).at(-1)!;
    assert.deepEqual([end.how, end.reason], ["closed", "the peer ended the connection"]);
  } finally {
    await close(peer.server);
  }
});

test("probe exits 1 with reason refused when nothing listens", { timeout: 30_000 }, async () => {
  const { server, port } = await listen();
  await close(server); // the port is free now, and on loopback
  const result = await cli(["probe", `127.0.0.1:${port}`, "--json"]);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const [end] = jsonLines(result.stdout);
  assert.deepEqual([end.event, end.how, end.reason], ["end", "failed", "refused"]);
});

/** Whether this machine could have run the cut: Linux, root, ip and nft, a namespace allowed. */
function namespacesPossible(): boolean {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin"].filter(Boolean);
  const find = (name: string) =>
    dirs.map((dir) => `${dir}/${name}`).find((path) => existsSync(path));
  const ip = find("ip");
  if (ip === undefined || find("nft") === undefined) return false;
  // A container may be root without the right to make namespaces.
  const name = `slcli-check-${process.pid}`;
  const added = spawnSync(ip, ["netns", "add", name], { timeout: 5_000 }).status === 0;
  if (added) spawnSync(ip, ["netns", "delete", name], { timeout: 5_000 });
  return added;
}

test("demo: JSON lines, every client ends as expected, exit 0", { timeout: 55_000 }, async (t) => {
  const run = start(["demo"], 45_000);
  const { code } = await run.exited;
  const lines = jsonLines(run.stdout);
  assert.equal(code, 0, run.stdout + run.stderr);
  assert.equal(lines[0].event, "start");
  assert.equal(lines[0].runtime, runtime);
  const summary = lines.at(-1)!;
  assert.equal(summary.event, "summary");
  assert.equal(summary.ok, true);
  const clients = Object.fromEntries(
    (summary.clients as Record<string, unknown>[]).map((c) => [c.client, c]),
  );
  assert.deepEqual([clients.healthy.state, clients.healthy.ok], ["open", true]);
  assert.deepEqual([clients.hung.state, clients.hung.reason], ["dead", "heartbeat-timeout"]);
  assert.deepEqual([clients.reset.state, clients.reset.reason], ["dead", "reset"]);
  for (const name of ["hung", "reset"]) {
    const end = lines.find((line) => line.event === "end" && line.client === name)!;
    assert.equal(end.ok, true);
    assert.ok(Number(end.detectMs) >= 0 && Number(end.boundMs) === 2_300, JSON.stringify(end));
  }
  assert.ok(lines.some((line) => line.event === "sample"), "at least one sample line");
  const cut = clients.cut;
  if (cut.skipped !== null) {
    note(t, `${runtime}: the demo skipped the cut cable: ${cut.skipped}`);
    assert.ok(!inCI, `CI must run the demo's cut cable, yet it was skipped: ${cut.skipped}`);
    assert.ok(
      !namespacesPossible(),
      `namespaces work here, yet the cut was skipped: ${cut.skipped}`,
    );
  } else {
    assert.deepEqual([cut.state, cut.reason, cut.ok], ["dead", "keepalive-timeout", true]);
    assert.equal(cut.boundMs, 3_000);
    // The kernel's view (TCP_INFO through the FFI backend): keepalive probes go out after the cut,
    // before the connection is declared dead; a healthy loopback round trip is well under 100 ms.
    const kernels = (name: string) =>
      lines.filter((line) => line.event === "sample").flatMap((line) =>
        (line.clients as Record<string, unknown>[])
          .filter((c) => c.client === name && c.kernel !== null && c.kernel !== undefined)
          .map((c) => c.kernel as Record<string, number>)
      );
    const cutProbes = kernels("cut").map((k) => k.probes);
    assert.ok(cutProbes.some((probes) => probes >= 1), `probes out before dead: ${cutProbes}`);
    const rtts = kernels("healthy").map((k) => k.rttMs);
    assert.ok(rtts.length > 0 && rtts.every((rtt) => rtt > 0 && rtt < 100), `RTT ${rtts} ms`);
    note(t, `${runtime}: cut detected ${cut.detectMs} ms after the cut (bound 3000 ms)`);
  }
  note(t, `${runtime}: hung detected ${clients.hung.detectMs} ms after it hung (bound 2300 ms)`);
});

test(
  "demo --websocket: the edge server's clients end as expected, beside the runtime's own timer",
  {
    timeout: 60_000,
  },
  async (t) => {
    // --wait 1s: the runtime's own verdicts are taken as they stand once ours are in (Bun's own
    // idle timeout alone would take 8 s more).
    const run = start(["demo", "--websocket", "--wait", "1s"], 50_000);
    const { code } = await run.exited;
    const lines = jsonLines(run.stdout);
    assert.equal(code, 0, run.stdout + run.stderr);
    assert.deepEqual([lines[0].event, lines[0].runtime, lines[0].websocket], [
      "start",
      runtime,
      true,
    ]);
    const summary = lines.at(-1)!;
    assert.equal(summary.event, "summary");
    assert.equal(summary.ok, true);
    const servers: Record<string, RegExp> = {
      bun: /^Bun\.serve \+ watchWebSocket/,
      deno: /^Deno\.serve \+ upgradeWebSocket/,
      node: /^node:http \+ ws \+ watchWebSocketServer/,
    };
    assert.match(String(summary.server), servers[runtime]);
    const clients = Object.fromEntries(
      (summary.clients as Record<string, unknown>[]).map((c) => [c.client, c]),
    ) as Record<string, Record<string, unknown> & { own: Record<string, unknown> }>;
    const verdict = (name: string) => [clients[name].state, clients[name].reason, clients[name].ok];
    assert.deepEqual([clients.healthy.state, clients.healthy.ok], ["open", true]);
    assert.ok(Number(clients.healthy.pingsAnswered) >= 2, JSON.stringify(clients.healthy));
    assert.deepEqual(verdict("hung"), ["dead", "heartbeat-timeout", true]);
    assert.equal(clients.hung.boundMs, 2_300);
    for (const name of ["healthy", "hung"]) {
      assert.equal(typeof clients[name].own.state, "string", `${name}: the runtime's own verdict`);
    }
    const cut = clients["cut-idle"];
    if (cut.skipped !== null) {
      note(t, `${runtime}: the WebSocket demo skipped the cut clients: ${cut.skipped}`);
      assert.ok(
        !inCI,
        `CI must run the WebSocket demo's cuts, yet they were skipped: ${cut.skipped}`,
      );
      assert.ok(
        !namespacesPossible(),
        `namespaces work here, yet the cuts were skipped: ${cut.skipped}`,
      );
    } else {
      // Bun tells a connection the kernel ended as code 1006 and nothing more.
      const told = (reason: string) => runtime === "bun" ? "error" : reason;
      assert.deepEqual(verdict("cut-idle"), ["dead", told("keepalive-timeout"), true]);
      assert.deepEqual(verdict("cut-pushed"), ["dead", told("user-timeout"), true]);
      assert.equal(cut.boundMs, 3_000);
      assert.equal(clients["cut-pushed"].boundMs, 4_000);
      // The kernel freed the watched side's connections (the tuned user timeout and keepalive):
      // `ss` no longer lists them.
      for (const name of ["cut-idle", "cut-pushed"]) {
        const tcp = clients[name].tcp as { state: string } | null;
        assert.ok(tcp === null || tcp.state === "gone", `${name}: ${JSON.stringify(tcp)}`);
      }
      note(
        t,
        `${runtime}: cut-idle ${cut.detectMs} ms (bound 3000), cut-pushed ${
          clients["cut-pushed"].detectMs
        } ms (bound 4000); own: ${JSON.stringify(cut.own)}`,
      );
    }
    note(t, `${runtime}: hung ${clients.hung.detectMs} ms (bound 2300 ms)`);
  },
);
