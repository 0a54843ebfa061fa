import { test } from "node:test";
import assert from "node:assert/strict";
import { detectionBound, LivenessMonitor, ManualClock } from "../mod.ts";

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

test("detectionBound: keepalive settings left unset are the system's", () => {
  const system = { idleMs: 60_000, intervalMs: 10_000, count: 5, retransmitGiveUpMs: 30_000 };
  const on = detectionBound({ keepalive: "on", system });
  assert.equal(on.keepaliveMs, 110_000);
  assert.equal(on.idleMs, 110_000);
  assert.equal(on.busyMs, 30_000);
  assert.equal(on.busyBy, "retransmission");
  assert.equal(detectionBound({ keepalive: "20s::", system }).idleMs, 20_000 + 10_000 * 5);
  assert.equal(detectionBound({ keepalive: "::2", system }).idleMs, 60_000 + 10_000 * 2);
  // 60 s idle, then probes every 10 s: the first probe at or after 100 s is the fourth.
  const capped = detectionBound({ keepalive: { userTimeout: "100s" }, system });
  assert.equal(capped.idleMs, 100_000);
  assert.equal(capped.busyMs, 101_000);
  // Linux: 7200 s idle, then 9 probes 75 s apart; 15 retransmissions take about 924.6 s.
  const linux = detectionBound();
  assert.equal(linux.keepaliveMs, 7_875_000);
  assert.equal(linux.busyMs, 924_600);
});

test("detectionBound: a user timeout that falls on a probe gives up at that probe", () => {
  // 10 s idle, probes at 14 s and 18 s: a user timeout of 18 s ends at the second.
  const bound = detectionBound({ keepalive: { idle: "10s", interval: "4s", userTimeout: "18s" } });
  assert.equal(bound.idleMs, 18_000);
  assert.equal(bound.busyMs, 19_000);
});

test("detectionBound: a user timeout of 0 leaves the probe count and the retransmissions in charge", () => {
  const bound = detectionBound({
    keepalive: { idle: "2s", interval: "1s", count: 3, userTimeout: 0 },
  });
  assert.equal(bound.idleMs, 5_000);
  assert.equal(bound.busyMs, 924_600);
  assert.equal(bound.busyBy, "retransmission");
  assert.match(bound.warnings.at(-1)!, /^no user timeout: /);
});

test("detectionBound: the soonest detector gives each bound, and keepalive's own is kept", () => {
  const heartbeat = { interval: "1s", timeout: "1s" };
  const both = detectionBound({ keepalive: "2s:1s:3", heartbeat, resolution: 100 });
  assert.deepEqual(
    [both.idleMs, both.idleBy, both.busyMs, both.busyBy, both.keepaliveMs],
    [2_300, "heartbeat", 2_300, "heartbeat", 5_000],
  );
  // A 1 s user timeout gives up at the first probe (3 s) and, with data in flight, within 2 s.
  const quick = detectionBound({
    keepalive: { idle: "2s", interval: "1s", count: 3, userTimeout: "1s" },
    heartbeat,
    resolution: 100,
  });
  assert.deepEqual(
    [quick.idleMs, quick.idleBy, quick.busyMs, quick.busyBy, quick.keepaliveMs],
    [2_300, "heartbeat", 2_000, "user-timeout", 3_000],
  );
  const idle = detectionBound({ keepalive: "2s:1s:3", idleTimeout: "10s" });
  assert.deepEqual([idle.idleMs, idle.idleBy], [5_000, "keepalive"]);
  const slow = detectionBound({ keepalive: "60s:10s:5", idleTimeout: "10s" });
  assert.deepEqual([slow.idleMs, slow.idleBy, slow.keepaliveMs], [10_200, "idle-timeout", 110_000]);
});

test("detectionBound: heartbeat and idle timeout round each duration up to whole ticks", () => {
  // 1050 ms is 11 ticks of 100 ms, 501 ms is 6: (11 + 6 + 3) × 100.
  const uneven = { interval: 1_050, timeout: 501 };
  assert.equal(detectionBound({ keepalive: "off", heartbeat: uneven }).idleMs, 2_000);
  // 1 s is 4 ticks of 250 ms: (4 + 4 + 3) × 250.
  const whole = { interval: "1s", timeout: "1s" };
  assert.equal(
    detectionBound({ keepalive: "off", heartbeat: whole, resolution: 250 }).idleMs,
    2_750,
  );
  // 10010 ms is 101 ticks of 100 ms: (101 + 2) × 100; 1 s is 20 ticks of 50 ms: (20 + 2) × 50.
  assert.equal(detectionBound({ keepalive: "off", idleTimeout: 10_010 }).idleMs, 10_300);
  assert.equal(
    detectionBound({ keepalive: "off", idleTimeout: "1s", resolution: "50ms" }).idleMs,
    1_100,
  );
});

test("detectionBound: with keepalive off and nothing else, nothing bounds a quiet connection", () => {
  const bound = detectionBound({ keepalive: "off" });
  assert.equal(bound.idleMs, Infinity);
  assert.equal(bound.keepaliveMs, Infinity);
  assert.equal(bound.busyMs, 924_600);
});

test("detectionBound: what rounding changed in the keepalive settings comes first among the warnings", () => {
  const rounded = detectionBound({
    keepalive: { idle: 1_500, interval: "2s", count: 3, userTimeout: "3s" },
  });
  assert.deepEqual([...rounded.warnings], [
    "keepalive.idle 1.5 s rounds up to 2 s: the kernel counts whole seconds",
  ]);
  // 2 s idle (as rounded), probes every 2 s: the first at or after the 3 s user timeout is at 4 s.
  assert.equal(rounded.idleMs, 4_000);
  const unsafe = detectionBound({ keepalive: { idle: 1_500, interval: "2s", count: 3 } });
  assert.equal(unsafe.warnings.length, 2);
  assert.match(unsafe.warnings[0], /^keepalive\.idle 1\.5 s rounds up to 2 s/);
  assert.match(unsafe.warnings[1], /^no user timeout: /);
});

test("detectionBound: a heartbeat answers the system idle and missing user timeout warnings", () => {
  assert.equal(detectionBound().warnings.length, 2);
  const bound = detectionBound({ keepalive: "on", heartbeat: { interval: "30s", timeout: "10s" } });
  assert.deepEqual([...bound.warnings], []);
});

test("detectionBound: an idle timeout answers the system idle warning, not the user timeout's", () => {
  const bound = detectionBound({ keepalive: "on", idleTimeout: "10s" });
  assert.equal(bound.idleMs, 10_200);
  assert.deepEqual([...bound.warnings], [
    "no user timeout: a peer that vanishes while data is in flight is noticed only after the kernel's retransmissions (924.6 s); set keepalive.userTimeout",
  ]);
});

test("detectionBound: the budget is kept by a keepalive idle or a heartbeat interval below it", () => {
  const budget = "350s";
  const within = detectionBound({ keepalive: { idle: "349s", userTimeout: "30s" }, budget });
  assert.deepEqual([...within.warnings], []);
  const at = detectionBound({ keepalive: { idle: "350s", userTimeout: "30s" }, budget });
  assert.deepEqual([...at.warnings], [
    "keepalive idle 350 s equals the 350 s budget: the middlebox will drop this flow before the first probe",
  ]);
  const pinged = detectionBound({
    keepalive: { idle: "600s", userTimeout: "30s" },
    heartbeat: { interval: "300s", timeout: "10s" },
    budget,
  });
  assert.deepEqual([...pinged.warnings], []);
  const late = detectionBound({
    keepalive: "off",
    heartbeat: { interval: "350s", timeout: "10s" },
    budget,
  });
  assert.deepEqual([...late.warnings], [
    "keepalive is off and no heartbeat comes within the 350 s budget: the middlebox will drop a quiet flow",
  ]);
});

test("detectionBound: a heartbeat's jitter lengthens its longest interval as the monitor does", () => {
  const heartbeat = { interval: "1s", timeout: "1s" };
  const plain = detectionBound({ keepalive: "off", heartbeat, resolution: 100 });
  assert.equal(plain.idleMs, 2_300); // 10 + 10 ticks, and three of slack
  const jittered = detectionBound({
    keepalive: "off",
    heartbeat: { ...heartbeat, jitter: 0.25 },
    resolution: 100,
  });
  assert.equal(jittered.idleMs, 2_600); // the longest interval is 12.5 ticks, so 13
  assert.equal(jittered.idleBy, "heartbeat");
  // A monitor's own bound agrees with the options it was given.
  const monitor = new LivenessMonitor({
    heartbeat: { ...heartbeat, jitter: 0.25, send: () => {} },
    keepalive: "off",
    resolution: 100,
  });
  assert.equal(monitor.bound().idleMs, 2_600);
  monitor.close();
  // Still above the budget: the jitter can stretch an interval past it.
  const late = detectionBound({
    keepalive: "off",
    heartbeat: { interval: "300s", timeout: "10s", jitter: 0.2 },
    budget: "350s",
  });
  assert.match(late.warnings[0], /no heartbeat comes within the 350 s budget/);
});

test("detectionBound: a heartbeat whose when can hold pings back bounds nothing", () => {
  const when = () => false;
  const heartbeat = { interval: "1s", timeout: "1s", when };
  const bound = detectionBound({ keepalive: "2s:1s:3", heartbeat, resolution: 100 });
  assert.equal(bound.idleMs, 5_000);
  assert.equal(bound.idleBy, "keepalive");
  assert.equal(bound.busyBy, "retransmission");
  assert.ok(
    bound.warnings.includes(
      "heartbeat.when can hold pings back: the heartbeat bounds detection only while it lets them go, so the bounds leave it out",
    ),
  );
  // Nothing else bounds a quiet connection: said so.
  const alone = detectionBound({ keepalive: "off", heartbeat });
  assert.equal(alone.idleMs, Infinity);
  assert.ok(alone.warnings.some((w) => w.startsWith("keepalive is off and no heartbeat")));
  // The monitor's bound and policy say the same, and a `when` that holds pings does hold them.
  const clock = new ManualClock();
  const pinged: number[] = [];
  const monitor = new LivenessMonitor<string>({
    clock,
    resolution: 100,
    keepalive: "2s:1s:3",
    heartbeat: { interval: 1_000, timeout: 1_000, send: (_c, id) => pinged.push(id), when },
  });
  assert.equal(monitor.policy.heartbeat?.when, when);
  assert.equal(monitor.bound().idleBy, "keepalive");
  const id = monitor.track("a");
  clock.advance(10_000);
  assert.deepEqual([pinged.length, monitor.state(id)], [0, "open"]);
  monitor.close();
});

test("detectionBound returns a frozen result", () => {
  const bound = detectionBound();
  assert.ok(Object.isFrozen(bound));
  assert.ok(Object.isFrozen(bound.warnings));
});

test("detectionBound names the option and the allowed range when it rejects one", () => {
  const heartbeat = { interval: "1s", timeout: "1s" };
  assert.throws(() => detectionBound({ heartbeat: { ...heartbeat, jitter: 0.6 } }), {
    name: "RangeError",
    message: 'Option "heartbeat.jitter" must be a fraction from 0 to 0.5, got number 0.6',
  });
  assert.throws(() => detectionBound({ heartbeat: { ...heartbeat, when: true as never } }), {
    name: "TypeError",
    message: 'Option "heartbeat.when" must be a function, got boolean true',
  });
  const system = { idleMs: 60_000, intervalMs: 10_000, count: 5, retransmitGiveUpMs: 30_000 };
  assert.throws(() => detectionBound({ system: { ...system, count: 0 } }), {
    name: "RangeError",
    message: 'Option "system.count" must be an integer above 0, got 0',
  });
  assert.throws(() => detectionBound({ system: { ...system, count: 2.5 } }), {
    name: "RangeError",
    message: 'Option "system.count" must be an integer above 0, got 2.5',
  });
  assert.throws(() => detectionBound({ system: { ...system, idleMs: "60s" as never } }), {
    name: "TypeError",
    message: 'Option "system.idleMs" must be a finite number above 0, got "60s"',
  });
  assert.throws(() => detectionBound({ system: { ...system, retransmitGiveUpMs: Infinity } }), {
    name: "RangeError",
    message: 'Option "system.retransmitGiveUpMs" must be a finite number above 0, got Infinity',
  });
  assert.throws(() => detectionBound({ system: { ...system, idle: 1 } as never }), {
    name: "TypeError",
    message:
      'Unknown option "system.idle": expected one of idleMs, intervalMs, count, retransmitGiveUpMs',
  });
  assert.throws(
    () =>
      detectionBound({ heartbeat: { interval: "1s", timeout: "1s", intervall: "2s" } as never }),
    {
      name: "TypeError",
      message:
        'Unknown option "heartbeat.intervall": expected one of interval, timeout, send, ackOnData, jitter, when',
    },
  );
  assert.throws(() => detectionBound({ budget: "350" }), {
    name: "TypeError",
    message: 'Option "budget" must be a duration like "30s", "1m30s" or "500ms", got "350"',
  });
  assert.throws(() => detectionBound({ resolution: "fast" }), {
    name: "TypeError",
    message: 'Option "resolution" must be a duration like "30s", "1m30s" or "500ms", got "fast"',
  });
  assert.throws(() => detectionBound(null as never), {
    name: "TypeError",
    message: 'Option "options" must be an object, got null',
  });
});

test("detectionBound refuses what the monitor refuses: a zero resolution, durations under a tick", () => {
  const heartbeat = { interval: "1s", timeout: "1s" };
  assert.throws(() => detectionBound({ keepalive: false, heartbeat, resolution: 0 }), {
    name: "RangeError",
    message: 'Option "resolution" must be from 1 ms to 60000 ms, got 0 ms',
  });
  assert.throws(() => detectionBound({ idleTimeout: 0 }), {
    name: "RangeError",
    message: 'Option "idleTimeout" must be from 100 ms (the resolution) to 2147483647 ms, got 0 ms',
  });
  assert.throws(() => detectionBound({ heartbeat: { interval: "1s", timeout: "50ms" } }), {
    name: "RangeError",
    message:
      'Option "heartbeat.timeout" must be from 100 ms (the resolution) to 2147483647 ms, got 50 ms',
  });
});
