// Faults: what goes wrong around the library, and what it does then. Real sockets only inside
// private network namespaces (tests/_netns.ts), through the tests/fixtures/stress_faults_*.ts
// fixture of the runtime running this file; the rest with fakes, on every runtime.
//
// - FFI missing (ffi: false; Node without koffi; Deno without --allow-ffi; not Linux): an honest
//   report, the fallback the runtime allows, and an accept path that never throws.
// - A descriptor closed and reused between lookup and setsockopt: detected.
// - User callbacks that throw, re-enter or block; errors after close; sockets destroyed by the user
//   while the library acts on them.
// - Security: no listener or connection of the library's own, no install script, and a Deno
//   adapter that works with --allow-net alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  type Driver,
  LivenessMonitor,
  ManualClock,
  resolveKeepalive,
  systemClock,
  type Transition,
  tuneKeepalive,
} from "../mod.ts";
import { type JsonLine, netnsSkip, runtime, withNetns } from "./_netns.ts";
import { mustRun, onlyOn } from "./_skip.ts";
import { type ConnLike, DenoFdFinder, isDenoConnFd } from "../adapters/_deno_fd.ts";
import { type SockAddr, type SockoptBackend, SockoptError } from "../src/_sockopt.ts";
import { watchSocket } from "../adapters/node.ts";
import { type DenoTcpConn, watchConn, type WatchedConn } from "../adapters/deno.ts";
import { type BunSocket, watchHandler } from "../adapters/bun.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const ECONNRESET = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });

// Decided where each test is defined, so every runner reports the skip (tests/_skip.ts); in CI the
// namespace tests run, and fail when namespaces do not work.
const netns = netnsSkip();

/** Whether Node finds koffi from a copy of the library in the temporary directory. */
function koffiAboveTmpdir(): boolean {
  try {
    createRequire(join(tmpdir(), "socket-liveness-probe.js")).resolve("koffi");
    return true;
  } catch {
    return false;
  }
}

/** Runs this runtime's faults fixture in a fresh namespace and returns its JSON lines. */
async function fixture(config: Record<string, unknown>, denoFlags = ["-A"]): Promise<JsonLine[]> {
  const file = join(root, `tests/fixtures/stress_faults_${runtime}.ts`);
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const [cmd, args] = deno !== undefined
    ? [deno.execPath(), ["run", ...denoFlags, "--no-prompt", file, JSON.stringify(config)]]
    : [process.execPath, [file, JSON.stringify(config)]];
  return await withNetns(async (ns) => {
    const child = ns.spawn(cmd, args, { env: { NO_COLOR: "1" } });
    const exit = await child.exited;
    const failed = child.lines.find((line) => line.event === "error");
    assert.equal(failed, undefined, `fixture error: ${failed?.message}`);
    assert.equal(exit.code, 0, `fixture exited ${JSON.stringify(exit)}: ${child.stderr}`);
    return child.lines;
  });
}

type Report = Record<string, { status: string; note?: string; via?: string; value?: unknown }> & {
  unavailable?: string;
  backend?: string;
  bound: { idleMs: number; busyMs: number; warnings: string[] };
};

/** Checks an honest report for a socket where setsockopt is unavailable for `why`. */
function assertFallback(report: Report, why: string, runtimeSets: string[]): void {
  assert.equal(report.backend, undefined);
  assert.equal(report.unavailable, why);
  assert.equal(report.keepalive.status, "applied");
  for (const control of ["idle", "interval", "count", "userTimeout"]) {
    if (runtimeSets.includes(control)) {
      assert.notEqual(report[control].status, "unsupported", `${control} is set natively`);
    } else {
      assert.equal(report[control].status, "unsupported", control);
      assert.match(report[control].note!, new RegExp(why.replace(/[()]/g, "\\$&")), control);
    }
  }
  // No user timeout: data in flight waits for the kernel's retransmissions, and the report says so.
  assert.equal(report.bound.busyMs, 924_600);
  assert.match(report.bound.warnings[0], /userTimeout.*asked but not set/);
}

// ---- FFI missing ----------------------------------------------------------------------------

test(
  "node, ffi: false: Node's own API sets idle, interval and count; the user timeout is reported unset",
  {
    skip: onlyOn("node") || netns,
    timeout: 30_000,
  },
  async () => {
    const [line] = await fixture({ scenario: "fallback", ffi: false });
    for (const side of ["server", "client"]) {
      assertFallback(line[side] as Report, "setsockopt is off (the ffi option is false)", [
        "idle",
        "interval",
        "count",
      ]);
    }
    // The kernel, read independently: what the report says is unset is unset.
    assert.deepEqual(line.kernel, { keepalive: 1, idle: 2, interval: 1, count: 3, userTimeout: 0 });
    assert.deepEqual([line.uncaught, line.warnings, line.onError], [[], [], []]);
  },
);

test("node without koffi (a copy of the library with no node_modules above it)", {
  // Must run in CI: the one real proof of the fallback without koffi.
  skip: onlyOn("node") || netns ||
    mustRun(koffiAboveTmpdir() && "koffi is installed somewhere above the temporary directory"),
  timeout: 30_000,
}, async () => {
  const copy = mkdtempSync(join(tmpdir(), "socket-liveness-no-koffi-"));
  try {
    for (const entry of ["mod.ts", "src", "adapters"]) {
      cpSync(join(root, entry), join(copy, entry), { recursive: true });
    }
    writeFileSync(join(copy, "package.json"), '{ "type": "module" }\n');
    const [line] = await fixture({ scenario: "fallback", lib: `${pathToFileURL(copy).href}/` });
    assert.deepEqual(line.backend, { ok: false, reason: "koffi not installed" });
    for (const side of ["server", "client"]) {
      assertFallback(line[side] as Report, "koffi not installed", ["idle", "interval", "count"]);
    }
    assert.equal(line.size, 2, "both connections are watched all the same");
    assert.deepEqual([line.uncaught, line.warnings, line.onError], [[], [], []]);
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
});

test(`${runtime}, not Linux (simulated): no setsockopt is tried, the report says why`, {
  skip: netns,
  timeout: 30_000,
}, async () => {
  const [line] = await fixture({ scenario: "fallback", platform: "darwin" });
  assert.deepEqual(line.backend, { ok: false, reason: "not Linux" });
  const native = {
    node: ["idle", "interval", "count"],
    bun: ["idle", "interval", "count"],
    deno: [],
  };
  for (const side of ["server", "client"]) {
    assertFallback(line[side] as Report, "not Linux", native[runtime]);
  }
  assert.equal(line.size, 2);
});

test(`${runtime}, ffi: false: the report says what only setsockopt could set`, {
  skip: runtime === "node" ? "node: see the test above" : netns,
  timeout: 30_000,
}, async () => {
  const [line] = await fixture({ scenario: "fallback", ffi: false });
  const why = "setsockopt is off (the ffi option is false)";
  // Bun's setKeepAlive sets the idle time, with interval 1 s and count 10 as side effects.
  const native = runtime === "bun" ? ["idle", "interval", "count"] : [];
  for (const side of ["server", "client"]) assertFallback(line[side] as Report, why, native);
  if (runtime === "bun") {
    const report = line.server as Report;
    assert.equal(report.interval.status, "applied", "asked 1 s, which Bun fixes it at");
    assert.equal(report.count.status, "adjusted", "asked 3, Bun fixes it at 10");
    assert.equal(report.count.value, 10);
    assert.equal(report.bound.idleMs, 12_000, "the bound follows what is in force: 2 s + 10 × 1 s");
  }
});

// ---- a descriptor closed and reused -----------------------------------------------------------

type Entry = { kind: "tcp"; local: SockAddr; remote: SockAddr; options: Map<string, number> };

/** A kernel descriptor table that hands out the lowest free descriptor, as Linux does. */
class FakeKernel implements SockoptBackend {
  readonly name = "fake";
  table: (Entry | undefined)[] = [];
  /** Every setsockopt: on which socket (by its local port) and what. */
  sets: { port: number; option: string; value: number }[] = [];
  /** Runs before the next setsockopt, once: where a test closes and reuses a descriptor. */
  beforeSet: (() => void) | undefined;
  #port = 40_000;

  connect(): ConnLike & { fd: number; port: number } {
    const port = this.#port++;
    const entry: Entry = {
      kind: "tcp",
      local: addr(port),
      remote: addr(8_000),
      options: new Map(),
    };
    let fd = this.table.indexOf(undefined);
    if (fd < 0) fd = this.table.length;
    this.table[fd] = entry;
    return {
      fd,
      port,
      localAddr: { hostname: "127.0.0.1", port },
      remoteAddr: { hostname: "127.0.0.1", port: 8_000 },
    };
  }

  close(fd: number): void {
    this.table[fd] = undefined;
  }

  setInt(fd: number, level: number, option: number, value: number): void {
    const run = this.beforeSet;
    this.beforeSet = undefined;
    run?.();
    const entry = this.table[fd] ?? fail("setsockopt", 9);
    entry.options.set(`${level}/${option}`, value);
    this.sets.push({ port: entry.local.port, option: `${level}/${option}`, value });
  }
  getInt(fd: number, level: number, option: number): number {
    const entry = this.table[fd] ?? fail("getsockopt", 9);
    return entry.options.get(`${level}/${option}`) ?? 0;
  }
  tcpInfo(): undefined {
    return undefined;
  }
  localAddress(fd: number): SockAddr | undefined {
    return this.table[fd]?.local;
  }
  remoteAddress(fd: number): SockAddr | undefined {
    return this.table[fd]?.remote;
  }
  /** `dup(2)`: the lowest free number, naming the same socket. */
  withDuplicate<T>(fd: number, fn: (duplicate: number) => T): T {
    const entry = this.table[fd] ?? fail("dup", 9);
    let duplicate = this.table.indexOf(undefined);
    if (duplicate < 0) duplicate = this.table.length;
    this.table[duplicate] = entry;
    try {
      return fn(duplicate);
    } finally {
      this.close(duplicate);
    }
  }
}

function addr(port: number): SockAddr {
  return { address: "127.0.0.1", port, family: "IPv4" };
}

function fail(call: string, errno: number): never {
  throw new SockoptError(call, errno);
}

test("a conn closed and its descriptor reused by another: the lookup never returns it for the old conn", () => {
  const kernel = new FakeKernel();
  const finder = new DenoFdFinder(kernel);
  const a = kernel.connect();
  assert.equal(finder.find(a), a.fd);
  kernel.close(a.fd); // closed without release(): the finder's hint is stale
  const b = kernel.connect();
  assert.equal(b.fd, a.fd, "Linux hands out the lowest free descriptor: the same number");
  assert.equal(finder.find(a), undefined, "a's 4-tuple is nowhere: no descriptor for it");
  assert.equal(finder.find(b), b.fd);
});

test("a descriptor reused between lookup and setsockopt: a second lookup sees it", () => {
  // Here the descriptor changes hands mid-tuning of the number itself (what the adapters no longer
  // do: they tune a dup, see the next test); the finder then no longer returns it for the old conn.
  const kernel = new FakeKernel();
  const finder = new DenoFdFinder(kernel);
  const a = kernel.connect();
  const fd = finder.find(a)!;
  let b: ReturnType<FakeKernel["connect"]> | undefined;
  kernel.beforeSet = () => {
    kernel.close(fd);
    b = kernel.connect(); // another thread's accept takes the number
  };
  const settings = resolveKeepalive("2s:1s:3");
  tuneKeepalive(settings, { sockopt: { backend: kernel, fd } });
  assert.equal(b?.fd, fd);
  assert.notEqual(finder.find(a), fd, "the check after tuning sees the descriptor is not a's");
  const report = tuneKeepalive(settings, { unavailable: "the descriptor changed hands" });
  assert.equal(report.idle.status, "unsupported", "and the report then claims nothing");
});

test("a descriptor reused between lookup and setsockopt never tunes the other socket", () => {
  // The adapters' sequence: find the number, dup it, prove the duplicate is the conn's, tune the
  // duplicate. The number is closed and taken by another socket in the middle: the duplicate still
  // names the first socket, so the other one is never touched.
  const kernel = new FakeKernel();
  const finder = new DenoFdFinder(kernel);
  const a = kernel.connect();
  const fd = finder.find(a)!;
  let b: ReturnType<FakeKernel["connect"]> | undefined;
  kernel.beforeSet = () => {
    kernel.close(fd);
    b = kernel.connect();
  };
  const prove = (held: number) => isDenoConnFd(kernel, held, a) ? undefined : "not a's";
  const report = tuneKeepalive(resolveKeepalive("2s:1s:3"), {
    sockopt: { backend: kernel, fd, prove },
  });
  assert.equal(b?.fd, fd, "the number was taken by another socket meanwhile");
  assert.deepEqual(kernel.sets.filter((set) => set.port === b!.port), []);
  assert.ok(kernel.sets.some((set) => set.port === a.port && set.option === "6/4"));
  assert.equal(report.idle.status, "applied");
  // A duplicate taken after the number changed hands is refused: nothing is set, and said so.
  const before = kernel.sets.length;
  const refused = tuneKeepalive(resolveKeepalive("2s:1s:3"), {
    sockopt: { backend: kernel, fd, prove },
  });
  assert.equal(kernel.sets.length, before);
  assert.equal(refused.idle.status, "unsupported");
  assert.equal(refused.idle.note, "not a's");
});

// ---- user callbacks that throw, re-enter or block ---------------------------------------------

test("every user callback may throw: reported to onError with its name, the monitor carries on", () => {
  const clock = new ManualClock();
  const errors: string[] = [];
  const destroyed: string[] = [];
  const boom = (name: string) => (): never => {
    throw new Error(name);
  };
  const monitor = new LivenessMonitor<string>({
    clock,
    resolution: 100,
    idle: 300,
    maxAge: 10_000,
    maxAgeJitter: 0,
    grace: 100,
    heartbeat: { interval: 1_000, timeout: 500, send: boom("send"), when: boom("when") },
    pingEnforcement: { minInterval: 1_000, maxStrikes: 0 },
    onTransition: boom("onTransition"),
    onIdle: boom("onIdle"),
    onEnd: boom("onEnd"),
    onDrain: boom("onDrain"),
    onTooManyPings: boom("onTooManyPings"),
    onError: (error, callback) => {
      errors.push(`${callback}: ${(error as Error).message}`);
      throw new Error("onError throws too"); // nowhere left to report: swallowed
    },
  });
  const driver: Driver<string> = {
    destroy: (context) => {
      destroyed.push(context);
      throw new Error("destroy");
    },
    sample: boom("sample"),
  };
  const a = monitor.track("a", driver);
  const b = monitor.track("b", driver);
  monitor.ended(b);
  monitor.pinged(b);
  monitor.pinged(b);
  clock.advance(2_000); // a: idle, pinged, dead of heartbeat timeout; b: idle
  assert.equal(monitor.state(a), undefined, "a is gone");
  monitor.failed(b, ECONNRESET);
  assert.equal(monitor.size, 0);
  assert.deepEqual(destroyed, ["a", "b"], "destroy ran for each death though everything threw");
  for (
    const name of [
      "onTransition",
      "onIdle",
      "onEnd",
      "onTooManyPings",
      "heartbeat.when",
      "heartbeat.send",
      "driver.sample",
      "driver.destroy",
    ]
  ) {
    assert.ok(errors.some((e) => e.startsWith(`${name}:`)), `${name} reported: ${errors}`);
  }
  const stats = monitor.stats();
  assert.equal(stats.deaths["heartbeat-timeout"], 1);
  assert.equal(stats.deaths.reset, 1);
  // And it still works.
  const c = monitor.track("c", { destroy() {} });
  monitor.closed(c);
  assert.equal(monitor.stats().closed, 1);
  monitor.close();
  assert.equal(clock.pending, 0);
});

test("callbacks may re-enter: track, close others and close the monitor from inside a tick", () => {
  const clock = new ManualClock();
  const seen: string[] = [];
  const ids = new Map<string, number>();
  const monitor: LivenessMonitor<string> = new LivenessMonitor<string>({
    clock,
    resolution: 100,
    idleTimeout: 1_000,
    onTransition: (t: Transition<string>) => {
      seen.push(`${t.context}:${t.to}`);
      if (t.context === "a") {
        monitor.closed(ids.get("b")!); // b ends inside a's death
        ids.set("c", monitor.track("c")); // a newcomer is tracked mid-tick
      }
      if (t.context === "c") monitor.close(); // the monitor closes inside a tick
    },
  });
  ids.set("a", monitor.track("a"));
  clock.advance(500);
  ids.set("b", monitor.track("b"));
  clock.advance(700); // a dies of idle timeout
  assert.deepEqual(seen, ["a:dead", "b:closed"]);
  assert.equal(monitor.size, 1);
  assert.equal(monitor.state(ids.get("c")!), "open");
  clock.advance(2_000); // c dies; the monitor closes in its callback
  assert.deepEqual(seen, ["a:dead", "b:closed", "c:dead"]);
  assert.equal(monitor.size, 0);
  assert.equal(clock.pending, 0, "no timer after close, even from inside the tick");
  assert.throws(() => monitor.track("d"), /closed/);
});

test("a callback that blocks the process does not make the other peers look dead", {
  timeout: 20_000,
}, async (t) => {
  // Real time: a 2.5 s stall inside a's onTransition. b is fed every 20 ms by a timer that cannot
  // run during the stall; the monitor must not count the frozen time as b's silence.
  const seen: string[] = [];
  const monitor = new LivenessMonitor<string>({
    clock: systemClock,
    resolution: 10,
    idleTimeout: 1_000,
    onTransition: (t: Transition<string>) => {
      seen.push(`${t.context}:${t.to}`);
      if (t.context === "a") {
        const until = performance.now() + 2_500;
        while (performance.now() < until) { /* a slow callback */ }
      }
    },
  });
  t.after(() => monitor.close()); // a failure below leaves no monitor ticking
  monitor.track("a");
  const b = monitor.track("b");
  const feed = setInterval(() => monitor.received(b), 20);
  try {
    const deadline = performance.now() + 10_000;
    while (!seen.includes("a:dead") && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(seen, ["a:dead"]);
    await new Promise((resolve) => setTimeout(resolve, 300)); // after the stall, b is fed again
    assert.deepEqual(seen, ["a:dead"], "b outlived a stall of 2.5 times its idle timeout");
    assert.equal(monitor.state(b), "open");
  } finally {
    clearInterval(feed);
  }
  // Unfed, b dies on schedule.
  const quietSince = performance.now();
  while (!seen.includes("b:dead") && performance.now() - quietSince < 10_000) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const quiet = performance.now() - quietSince;
  t.diagnostic(`b died ${Math.round(quiet)} ms after its last input (idle timeout 1000 ms)`);
  assert.deepEqual(seen, ["a:dead", "b:dead"]);
  // Inputs are stamped with the monitor's last tick (no clock read per input): on a loaded machine
  // whose timers run late, a deadline comes early by that lag. Generous, as every bound here.
  assert.ok(quiet >= 500, `b died ${Math.round(quiet)} ms after its last input; idle timeout 1 s`);
  monitor.close();
});

// ---- errors after close -----------------------------------------------------------------------

test("errors and data after a close change nothing; after monitor.close() nothing is called", () => {
  const clock = new ManualClock();
  const seen: string[] = [];
  const destroyed: string[] = [];
  const monitor = new LivenessMonitor<string>({
    clock,
    idleTimeout: 1_000,
    heartbeat: { interval: 500, timeout: 500, send: () => void seen.push("ping") },
    onTransition: (t) => seen.push(`${t.context}:${t.from}->${t.to}:${t.reason}`),
    onEnd: (context) => seen.push(`${context}:end`),
  });
  const driver = { destroy: (context: string) => void destroyed.push(context) };
  const a = monitor.track("a", driver);
  monitor.closed(a);
  monitor.failed(a, ECONNRESET);
  monitor.received(a);
  monitor.acked(a);
  monitor.ended(a);
  monitor.closed(a);
  assert.deepEqual(seen, ["a:open->closed:local-close"]);
  const b = monitor.track("b", driver);
  monitor.failed(b, ECONNRESET);
  monitor.failed(b, Object.assign(new Error("timed out"), { code: "ETIMEDOUT" }));
  assert.deepEqual(seen.slice(1), ["b:open->dead:reset"]);
  assert.deepEqual(destroyed, ["b"]);
  const c = monitor.track("c", driver);
  monitor.close();
  monitor.failed(c, ECONNRESET);
  monitor.received(c);
  monitor.ended(c);
  clock.advance(10_000);
  assert.deepEqual(seen.slice(2), [], "nothing after close");
  assert.deepEqual(destroyed, ["b"]);
  assert.equal(monitor.stats().deaths.reset, 1);
  assert.equal(clock.pending, 0);
});

test(
  "node adapter: 'error' and 'end' after 'close' change nothing",
  { skip: onlyOn("node") },
  () => {
    // A net.Socket that never connects: its events are emitted by hand, no traffic.
    const seen: string[] = [];
    const monitor = new LivenessMonitor<Socket>({
      onTransition: (t) => seen.push(`${t.from}->${t.to}:${t.reason}`),
      onEnd: () => seen.push("end"),
    });
    const socket = new Socket();
    socket.on("error", () => {});
    watchSocket(monitor, socket);
    socket.emit("close", false);
    socket.emit("error", ECONNRESET);
    socket.emit("end");
    socket.emit("close", true);
    assert.deepEqual(seen, ["connecting->closed:local-close"], "it never connected");
    assert.equal(monitor.size, 0);
    socket.destroy();
    monitor.close();
  },
);

test("deno adapter: a read that fails after close() changes nothing", {
  skip: onlyOn("deno"),
}, async () => {
  // A fake conn (no traffic): its pending read is settled by hand.
  let rejectRead: (error: Error) => void = () => {};
  let closes = 0;
  const conn = {
    read: () => new Promise<number | null>((_, reject) => rejectRead = reject),
    write: () => Promise.resolve(0),
    close: () => void closes++,
    closeWrite: () => Promise.resolve(),
    setNoDelay() {},
    setKeepAlive() {},
    ref() {},
    unref() {},
    localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
    remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 2 },
  } satisfies DenoTcpConn;
  const seen: string[] = [];
  const monitor = new LivenessMonitor<WatchedConn>({
    onTransition: (t) => seen.push(`${t.from}->${t.to}:${t.reason}`),
  });
  const watched = watchConn(monitor, conn, { ffi: false });
  const read = watched.read(new Uint8Array(8));
  watched.close();
  rejectRead(Object.assign(new Error("connection reset"), { name: "ConnectionReset" }));
  await assert.rejects(read, { name: "ConnectionReset" }, "the caller still gets its error");
  assert.deepEqual(seen, ["open->closed:local-close"]);
  assert.equal(closes, 1);
  monitor.close();
});

/** A Bun socket as the handler sees it, with no descriptor behind it. */
function fakeBunSocket(overrides: Partial<BunSocket> = {}): BunSocket & { terminated: number } {
  const socket = {
    data: undefined,
    readyState: 1,
    bytesWritten: 0,
    localAddress: "127.0.0.1",
    localPort: 1,
    remoteAddress: "127.0.0.1",
    remotePort: 2,
    terminated: 0,
    write: () => 0,
    end() {},
    shutdown() {},
    terminate() {
      socket.terminated++;
    },
    setKeepAlive: () => true,
    ...overrides,
  };
  return socket;
}

test("bun adapter: close and error after close change nothing", { skip: onlyOn("bun") }, () => {
  const seen: string[] = [];
  const monitor = new LivenessMonitor<BunSocket>({
    onTransition: (t) => seen.push(`${t.from}->${t.to}:${t.reason}`),
  });
  const handler = watchHandler(monitor, {}, { ffi: false });
  const socket = fakeBunSocket();
  handler.open!(socket);
  handler.close!(socket);
  handler.close!(socket, ECONNRESET);
  handler.error!(socket, ECONNRESET);
  handler.end!(socket);
  handler.data!(socket, new Uint8Array(1));
  assert.deepEqual(seen, ["open->closed:local-close"]);
  assert.equal(monitor.size, 0);
  monitor.close();
});

test("bun adapter: a socket whose peer is gone before open is not thrown at", {
  skip: onlyOn("bun"),
}, () => {
  // Bun reports no addresses for a socket reset before `open` runs, and getpeername fails on it
  // (here the descriptor is stdin, no socket at all).
  const gone = fakeBunSocket({
    fd: 0,
    readyState: -1,
    localAddress: undefined as unknown as string,
    remoteAddress: undefined as unknown as string,
  });
  const monitor = new LivenessMonitor<BunSocket>({ keepalive: "2s:1s:3" });
  let opened = false;
  watchHandler(monitor, { open: () => void (opened = true) }).open!(gone);
  assert.ok(opened, "the user's open hook ran");
  monitor.close();
});

// ---- sockets destroyed by the user while the library acts on them --------------------------------

test(`${runtime}: sockets destroyed by the user mid-flight end once, with nothing thrown`, {
  skip: netns,
  timeout: 30_000,
}, async () => {
  const cases = new Map(
    (await fixture({ scenario: "destroy" })).filter((l) => l.event === "case")
      .map((line) => [String(line.name), line]),
  );
  const transitions = (name: string): string[] =>
    [...(cases.get(name)!.transitions as string[])].sort();
  for (const line of cases.values()) {
    assert.deepEqual(line.onError ?? [], [], `${line.name}: no callback threw`);
    assert.deepEqual(line.uncaught ?? [], [], `${line.name}: nothing uncaught`);
    if (line.size !== undefined) assert.equal(line.size, 0, `${line.name}: nothing left tracked`);
  }
  if (runtime === "node") {
    // Destroyed in the user's 'connection' listener, after the adapter tuned it: closed, both ends.
    assert.equal(cases.get("destroyed-on-accept")!.tuned, "applied");
    assert.deepEqual(transitions("destroyed-on-accept"), [
      "connecting->open:connected", // the client's connect()
      "open->closed:local-close",
      "open->closed:peer-close", // the client's end: the server's FIN came first
    ]);
    // Destroyed in onTransition before the adapter's own destroy: one death, once.
    assert.deepEqual(transitions("destroyed-in-onTransition"), [
      "connecting->open:connected",
      "open->closed:local-close",
      "open->dead:reset",
    ]);
    // Destroyed before it connected: never tuned, closed while connecting.
    assert.deepEqual(transitions("destroyed-before-connect"), ["connecting->closed:local-close"]);
    assert.equal(cases.get("destroyed-before-connect")!.report, null);
    // The heartbeat's send destroys the socket: probing, then closed.
    assert.deepEqual(transitions("destroyed-in-heartbeat-send"), [
      "connecting->open:connected",
      "open->probing:ping-sent",
      "open->probing:ping-sent",
      "probing->closed:local-close",
      "probing->closed:local-close",
    ]);
  } else if (runtime === "deno") {
    // Each case's client comes from connect(): connecting, then open, as on Node.
    assert.deepEqual(transitions("closed-in-onTransition"), [
      "connecting->open:connected",
      "open->closed:local-close",
      "open->dead:reset",
    ]);
    assert.equal(cases.get("closed-in-onTransition")!.read, "rejects ConnectionReset");
    // Closing the watched conn during the user's read: closed; the read fails as Deno's own does,
    // and a second close throws BadResource, as Deno's does.
    assert.deepEqual(transitions("closed-during-read"), [
      "connecting->open:connected",
      "open->closed:local-close",
    ]);
    assert.equal(cases.get("closed-during-read")!.again, "throws BadResource");
    // Closing the raw conn underneath bypasses the adapter (documented); it ends once.
    assert.deepEqual(
      transitions("raw-conn-closed").filter((t) => !t.startsWith("connecting->")).length,
      1,
    );
  } else {
    assert.equal(cases.get("terminated-on-open")!.tuned, "applied");
    assert.ok(transitions("terminated-on-open").includes("open->closed:local-close"));
    assert.equal(transitions("terminated-on-open").length, 2, "each end ends once");
    assert.deepEqual(transitions("terminated-in-onTransition"), [
      "open->closed:local-close",
      "open->dead:reset",
    ]);
    assert.deepEqual(transitions("terminated-in-heartbeat-send"), [
      "open->probing:ping-sent",
      "open->probing:ping-sent",
      "probing->closed:local-close",
      "probing->closed:local-close",
    ]);
  }
});

// ---- security ---------------------------------------------------------------------------------

test(`${runtime}: importing every module and running monitors opens no socket`, {
  skip: netns,
  timeout: 30_000,
}, async () => {
  const file = join(root, "tests/fixtures/stress_quiet.ts");
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  const [cmd, args] = deno !== undefined
    ? [deno.execPath(), ["run", "-A", file]]
    : [process.execPath, [file]];
  await withNetns(async (ns) => {
    const child = ns.spawn(cmd, args);
    const line = await child.next((l) => l.event === "quiet" || l.event === "error", 20_000);
    assert.equal(line.event, "quiet", String(line.message));
    // While it still runs: the namespace has no TCP or UDP socket at all, listening or not.
    const sockets = (await ns.exec("ss", ["-Htuan"])).trim();
    child.command("exit");
    await child.exited;
    assert.equal(sockets, "", "no socket in the namespace");
    // Unix sockets are the runtime's own (Deno opens some at any time, as the soak test notes);
    // the library opens none. Every other descriptor must be as it was.
    const { unix: unixBefore, ...before } = line.before as JsonLine;
    const { unix: unixAfter, ...after } = line.after as JsonLine;
    const runtimeOwn = Number(unixAfter) - Number(unixBefore);
    assert.deepEqual(
      {
        ...after,
        fds: Number(after.fds) - runtimeOwn,
        sockets: Number(after.sockets) - runtimeOwn,
      },
      before,
      "the process holds the same descriptors, but for the runtime's own Unix sockets",
    );
    assert.equal((line.after as JsonLine).tcp, 0);
    assert.notEqual(line.backend, undefined, "the FFI backend was loaded on the way");
  });
});

test("the published package runs no script at install", () => {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  for (
    const hook of ["preinstall", "install", "postinstall", "prepare", "preprepare", "postprepare"]
  ) {
    assert.equal(pkg.scripts?.[hook], undefined, `package.json has a "${hook}" script`);
  }
  // npm adds `node-gyp rebuild` as an install script when binding.gyp sits at the root.
  assert.equal(existsSync(join(root, "binding.gyp")), false);
  assert.notEqual(pkg.gypfile, true);
});

test("deno: the adapter works with --allow-net alone, and says tuning needs --allow-ffi", {
  skip: onlyOn("deno") || netns,
  timeout: 30_000,
}, async () => {
  // --no-prompt: a permission the adapter asked for would throw, not wait at a prompt.
  const [line] = await fixture({ scenario: "fallback" }, ["--allow-net"]);
  assert.deepEqual(line.backend, { ok: false, reason: "Deno needs --allow-ffi" });
  for (const side of ["server", "client"]) {
    const report = line[side] as Report;
    assertFallback(report, "Deno needs --allow-ffi", []);
    assert.equal(report.bound.idleMs, 7_875_000, "the system's 7200 s + 9 × 75 s");
  }
  assert.deepEqual(line.onError, []);
  // With --allow-ffi on top, and nothing more, everything is set and read back.
  const [tuned] = await fixture({ scenario: "fallback" }, ["--allow-net", "--allow-ffi"]);
  for (const side of ["server", "client"]) {
    const report = tuned[side] as Report;
    for (const control of ["keepalive", "idle", "interval", "count", "userTimeout"]) {
      assert.equal(report[control].status, "applied", `${side} ${control}`);
    }
  }
});
