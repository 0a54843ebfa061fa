import { test } from "node:test";
import assert from "node:assert/strict";
import { detectionBound, resolveKeepalive } from "../mod.ts";

test("resolveKeepalive takes an object of durations", () => {
  const settings = resolveKeepalive({ idle: "2s", interval: 1000, count: 3, userTimeout: "3s" });
  assert.deepEqual({
    ...settings,
    adjustments: [...settings.adjustments],
    requested: { ...settings.requested },
  }, {
    enabled: true,
    idleMs: 2000,
    intervalMs: 1000,
    count: 3,
    userTimeoutMs: 3000,
    adjustments: [],
    requested: {},
  });
});

test("resolveKeepalive takes nginx's so_keepalive form, bare numbers in seconds", () => {
  const a = resolveKeepalive("30s:5s:4");
  assert.equal(a.idleMs, 30_000);
  assert.equal(a.intervalMs, 5_000);
  assert.equal(a.count, 4);
  const b = resolveKeepalive("30m::10");
  assert.equal(b.idleMs, 1_800_000);
  assert.equal(b.intervalMs, undefined);
  assert.equal(b.count, 10);
  const c = resolveKeepalive("30:5:4");
  assert.equal(c.idleMs, 30_000);
  assert.equal(c.intervalMs, 5_000);
  const d = resolveKeepalive("::");
  assert.equal(d.enabled, true);
  assert.equal(d.idleMs, undefined);
});

test("resolveKeepalive takes on/off and booleans", () => {
  assert.equal(resolveKeepalive(undefined).enabled, true);
  assert.equal(resolveKeepalive("on").enabled, true);
  assert.equal(resolveKeepalive(true).enabled, true);
  assert.equal(resolveKeepalive("off").enabled, false);
  assert.equal(resolveKeepalive(false).enabled, false);
});

test("resolveKeepalive rounds fractions of a second up, and says so", () => {
  const settings = resolveKeepalive({ idle: 2500, interval: "500ms", userTimeout: 2999.5 });
  assert.equal(settings.idleMs, 3000);
  assert.equal(settings.intervalMs, 1000);
  assert.equal(settings.userTimeoutMs, 3000);
  assert.deepEqual([...settings.adjustments], [
    "keepalive.idle 2.5 s rounds up to 3 s: the kernel counts whole seconds",
    "keepalive.interval 500 ms rounds up to 1 s: the kernel counts whole seconds",
    "keepalive.userTimeout 2999.5 ms rounds up to 3000 ms: the kernel counts whole milliseconds",
  ]);
});

test("a bare number that is almost surely seconds meant as milliseconds is refused", () => {
  // The case: { idle: 30, interval: 5, count: 4, userTimeout: 50 } became 1 s, 1 s, 50 ms.
  assert.throws(() => resolveKeepalive({ idle: 30 }), {
    name: "RangeError",
    message:
      'Option "keepalive.idle" is 30 ms: a bare number is milliseconds, and the kernel counts whole seconds from 1 s; write "30s" for 30 seconds',
  });
  assert.throws(() => resolveKeepalive({ interval: 5 }), {
    name: "RangeError",
    message:
      'Option "keepalive.interval" is 5 ms: a bare number is milliseconds, and the kernel counts whole seconds from 1 s; write "5s" for 5 seconds',
  });
  assert.throws(() => resolveKeepalive({ userTimeout: 50 }), {
    name: "RangeError",
    message:
      'Option "keepalive.userTimeout" is 50 ms: a bare number is milliseconds, and below 200 ms (the kernel\'s minimum retransmission timeout) one lost segment ends the connection; write "50s" for 50 seconds, or "50ms" if you mean it',
  });
  // Said explicitly, it is taken, rounded as the kernel must, and the rounding is reported.
  const explicit = resolveKeepalive({ idle: "500ms", userTimeout: "50ms" });
  assert.equal(explicit.idleMs, 1000);
  assert.equal(explicit.userTimeoutMs, 50);
  assert.deepEqual({ ...explicit.requested }, { idleMs: 500 });
  // nginx's form counts bare numbers in seconds, fractions included.
  assert.equal(resolveKeepalive("0.5:1:3").idleMs, 1000);
  assert.equal(resolveKeepalive("0.5:1:3").requested.idleMs, 500);
  // 0 keeps the system's behaviour for the user timeout; 1000 and up are plainly milliseconds.
  assert.equal(resolveKeepalive({ userTimeout: 0 }).userTimeoutMs, 0);
  assert.equal(resolveKeepalive({ idle: 1000 }).idleMs, 1000);
});

test("the monitor's bound says what rounding changed", async () => {
  const { LivenessMonitor } = await import("../mod.ts");
  const monitor = new LivenessMonitor({ keepalive: { idle: 1500, interval: "2s", count: 3 } });
  assert.deepEqual(monitor.bound().warnings.slice(0, 1), [
    "keepalive.idle 1.5 s rounds up to 2 s: the kernel counts whole seconds",
  ]);
  monitor.close();
});

test("resolveKeepalive enforces the kernel's limits with specific errors", () => {
  assert.throws(() => resolveKeepalive({ idle: 0 }), {
    name: "RangeError",
    message: 'Option "keepalive.idle" must be from 1 s to 32767 s, got 0 ms',
  });
  assert.throws(() => resolveKeepalive({ interval: "32768s" }), {
    name: "RangeError",
    message: 'Option "keepalive.interval" must be from 1 s to 32767 s, got 32768 s',
  });
  assert.throws(() => resolveKeepalive({ count: 0 }), {
    name: "RangeError",
    message: 'Option "keepalive.count" must be an integer from 1 to 127, got 0',
  });
  assert.throws(() => resolveKeepalive({ count: 128 }), { name: "RangeError" });
  assert.throws(() => resolveKeepalive({ count: 2.5 }), { name: "RangeError" });
  assert.throws(() => resolveKeepalive({ count: "3" }), {
    name: "TypeError",
    message: 'Option "keepalive.count" must be an integer from 1 to 127, got "3"',
  });
  assert.throws(() => resolveKeepalive({ userTimeout: 2 ** 31 }), {
    name: "RangeError",
    message: 'Option "keepalive.userTimeout" must be from 0 ms to 2147483647 ms, got 2147483648 ms',
  });
  assert.throws(() => resolveKeepalive({ userTimeout: -1 }), { name: "RangeError" });
  assert.throws(() => resolveKeepalive({ idle: Number.NaN }), { name: "RangeError" });
  assert.throws(() => resolveKeepalive({ idel: "2s" }), {
    name: "TypeError",
    message: 'Unknown option "keepalive.idel": expected one of idle, interval, count, userTimeout',
  });
  assert.throws(() => resolveKeepalive("30s:5s"), {
    name: "TypeError",
    message:
      'Option "keepalive" must be "on", "off" or "idle:interval:count" like "30s:5s:4", got "30s:5s"',
  });
  assert.throws(() => resolveKeepalive("30s:5s:x"), {
    name: "TypeError",
    message: 'Option "keepalive.count" must be an integer from 1 to 127, got "x"',
  });
  assert.throws(() => resolveKeepalive(42), { name: "TypeError" });
  assert.throws(() => resolveKeepalive(null), { name: "TypeError" });
  assert.throws(() => resolveKeepalive([]), { name: "TypeError" });
});

test("detectionBound: keepalive alone is idle + interval x count", () => {
  const bound = detectionBound({ keepalive: "2s:1s:3" });
  assert.equal(bound.idleMs, 5_000);
  assert.equal(bound.idleBy, "keepalive");
  assert.equal(bound.busyBy, "retransmission");
  assert.equal(bound.busyMs, 924_600);
});

test("detectionBound: a user timeout caps keepalive at the first probe at or after it", () => {
  const a = detectionBound({
    keepalive: { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" },
  });
  assert.equal(a.idleMs, 3_000);
  assert.equal(a.busyMs, 4_000); // the user timeout, and up to a second for the kernel's timer
  assert.equal(a.busyBy, "user-timeout");
  // 10 s idle, then probes every 4 s: the first probe timer at or after 15 s is at 18 s.
  const b = detectionBound({
    keepalive: { idle: "10s", interval: "4s", count: 9, userTimeout: "15s" },
  });
  assert.equal(b.idleMs, 18_000);
  // A user timeout shorter than the idle time still needs one probe.
  const c = detectionBound({ keepalive: { idle: "10s", interval: "4s", userTimeout: "1s" } });
  assert.equal(c.idleMs, 14_000);
});

test("detectionBound: a heartbeat bounds both cases, with three ticks of slack", () => {
  const bound = detectionBound({
    keepalive: "off",
    heartbeat: { interval: "1s", timeout: "500ms" },
    resolution: 100,
  });
  assert.equal(bound.idleMs, 1_800);
  assert.equal(bound.idleBy, "heartbeat");
  assert.equal(bound.busyMs, 1_800);
  assert.equal(bound.keepaliveMs, Infinity);
});

test("detectionBound: idle timeout counts for quiet connections only", () => {
  const bound = detectionBound({ keepalive: "off", idleTimeout: "10s", resolution: 50 });
  assert.equal(bound.idleMs, 10_100);
  assert.equal(bound.idleBy, "idle-timeout");
  assert.equal(bound.busyBy, "retransmission");
});

test("detectionBound warns about system defaults and a middlebox budget", () => {
  const bound = detectionBound({ budget: "350s" });
  assert.equal(bound.idleMs, 7_875_000);
  assert.deepEqual([...bound.warnings], [
    "keepalive idle is the system's 7200 s: a cut cable goes unnoticed for 7875 s; set keepalive.idle",
    "no user timeout: a peer that vanishes while data is in flight is noticed only after the kernel's retransmissions (924.6 s); set keepalive.userTimeout",
    "keepalive idle 7200 s exceeds the 350 s budget: the middlebox will drop this flow before the first probe",
  ]);
  const fine = detectionBound({ keepalive: { idle: "60s", userTimeout: "30s" }, budget: "350s" });
  assert.deepEqual([...fine.warnings], []);
  const off = detectionBound({ keepalive: "off" });
  assert.match(off.warnings[0], /^keepalive is off and no heartbeat or idle timeout is set/);
  const pinged = detectionBound({
    keepalive: "off",
    heartbeat: { interval: "30s", timeout: "10s" },
    budget: "350s",
  });
  assert.deepEqual([...pinged.warnings], []);
});

test("detectionBound rejects unknown options", () => {
  assert.throws(() => detectionBound({ keepAlive: "on" } as never), {
    name: "TypeError",
    message:
      'Unknown option "keepAlive": expected one of keepalive, heartbeat, idleTimeout, resolution, budget, system',
  });
});
