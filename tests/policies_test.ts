import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type IdleEvent,
  LivenessMonitor,
  ManualClock,
  type MonitorOptions,
  phi,
  phiCrossing,
} from "../mod.ts";

function setup<C = string>(options: MonitorOptions<C> = {}) {
  const clock = new ManualClock();
  const log: string[] = [];
  const monitor = new LivenessMonitor<C>({
    clock,
    resolution: 100,
    ...options,
    onTransition: (t) => {
      log.push(`${String(t.context)}: ${t.from} -> ${t.to} (${t.reason}) @${t.at}`);
      options.onTransition?.(t);
    },
  });
  return { clock, log, monitor };
}

test("reader, writer and all idle fire separately, repeat every period, and re-arm on activity", () => {
  const events: string[] = [];
  const onIdle = (e: IdleEvent<string>) =>
    events.push(`${e.kind}${e.first ? " first" : ""} @${e.at}`);
  const { clock, monitor } = setup({ idle: "1s", writerIdle: "1s", allIdle: "2s", onIdle });
  const id = monitor.track("a");
  clock.advance(500);
  monitor.sent(id); // writing keeps the writer side busy
  clock.advance(2_600); // now 3100
  assert.deepEqual(
    events,
    [
      "reader first @1100",
      "writer first @1600",
      "reader @2100",
      "writer @2600",
      "all first @2600", // quiet since 500: 500 + 2000 + one tick
      "reader @3100",
    ],
  );
  events.length = 0;
  monitor.received(id); // activity re-arms reader and all, not writer
  clock.advance(1_100); // now 4200
  assert.deepEqual(events, ["writer @3600", "reader first @4200"]);
  monitor.close();
});

test("a throwing onIdle is reported and idle events go on", () => {
  const errors: string[] = [];
  let calls = 0;
  const { clock, monitor } = setup({
    idle: "1s",
    onIdle: () => {
      calls++;
      throw new Error("idle broke");
    },
    onError: (e, where) => errors.push(`${where}: ${(e as Error).message}`),
  });
  monitor.track("a");
  clock.advance(3_100);
  assert.equal(calls, 3);
  assert.deepEqual(errors, ["onIdle: idle broke", "onIdle: idle broke", "onIdle: idle broke"]);
  monitor.close();
});

test("max idle asks to drain, then closes after the grace period, through the driver", () => {
  const drains: string[] = [];
  const destroyed: string[] = [];
  const { clock, log, monitor } = setup({
    maxIdle: "2s",
    grace: "1s",
    onDrain: (c, _id, reason) => drains.push(`${c} ${reason}`),
  });
  const driver = { destroy: (c: string, reason: string) => destroyed.push(`${c} ${reason}`) };
  const quiet = monitor.track("quiet", driver);
  const busy = monitor.track("busy", driver);
  for (let i = 0; i < 40; i++) {
    clock.advance(100);
    monitor.sent(busy);
  }
  assert.deepEqual(drains, ["quiet max-idle"]);
  assert.equal(monitor.info(quiet), undefined);
  assert.deepEqual(log, ["quiet: open -> closed (max-idle) @3100"]);
  assert.deepEqual(destroyed, ["quiet max-idle"]);
  assert.equal(monitor.state(busy), "open");
  monitor.close();
});

test("a connection closed during its grace period ends as a local close", () => {
  const { clock, log, monitor } = setup({
    maxAge: "1s",
    maxAgeJitter: 0,
    grace: "5s",
    onDrain: (_c, id) => monitor.closed(id),
  });
  monitor.track("a");
  clock.advance(10_000);
  assert.deepEqual(log, ["a: open -> closed (local-close) @1100"]);
  monitor.close();
});

test("max age is spread within ±10% over many connections, and every one is closed", () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const closedAt: number[] = [];
  const { clock, monitor } = setup<number>({
    maxAge: "100s",
    random,
    onTransition: (t) => closedAt.push(t.at),
  });
  for (let i = 0; i < 2_000; i++) monitor.track(i);
  clock.advance(120_000);
  assert.equal(closedAt.length, 2_000);
  const min = Math.min(...closedAt);
  const max = Math.max(...closedAt);
  assert.ok(min >= 90_000, `earliest ${min}`);
  assert.ok(max <= 110_100, `latest ${max}`);
  // Spread, not in step: the closes cover most of the ±10% window.
  assert.ok(max - min > 15_000, `spread ${max - min}`);
  const seconds = new Set(closedAt.map((at) => Math.floor(at / 1000)));
  assert.ok(seconds.size > 15, `${seconds.size} distinct seconds`);
  monitor.close();
});

test("heartbeat jitter spreads pings within the fraction; when() can hold a ping back", () => {
  let seed = 7;
  const random = () => ((seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647);
  const pingAt: number[] = [];
  const clock = new ManualClock();
  const monitor = new LivenessMonitor<number>({
    clock,
    resolution: 10,
    random,
    heartbeat: {
      interval: "1s",
      timeout: "10s",
      jitter: 0.2,
      send: () => pingAt.push(clock.now()),
    },
  });
  for (let i = 0; i < 500; i++) monitor.track(i);
  clock.advance(1_500);
  assert.equal(pingAt.length, 500);
  assert.ok(Math.min(...pingAt) >= 800, `${Math.min(...pingAt)}`);
  assert.ok(Math.max(...pingAt) <= 1_210, `${Math.max(...pingAt)}`);
  assert.ok(new Set(pingAt).size > 20);
  monitor.close();

  let calls = false;
  const held = setup({
    heartbeat: { interval: "1s", timeout: "1s", send: () => {}, when: () => calls },
  });
  const id = held.monitor.track("a");
  held.clock.advance(5_000);
  assert.equal(held.monitor.state(id), "open");
  calls = true;
  held.clock.advance(1_100);
  assert.equal(held.monitor.state(id), "probing");
  held.monitor.close();
});

test("φ matches values computed by hand for a known sample", () => {
  // Inter-arrival samples 1000, 1200, 800, 1000 ms: mean 1000, population sd √20000 ≈ 141.42.
  const clock = new ManualClock();
  const monitor = new LivenessMonitor<string>({
    clock,
    resolution: 10,
    suspicion: { threshold: 8, minStdDeviation: 100 },
  });
  const id = monitor.track("a");
  for (const gap of [1000, 1200, 800, 1000]) {
    clock.advance(gap);
    monitor.beat(id);
  }
  const sd = Math.sqrt(20_000);
  const byHand = (elapsed: number) => {
    const y = (elapsed - 1000) / sd;
    const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
    return elapsed > 1000 ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
  };
  for (const elapsed of [0, 500, 1000, 1100, 1300, 1500, 1700]) {
    const value = monitor.phi(id)!;
    assert.ok(
      Math.abs(value - byHand(elapsed)) < 1e-9,
      `φ at ${elapsed}: ${value} vs ${byHand(elapsed)}`,
    );
    clock.advance(
      elapsed === 1700
        ? 0
        : [500, 500, 100, 200, 200, 200][[0, 500, 1000, 1100, 1300, 1500].indexOf(elapsed)],
    );
  }
  monitor.close();
});

test("silence makes a connection suspect, not dead; traffic makes it open again", () => {
  const { clock, log, monitor } = setup({
    resolution: 10,
    suspicion: { threshold: 8, minStdDeviation: 100 },
  });
  const id = monitor.track("a");
  for (let i = 0; i < 10; i++) {
    clock.advance(1_000);
    monitor.beat(id);
  }
  assert.equal(log.length, 0);
  const crossing = phiCrossing(8, 1000, 100);
  clock.advance(Math.floor(crossing) - 20);
  assert.equal(monitor.state(id), "open");
  clock.advance(40);
  assert.equal(monitor.state(id), "suspect");
  assert.ok(monitor.phi(id)! >= 8);
  clock.advance(60_000);
  assert.equal(monitor.state(id), "suspect", "suspicion is reported, never a death");
  monitor.received(id);
  assert.equal(monitor.state(id), "open");
  assert.deepEqual(log.map((line) => line.replace(/ @.*/, "")), [
    "a: open -> suspect (suspected)",
    "a: suspect -> open (activity)",
  ]);
  monitor.close();
});

test("φ keeps a bounded ring of samples", () => {
  const clock = new ManualClock();
  const monitor = new LivenessMonitor<string>({
    clock,
    resolution: 10,
    suspicion: { maxSamples: 4 },
  });
  const id = monitor.track("a");
  for (const gap of [5000, 5000, 5000, 5000, 1000, 1000, 1000, 1000]) {
    clock.advance(gap);
    monitor.beat(id);
  }
  // Only the last four gaps (1000 ms each) count: mean 1000, sd floored at 100.
  assert.ok(Math.abs(monitor.phi(id)! - phi(0, 1000, 100)) < 1e-9);
  clock.advance(1000);
  assert.ok(Math.abs(monitor.phi(id)! - Math.log10(2)) < 1e-9);
  monitor.close();
});

test("ping enforcement: strikes accumulate for early pings and reset when data flows", () => {
  const told: string[] = [];
  const { clock, monitor } = setup({
    pingEnforcement: { minInterval: "5s", maxStrikes: 2 },
    onTooManyPings: (c) => told.push(c),
  });
  const id = monitor.track("a");
  clock.advance(6_000);
  assert.equal(monitor.pinged(id), true); // first ping, after 6 s: fine
  clock.advance(1_000);
  assert.equal(monitor.pinged(id), true); // strike 1
  clock.advance(1_000);
  assert.equal(monitor.pinged(id), true); // strike 2
  clock.advance(1_000);
  assert.equal(monitor.pinged(id), false); // strike 3 > 2
  assert.deepEqual(told, ["a"]);
  clock.advance(500);
  monitor.sent(id); // data flows: strikes reset
  clock.advance(500);
  assert.equal(monitor.pinged(id), true);
  clock.advance(1_000);
  assert.equal(monitor.pinged(id), true);
  clock.advance(6_000);
  assert.equal(monitor.pinged(id), true); // on time: no strike
  assert.deepEqual(told, ["a"]);
  monitor.close();
});

test("stats count states, deaths by reason, detection times and ping round trips", () => {
  const { clock, monitor } = setup({
    heartbeat: { interval: "1s", timeout: "1s", send: (_c, id) => replies.has(id) && void 0 },
  });
  const replies = new Set<number>();
  const a = monitor.track("a");
  const b = monitor.track("b");
  monitor.track("c");
  clock.advance(1_100); // all pinged
  clock.advance(300);
  monitor.acked(a);
  monitor.failed(b, Object.assign(new Error("x"), { code: "ECONNRESET" }));
  let stats = monitor.stats();
  assert.deepEqual(stats.states, { connecting: 0, open: 1, idle: 0, probing: 1, suspect: 0 });
  assert.equal(stats.tracked, 3);
  assert.equal(stats.pings, 3);
  assert.equal(stats.deaths.reset, 1);
  assert.equal(stats.heartbeatRtt.count, 1);
  assert.equal(stats.heartbeatRtt.sum, 300);
  clock.advance(1_000); // c misses its answer
  stats = monitor.stats();
  assert.equal(stats.deaths["heartbeat-timeout"], 1);
  assert.equal(stats.timeToDetect.count, 2);
  // c: last sign of life at 0, dead at 2200; b: last at 0, dead at 1400.
  assert.equal(stats.timeToDetect.sum, 2_200 + 1_400);
  assert.equal(stats.options.heartbeatInterval, 1_000);
  assert.equal(stats.options.keepaliveIdle, null);
  monitor.closed(a);
  assert.equal(monitor.stats().closed, 1);
  assert.deepEqual(monitor.stats().states, {
    connecting: 0,
    open: 0,
    idle: 0,
    probing: 0,
    suspect: 0,
  });
  monitor.close();
});

test("options of the policies are validated", () => {
  const bad: [MonitorOptions<unknown>, string, string][] = [
    [
      { maxAgeJitter: 0.6 },
      "RangeError",
      'Option "maxAgeJitter" must be a fraction from 0 to 0.5, got number 0.6',
    ],
    [
      { heartbeat: { interval: "1s", timeout: "1s", send: () => {}, jitter: -1 } },
      "RangeError",
      'Option "heartbeat.jitter" must be a fraction from 0 to 0.5, got number -1',
    ],
    [
      { suspicion: { threshold: 0 } },
      "RangeError",
      'Option "suspicion.threshold" must be a number above 0 and at most 100, got number 0',
    ],
    [
      { suspicion: { maxSamples: 1 } },
      "RangeError",
      'Option "suspicion.maxSamples" must be an integer from 2 to 10000, got 1',
    ],
    [
      { suspicion: { minStdDeviation: 0 } },
      "RangeError",
      'Option "suspicion.minStdDeviation" must be above 0 ms, got 0 ms',
    ],
    [{ pingEnforcement: {} as never }, "TypeError", 'Option "pingEnforcement" needs "minInterval"'],
    [
      { pingEnforcement: { minInterval: "5s", maxStrikes: -1 } },
      "RangeError",
      'Option "pingEnforcement.maxStrikes" must be an integer from 0 to 255, got -1',
    ],
    [
      { grace: "-1s" },
      "TypeError",
      'Option "grace" must be a duration like "30s", "1m30s" or "500ms", got "-1s"',
    ],
    [
      { maxAge: 10 },
      "RangeError",
      'Option "maxAge" must be from 100 ms (the resolution) to 2147483647 ms, got 10 ms',
    ],
    [{ onIdle: 1 as never }, "TypeError", 'Option "onIdle" must be a function, got number 1'],
    [{ random: "x" as never }, "TypeError", 'Option "random" must be a function, got "x"'],
    [
      { capacity: 0 },
      "RangeError",
      'Option "capacity" must be an integer from 1 to 16777216, got 0',
    ],
  ];
  for (const [options, name, message] of bad) {
    assert.throws(() => new LivenessMonitor(options), { name, message }, message);
  }
});

test("watchKernel: quiet connections are sampled at the keepalive idle time and every interval", () => {
  const sampled: number[] = [];
  const probes = new Map<string, number>([["a", 0]]);
  const refs: { monitor?: LivenessMonitor<string> } = {};
  const { clock, log, monitor } = setup({
    keepalive: "2s:1s:3",
    watchKernel: true,
  });
  refs.monitor = monitor;
  const driver = {
    destroy() {},
    sample(context: string, id: number) {
      sampled.push(clock.now());
      refs.monitor!.keepaliveProbes(id, probes.get(context) ?? 0);
    },
  };
  const id = monitor.track("a", driver);
  clock.advance(2_050);
  assert.deepEqual(sampled, []);
  clock.advance(50); // 2100: quiet for the idle time and a tick
  assert.deepEqual(sampled, [2_100]);
  probes.set("a", 1);
  clock.advance(1_000);
  assert.deepEqual(sampled, [2_100, 3_100]);
  assert.equal(monitor.state(id), "probing");
  probes.set("a", 0);
  clock.advance(1_000);
  assert.equal(monitor.state(id), "open");
  monitor.received(id); // traffic: after the look already planned, the next is an idle time away
  clock.advance(2_150);
  assert.deepEqual(sampled, [2_100, 3_100, 4_100, 5_100, 6_200]);
  assert.deepEqual(log.map((line) => line.replace(/ @.*/, "")), [
    "a: open -> probing (keepalive-probe)",
    "a: probing -> open (ack)",
  ]);
  monitor.keepaliveProbes(id, 2);
  monitor.received(id); // data answers: open again
  assert.equal(monitor.state(id), "open");
  assert.throws(() => new LivenessMonitor({ watchKernel: "yes" as never }), {
    name: "TypeError",
    message: 'Option "watchKernel" must be a boolean, got "yes"',
  });
  monitor.close();
});
