import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveKeepalive } from "../mod.ts";

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
