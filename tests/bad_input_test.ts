// Bad input to every public function, core and adapters: wrong types, NaN, negative, infinite, zero
// where it is not allowed, values above the kernel's limits, malformed durations and so_keepalive
// strings, objects that are not sockets. Each must be a TypeError or RangeError that names the
// option (and, for a range, the range), and nothing may be half-applied: no timer, no tracked
// connection, no listener, no socket. No test here opens a socket: Deno's listen and connect are
// stubbed, and Node's are only reached with ports it refuses.
//
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { Server, Socket } from "node:net";
import { Duplex } from "node:stream";
import {
  classifyError,
  decodeTcpInfo,
  detectionBound,
  formatDuration,
  LivenessMonitor,
  ManualClock,
  metricsHandler,
  type MonitorOptions,
  parseDuration,
  phi,
  phiCrossing,
  resolveKeepalive,
  tcpInfoSupported,
  toPrometheus,
  tuneKeepalive,
} from "../mod.ts";
import { onlyOn, runtime } from "./_skip.ts";
import * as node from "../adapters/node.ts";
import * as deno from "../adapters/deno.ts";
import * as bun from "../adapters/bun.ts";

type ErrorClass = "TypeError" | "RangeError";
const any = (value: unknown) => value as never;

/** Asserts `fn` throws `kind` whose message names `name` (and matches `range` when given). */
function rejects(fn: () => unknown, kind: ErrorClass, name: string, range?: RegExp): void {
  assert.throws(fn, (error: Error) => {
    assert.equal(error.name, kind, `${name}: ${error.name}: ${error.message}`);
    assert.ok(error.message.includes(`"${name}"`), `names "${name}": ${error.message}`);
    if (range !== undefined) assert.match(error.message, range);
    assert.doesNotMatch(error.message, /\.$/, "sentence case without a trailing period");
    return true;
  });
}

// ---- durations and keepalive specs ------------------------------------------------------------

test("parseDuration: wrong types, NaN, negative, infinite and malformed strings", () => {
  for (const value of [null, undefined, true, {}, [], () => 1, 1n, Symbol("s")]) {
    rejects(() => parseDuration(value, "idle"), "TypeError", "idle", /number of milliseconds/);
  }
  for (const value of [NaN, -1, -0.001, Infinity, -Infinity]) {
    rejects(() => parseDuration(value, "idle"), "RangeError", "idle", /finite .*0 or more/);
  }
  const malformed = [
    "",
    "   ",
    "30",
    "1x",
    "s",
    "-5s",
    "+5s",
    "1e3ms",
    "1s 2s",
    ".5s",
    "5.s",
    "1S",
    "1 s",
    "0x10s",
    "１s",
    "5s;",
    "NaNs",
    "Infinitys",
  ];
  for (const value of malformed) {
    rejects(() => parseDuration(value, "idle"), "TypeError", "idle", /like "30s"/);
  }
  rejects(() => parseDuration(`${"9".repeat(400)}d`, "idle"), "RangeError", "idle", /finite/);
  assert.equal(parseDuration("1m30s", "idle"), 90_000, "a good one still parses");
});

test("resolveKeepalive: shapes, limits and so_keepalive strings", () => {
  for (const value of [5, null, [], () => {}, Symbol("k"), 1n]) {
    rejects(() => resolveKeepalive(value), "TypeError", "keepalive", /"30s:5s:4"/);
  }
  for (const text of ["ON", "yes", "", "30s", "30s:5s", "30s:5s:4:1", "a:b:c", "30s:5x:4"]) {
    assert.throws(() => resolveKeepalive(text), TypeError, text);
  }
  rejects(() => resolveKeepalive({ idel: "1s" }), "TypeError", "keepalive.idel", /idle, interval/);
  const seconds = /from 1 s to 32767 s/;
  for (const idle of [0, "0s", "32768s", 32_768_000, "10h"]) {
    rejects(() => resolveKeepalive({ idle }), "RangeError", "keepalive.idle", seconds);
  }
  rejects(() => resolveKeepalive({ idle: -1 }), "RangeError", "keepalive.idle", /0 or more/);
  rejects(() => resolveKeepalive("0:5s:4"), "RangeError", "keepalive.idle", seconds);
  rejects(() => resolveKeepalive("30s:0:4"), "RangeError", "keepalive.interval", seconds);
  rejects(() => resolveKeepalive({ interval: NaN }), "RangeError", "keepalive.interval");
  rejects(() => resolveKeepalive({ interval: Infinity }), "RangeError", "keepalive.interval");
  const count = /integer from 1 to 127/;
  for (const value of [0, 128, 1.5, NaN, -1, Infinity]) {
    rejects(() => resolveKeepalive({ count: value }), "RangeError", "keepalive.count", count);
  }
  rejects(() => resolveKeepalive({ count: "3" }), "TypeError", "keepalive.count", count);
  rejects(() => resolveKeepalive("30s:5s:0"), "RangeError", "keepalive.count", count);
  rejects(() => resolveKeepalive("30s:5s:128"), "RangeError", "keepalive.count", count);
  rejects(() => resolveKeepalive("30s:5s:4.5"), "TypeError", "keepalive.count", count);
  rejects(() => resolveKeepalive("30s:5s:-1"), "TypeError", "keepalive.count", count);
  const userTimeout = /from 0 ms to 2147483647 ms/;
  rejects(
    () => resolveKeepalive({ userTimeout: 2 ** 31 }),
    "RangeError",
    "keepalive.userTimeout",
    userTimeout,
  );
  rejects(
    () => resolveKeepalive({ userTimeout: "25d" }),
    "RangeError",
    "keepalive.userTimeout",
    userTimeout,
  );
  rejects(() => resolveKeepalive({ userTimeout: -1 }), "RangeError", "keepalive.userTimeout");
  rejects(() => resolveKeepalive({ userTimeout: NaN }), "RangeError", "keepalive.userTimeout");
  rejects(() => resolveKeepalive({ userTimeout: "soon" }), "TypeError", "keepalive.userTimeout");
  // The limits themselves are accepted.
  assert.equal(resolveKeepalive({ idle: "32767s", count: 127 }).count, 127);
  assert.equal(resolveKeepalive({ userTimeout: 2 ** 31 - 1 }).userTimeoutMs, 2 ** 31 - 1);
});

test("detectionBound: every option checked", () => {
  for (const value of [null, 5, "x", []]) {
    assert.throws(() => detectionBound(any(value)), TypeError);
  }
  rejects(() => detectionBound(any({ keepalve: "on" })), "TypeError", "keepalve");
  rejects(() => detectionBound({ keepalive: any(5) }), "TypeError", "keepalive");
  rejects(() => detectionBound({ keepalive: "30s:5s:0" }), "RangeError", "keepalive.count");
  rejects(
    () => detectionBound({ heartbeat: any({ interval: "1s" }) }),
    "TypeError",
    "heartbeat.timeout",
  );
  rejects(
    () => detectionBound({ heartbeat: { interval: -1, timeout: 1 } }),
    "RangeError",
    "heartbeat.interval",
  );
  rejects(() => detectionBound({ idleTimeout: "soon" }), "TypeError", "idleTimeout");
  rejects(() => detectionBound({ resolution: NaN }), "RangeError", "resolution");
  rejects(() => detectionBound({ budget: -1 }), "RangeError", "budget");
});

test("detectionBound: a malformed `system` table", () => {
  rejects(() => detectionBound({ system: any("x") }), "TypeError", "system");
  rejects(() => detectionBound({ system: any({ idleMs: -1 }) }), "RangeError", "system.idleMs");
});

// ---- the monitor -----------------------------------------------------------------------------

/** [option path, options, error class, range pattern] */
const MONITOR_CASES: [string, MonitorOptions<unknown>, ErrorClass, RegExp?][] = [
  ["options", any("x"), "TypeError"],
  ["options", any([]), "TypeError"],
  ["idel", any({ idel: 5 }), "TypeError", /expected one of/],
  ["resolution", { resolution: 0 }, "RangeError", /from 1 ms to 60000 ms/],
  ["resolution", { resolution: 60_001 }, "RangeError", /from 1 ms to 60000 ms/],
  ["resolution", { resolution: NaN }, "RangeError"],
  ["resolution", { resolution: "fast" }, "TypeError"],
  ["grace", { grace: -1 }, "RangeError"],
  ["grace", { grace: 2 ** 31 }, "RangeError", /to 2147483647 ms/],
  ["maxAgeJitter", { maxAgeJitter: -0.1 }, "RangeError", /from 0 to 0.5/],
  ["maxAgeJitter", { maxAgeJitter: 0.6 }, "RangeError", /from 0 to 0.5/],
  ["maxAgeJitter", { maxAgeJitter: NaN }, "RangeError", /from 0 to 0.5/],
  ["maxAgeJitter", { maxAgeJitter: any("0.1") }, "RangeError", /from 0 to 0.5/],
  ["heartbeat", { heartbeat: any("x") }, "TypeError"],
  ["heartbeat", { heartbeat: any({ interval: "1s" }) }, "TypeError"],
  ["heartbeat.send", { heartbeat: any({ interval: "1s", timeout: "1s" }) }, "TypeError"],
  ["heartbeat.send", { heartbeat: any({ interval: "1s", timeout: "1s", send: 5 }) }, "TypeError"],
  [
    "heartbeat.interval",
    { heartbeat: { interval: 50, timeout: "1s", send() {} } },
    "RangeError",
    /from 100 ms/,
  ],
  ["heartbeat.timeout", { heartbeat: { interval: "1s", timeout: -1, send() {} } }, "RangeError"],
  [
    "heartbeat.jitter",
    { heartbeat: { interval: "1s", timeout: "1s", send() {}, jitter: 0.7 } },
    "RangeError",
    /0 to 0.5/,
  ],
  ["heartbeat.ackOnData", {
    heartbeat: any({ interval: "1s", timeout: "1s", send() {}, ackOnData: "yes" }),
  }, "TypeError"],
  [
    "heartbeat.when",
    { heartbeat: any({ interval: "1s", timeout: "1s", send() {}, when: 5 }) },
    "TypeError",
  ],
  [
    "heartbeat.extra",
    { heartbeat: any({ interval: "1s", timeout: "1s", send() {}, extra: 1 }) },
    "TypeError",
  ],
  ["suspicion", { suspicion: any(5) }, "TypeError"],
  ["suspicion.threshold", { suspicion: { threshold: 0 } }, "RangeError", /above 0 and at most 100/],
  [
    "suspicion.threshold",
    { suspicion: { threshold: 101 } },
    "RangeError",
    /above 0 and at most 100/,
  ],
  ["suspicion.threshold", { suspicion: { threshold: NaN } }, "RangeError"],
  ["suspicion.maxSamples", { suspicion: { maxSamples: 1 } }, "RangeError", /from 2 to 10000/],
  ["suspicion.maxSamples", { suspicion: { maxSamples: 10_001 } }, "RangeError", /from 2 to 10000/],
  ["suspicion.maxSamples", { suspicion: { maxSamples: 2.5 } }, "RangeError", /integer/],
  ["suspicion.minStdDeviation", { suspicion: { minStdDeviation: 0 } }, "RangeError", /above 0/],
  ["suspicion.minStdDeviation", { suspicion: { minStdDeviation: -1 } }, "RangeError"],
  ["suspicion.acceptablePause", { suspicion: { acceptablePause: "x" } }, "TypeError"],
  [
    "suspicion.firstHeartbeatEstimate",
    { suspicion: { firstHeartbeatEstimate: Infinity } },
    "RangeError",
  ],
  ["suspicion.bogus", { suspicion: any({ bogus: 1 }) }, "TypeError"],
  ["pingEnforcement", { pingEnforcement: any({}) }, "TypeError"],
  [
    "pingEnforcement.minInterval",
    { pingEnforcement: { minInterval: 50 } },
    "RangeError",
    /from 100 ms/,
  ],
  [
    "pingEnforcement.maxStrikes",
    { pingEnforcement: { minInterval: "1s", maxStrikes: 256 } },
    "RangeError",
    /from 0 to 255/,
  ],
  [
    "pingEnforcement.maxStrikes",
    { pingEnforcement: { minInterval: "1s", maxStrikes: -1 } },
    "RangeError",
    /from 0 to 255/,
  ],
  [
    "pingEnforcement.maxStrikes",
    { pingEnforcement: { minInterval: "1s", maxStrikes: 1.5 } },
    "RangeError",
  ],
  ["clock", { clock: any(5) }, "TypeError", /now\(\), setTimeout\(\) and clearTimeout\(\)/],
  ["clock", { clock: any({ now() {}, setTimeout() {} }) }, "TypeError"],
  ["random", { random: any(5) }, "TypeError"],
  ["keepalive.count", { keepalive: "30s:5s:200" }, "RangeError", /1 to 127/],
];
for (const name of ["idle", "writerIdle", "allIdle", "idleTimeout", "maxIdle", "maxAge"] as const) {
  const range = /from 100 ms \(the resolution\) to 2147483647 ms/;
  MONITOR_CASES.push(
    [name, { [name]: 50 }, "RangeError", range],
    [name, { [name]: 0 }, "RangeError", range],
    [name, { [name]: 2 ** 31 }, "RangeError", range],
    [name, { [name]: -1 }, "RangeError"],
    [name, { [name]: NaN }, "RangeError"],
    [name, { [name]: Infinity }, "RangeError"],
    [name, { [name]: "1x" }, "TypeError"],
    [name, { [name]: any(true) }, "TypeError"],
  );
}
for (const name of ["onTransition", "onEnd", "onIdle", "onDrain", "onTooManyPings", "onError"]) {
  MONITOR_CASES.push([name, any({ [name]: "x" }), "TypeError", /must be a function/]);
}

test("new LivenessMonitor: every option, and a failed construction leaves no timer", () => {
  for (const [name, options, kind, range] of MONITOR_CASES) {
    const clock = new ManualClock();
    const withClock = name === "clock" || name === "options" ? options : { clock, ...options };
    rejects(() => new LivenessMonitor(withClock), kind, name, range);
    assert.equal(clock.pending, 0, `${name}: no timer left behind`);
  }
});

test("track: a bad driver tracks nothing; a closed monitor tracks nothing", () => {
  const clock = new ManualClock();
  const monitor = new LivenessMonitor<string>({ clock, idleTimeout: "1s" });
  for (const driver of [{}, null, 5, { destroy: 5 }, "x"]) {
    rejects(() => monitor.track("a", any(driver)), "TypeError", "driver", /destroy\(\)/);
  }
  assert.equal(monitor.size, 0);
  assert.equal(monitor.stats().tracked, 0);
  assert.equal(clock.pending, 0, "no timer for what was not tracked");
  const id = monitor.track("b", { destroy() {} });
  assert.equal(id & 0xffffff, 0, "the first slot: none was consumed by the failures");
  monitor.close();
  assert.throws(() => monitor.track("c"), { name: "Error", message: /the monitor is closed/ });
  assert.equal(clock.pending, 0);
});

test("inputs ignore ids that are stale, negative, huge or another monitor's", () => {
  const seen: string[] = [];
  const monitor = new LivenessMonitor<string>({
    onTransition: (t) => seen.push(`${t.context}:${t.to}`),
  });
  const other = new LivenessMonitor<string>();
  const live = monitor.track("live");
  const stale = monitor.track("stale");
  monitor.closed(stale);
  const foreign = other.track("foreign");
  other.track("foreign 2");
  for (const id of [stale, -1, 2 ** 40, foreign + 5, 0x7fffffff]) {
    monitor.received(id);
    monitor.sent(id);
    monitor.acked(id);
    monitor.beat(id);
    monitor.pinged(id);
    monitor.ended(id);
    monitor.failed(id, new Error("late"));
    monitor.closed(id);
    assert.equal(monitor.state(id), undefined);
    assert.equal(monitor.info(id), undefined);
  }
  assert.deepEqual(seen, ["stale:closed"]);
  assert.equal(monitor.size, 1);
  assert.equal(monitor.state(live), "open");
  monitor.close();
  other.close();
});

test("inputs ignore ids no track() returned: 0, NaN, undefined, strings, fractions", () => {
  const seen: string[] = [];
  const destroyed: unknown[] = [];
  const monitor = new LivenessMonitor<string>({
    onTransition: (t) => seen.push(`${t.id}:${t.to}`),
  });
  for (const id of [0, NaN, undefined, null, "1", 0.5, {}]) {
    monitor.failed(any(id), new Error("junk"));
    monitor.closed(any(id));
  }
  assert.deepEqual(seen, []);
  assert.equal(monitor.size, 0);
  const id = monitor.track("a", { destroy: (c) => void destroyed.push(c) });
  monitor.close();
  monitor.failed(0, new Error("after close"));
  assert.deepEqual(destroyed, [], "no destroy(undefined) after close");
  assert.equal(monitor.state(id), undefined);
});

test("ManualClock: time cannot go backwards or become NaN", () => {
  const clock = new ManualClock(10);
  rejects(() => clock.advance(-5), "RangeError", "ms");
  rejects(() => clock.advance(NaN), "RangeError", "ms");
  assert.equal(clock.now(), 10);
  rejects(() => new ManualClock(NaN), "RangeError", "start");
  rejects(() => clock.setTimeout(any("x"), 1), "TypeError", "callback");
});

test("phi and phiCrossing: NaN, infinite or non-positive parameters", () => {
  rejects(() => phi(NaN, 1000, 100), "RangeError", "elapsed");
  rejects(() => phi(1000, 1000, 0), "RangeError", "stdDeviation");
  // A NaN once made the bisection loop for ever.
  rejects(() => phiCrossing(8, NaN, 100), "RangeError", "mean");
  rejects(() => phiCrossing(0, 1000, 100), "RangeError", "threshold");
  rejects(() => phiCrossing(8, 1000, Infinity), "RangeError", "stdDeviation");
});

test("formatDuration and tuneKeepalive: arguments of the wrong type", () => {
  rejects(() => formatDuration(any("x")), "TypeError", "ms");
  rejects(() => tuneKeepalive(any(null), {}), "TypeError", "settings");
  rejects(() => tuneKeepalive(resolveKeepalive("on"), any(null)), "TypeError", "target");
});

test("the other core functions: decodeTcpInfo, tcpInfoSupported, toPrometheus, metricsHandler", () => {
  rejects(() => decodeTcpInfo(any([1, 2])), "TypeError", "bytes");
  rejects(() => decodeTcpInfo(new Uint8Array(3)), "RangeError", "bytes", /at least 104 bytes/);
  rejects(() => decodeTcpInfo(new Uint8Array(104), any(5)), "TypeError", "options");
  rejects(
    () => decodeTcpInfo(new Uint8Array(104), any({ littleEndian: 1 })),
    "TypeError",
    "littleEndian",
  );
  rejects(() => tcpInfoSupported(any(5)), "TypeError", "platform");
  rejects(() => toPrometheus(any(null)), "TypeError", "stats");
  rejects(() => toPrometheus(any({ states: 5 })), "TypeError", "stats.states");
  rejects(() => metricsHandler(any(5)), "TypeError", "source");
  rejects(() => metricsHandler(() => any({}), any({ prefix: 5 })), "TypeError", "prefix");
  rejects(() => metricsHandler(() => any({}), { prefix: "1bad" }), "RangeError", "prefix");
  // classifyError takes anything a runtime may throw, and never throws itself.
  for (const value of [undefined, null, 5, "x", {}, [], { code: 5 }, { cause: { cause: {} } }]) {
    assert.equal(classifyError(value, any(5)), "error");
  }
});

// ---- adapters ---------------------------------------------------------------------------------

test("node adapter: not a socket, not a server, bad options, refused ports: nothing tracked", {
  skip: onlyOn("node"),
}, () => {
  const monitor = new LivenessMonitor<Socket>();
  for (const value of [{}, null, new EventEmitter(), new Duplex(), { on() {}, destroy() {} }]) {
    rejects(() => node.watchSocket(monitor, any(value)), "TypeError", "socket", /net\.Socket/);
    rejects(() => node.tuningReport(any(value)), "TypeError", "socket");
    rejects(() => node.connectionId(any(value)), "TypeError", "socket");
    rejects(() => node.connectionState(any(value)), "TypeError", "socket");
  }
  for (const value of [{}, null, new EventEmitter(), new Socket()]) {
    rejects(() => node.watchServer(monitor, any(value)), "TypeError", "server", /net\.Server/);
  }
  for (const value of [null, 5, "x", {}, { keepalive: {} }, { track: 5, keepalive: {} }]) {
    rejects(() => node.watchSocket(any(value), new Socket()), "TypeError", "monitor");
    rejects(() => node.watchServer(any(value), new Server()), "TypeError", "monitor");
  }
  const server = new Server();
  for (const options of [[], 5, "x", null]) {
    rejects(() => node.watchServer(monitor, server, any(options)), "TypeError", "options");
  }
  rejects(() => node.watchServer(monitor, server, any({ ffi: 1 })), "TypeError", "ffi", /boolean/);
  rejects(() => node.watchServer(monitor, server, any({ fii: false })), "TypeError", "fii");
  assert.equal(server.listenerCount("connection"), 0, "a refused watchServer adds no listener");
  rejects(
    () => node.connect(monitor, any({ port: 1, host: "127.0.0.1", ffi: "x" })),
    "TypeError",
    "ffi",
  );
  rejects(() => node.connect(monitor, any(null)), "TypeError", "options");
  // Ports the OS cannot have: Node refuses them before a socket exists, and nothing is tracked.
  for (const port of [-1, 65_536, NaN, 1.5]) {
    assert.throws(() => node.connect(monitor, { port, host: "127.0.0.1" }), RangeError);
  }
  assert.equal(monitor.size, 0);
  assert.equal(monitor.stats().tracked, 0);
  // A closed monitor: a TypeError, and the socket gets no listener of the adapter's.
  const closed = new LivenessMonitor<Socket>();
  closed.close();
  const socket = new Socket();
  rejects(() => node.watchSocket(closed, socket), "TypeError", "monitor", /got a closed one$/);
  rejects(() => node.watchServer(closed, server), "TypeError", "monitor", /got a closed one$/);
  rejects(() => node.connect(closed, { port: 1 }), "TypeError", "monitor", /got a closed one$/);
  assert.equal(server.listenerCount("connection"), 0);
  assert.equal(socket.listenerCount("close"), 0);
  assert.equal(node.connectionId(socket), undefined);
  socket.destroy();
  monitor.close();
});

interface DenoStubs {
  listen: unknown;
  connect: unknown;
}

/** Runs `fn` with Deno.listen and Deno.connect replaced by stubs that record and refuse. */
async function withoutNetwork(fn: (calls: unknown[]) => Promise<void> | void): Promise<void> {
  const api = (globalThis as unknown as { Deno: DenoStubs }).Deno;
  const saved = { listen: api.listen, connect: api.connect };
  const calls: unknown[] = [];
  api.listen = (options: unknown) => {
    calls.push(["listen", options]);
    throw new Error("stub: no listener in this test");
  };
  api.connect = (options: unknown) => {
    calls.push(["connect", options]);
    return Promise.reject(new Error("stub: no connection in this test"));
  };
  try {
    await fn(calls);
  } finally {
    Object.assign(api, saved);
  }
}

const fakeConn = (): deno.DenoTcpConn => ({
  read: () => Promise.resolve(null),
  write: () => Promise.resolve(0),
  close() {},
  closeWrite: () => Promise.resolve(),
  setNoDelay() {},
  setKeepAlive() {},
  ref() {},
  unref() {},
  localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 2 },
});

test("deno adapter: not a conn, bad options: refused before Deno.listen or Deno.connect", {
  skip: onlyOn("deno"),
}, async () => {
  await withoutNetwork(async (calls) => {
    const monitor = new LivenessMonitor<deno.WatchedConn>();
    for (const value of [{}, null, 5, { read() {} }]) {
      rejects(() => deno.watchConn(monitor, any(value)), "TypeError", "conn", /Deno\.TcpConn/);
      rejects(() => deno.connectionId(any(value)), "TypeError", "conn", /Deno\.TcpConn/);
      rejects(() => deno.tuningReport(any(value)), "TypeError", "conn");
      rejects(() => deno.connectionState(any(value)), "TypeError", "conn");
    }
    for (const value of [null, {}, { track() {} }]) {
      rejects(() => deno.watchConn(any(value), fakeConn()), "TypeError", "monitor");
      rejects(() => deno.listen(any(value), { port: 0 }), "TypeError", "monitor");
      await assert.rejects(deno.connect(any(value), { port: 1 }), { name: "TypeError" });
    }
    for (const options of [null, 5, "x"]) {
      rejects(() => deno.watchConn(monitor, fakeConn(), any(options)), "TypeError", "options");
      rejects(() => deno.listen(monitor, any(options)), "TypeError", "options");
      await assert.rejects(deno.connect(monitor, any(options)), /"options"/);
    }
    rejects(
      () => deno.watchConn(monitor, fakeConn(), any({ ffi: 1 })),
      "TypeError",
      "ffi",
      /boolean/,
    );
    rejects(() => deno.listen(monitor, any({ port: 0, ffi: "yes" })), "TypeError", "ffi");
    await assert.rejects(deno.connect(monitor, any({ port: 1, ffi: "yes" })), /"ffi"/);
    assert.deepEqual(calls, [], "Deno.listen and Deno.connect were never reached");
    assert.equal(monitor.size, 0);
    // A closed monitor: refused before anything is tracked, listened on or connected.
    monitor.close();
    const closed = /^Argument "monitor" must be an open LivenessMonitor, got a closed one$/;
    rejects(
      () => deno.watchConn(monitor, fakeConn(), { ffi: false }),
      "TypeError",
      "monitor",
      closed,
    );
    rejects(() => deno.listen(monitor, { port: 0 }), "TypeError", "monitor", closed);
    await assert.rejects(deno.connect(monitor, { port: 1 }), {
      name: "TypeError",
      message: closed,
    });
    assert.deepEqual(calls, []);
  });
});

test("deno adapter: arrays and unknown option names are refused like the other adapters do", {
  skip: onlyOn("deno"),
}, async () => {
  await withoutNetwork((calls) => {
    const monitor = new LivenessMonitor<deno.WatchedConn>();
    rejects(() => deno.listen(monitor, any([])), "TypeError", "options");
    rejects(
      () => deno.listen(monitor, any({ hostnme: "127.0.0.1", port: 0 })),
      "TypeError",
      "hostnme",
    );
    rejects(() => deno.watchConn(monitor, fakeConn(), any({ fii: false })), "TypeError", "fii");
    assert.deepEqual(calls, []);
    monitor.close();
  });
});

test(
  "bun adapter: bad monitor, handler, hooks and options; not a socket",
  { skip: onlyOn("bun") },
  () => {
    const monitor = new LivenessMonitor<bun.BunSocket>();
    for (const value of [null, {}, 5, { track() {} }]) {
      rejects(() => bun.liveness(any(value), {}), "TypeError", "monitor");
    }
    for (const value of [null, 5, "x", []]) {
      rejects(() => bun.liveness(monitor, any(value)), "TypeError", "handler");
    }
    for (
      const hook of [
        "open",
        "data",
        "drain",
        "end",
        "close",
        "error",
        "connectError",
        "timeout",
        "handshake",
      ]
    ) {
      rejects(
        () => bun.liveness(monitor, any({ [hook]: 5 })),
        "TypeError",
        `handler.${hook}`,
        /function/,
      );
    }
    for (const options of [null, 5, "x", []]) {
      rejects(() => bun.liveness(monitor, {}, any(options)), "TypeError", "options");
    }
    rejects(() => bun.liveness(monitor, {}, any({ ffi: 1 })), "TypeError", "ffi", /boolean/);
    rejects(() => bun.liveness(monitor, {}, any({ fii: true })), "TypeError", "fii");
    for (const value of [{}, null, 5, { data: 1 }]) {
      rejects(() => bun.tuningReport(any(value)), "TypeError", "socket", /Bun socket/);
      rejects(() => bun.connectionId(any(value)), "TypeError", "socket");
      rejects(() => bun.connectionState(any(value)), "TypeError", "socket");
    }
    assert.equal(monitor.size, 0);
    monitor.close();
    rejects(() => bun.watchHandler(monitor, {}), "TypeError", "monitor", /got a closed one$/);
  },
);

test("every adapter refuses to run in another runtime, naming the right one", () => {
  const monitor = new LivenessMonitor();
  // The Node adapter runs on Deno's and Bun's node:net too (tests/node_adapter_test.ts).
  if (runtime !== "deno") {
    assert.throws(() => deno.watchConn(any(monitor), fakeConn()), /only on Deno/);
    assert.throws(() => deno.listen(any(monitor), { port: 0 }), /only on Deno/);
  }
  if (runtime !== "bun") assert.throws(() => bun.liveness(any(monitor), {}), /only on Bun/);
  assert.equal(monitor.size, 0);
  monitor.close();
});
