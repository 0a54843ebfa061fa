// The monitor under callbacks that call back into it, drivers by the thousand, durations at the
// edge of what the scheduler holds, and slots reused until their ids run out. Each test is one of
// the failures a misuse battery found, reduced to its steps.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type ConnectionId,
  type Driver,
  LivenessMonitor,
  ManualClock,
  type MonitorOptions,
} from "../mod.ts";

/** The invariants that must hold after any step, whatever the callbacks did. */
function checkInvariants<C>(monitor: LivenessMonitor<C>, live: Iterable<ConnectionId>): void {
  const ids = [...live].filter((id) => {
    const state = monitor.state(id);
    return state !== undefined && state !== "dead" && state !== "closed";
  });
  assert.equal(new Set(ids).size, ids.length, "ids are unique among live connections");
  assert.equal(monitor.size, ids.length, "size is the live count");
  const states = monitor.stats().states;
  const sum = states.open + states.idle + states.probing + states.suspect;
  assert.equal(sum, monitor.size, "stats().states sums to size");
}

function setup<C>(options: MonitorOptions<C>) {
  const clock = new ManualClock();
  const errors: unknown[] = [];
  const monitor = new LivenessMonitor<C>({
    clock,
    resolution: 100,
    onError: (error) => errors.push(error),
    ...options,
  });
  return { clock, monitor, errors };
}

test("closing a suspect connection from onTransition as it wakes frees it once, and ticks end", () => {
  const log: string[] = [];
  let closeOnWake = true;
  const { clock, errors, monitor } = setup<string>({
    suspicion: { firstHeartbeatEstimate: "1s" },
    onTransition: (t) => {
      log.push(`${t.context}: ${t.from} -> ${t.to} (${t.reason})`);
      if (closeOnWake && t.to === "open" && t.reason === "activity") monitor.closed(t.id);
    },
  });
  const a = monitor.track("a");
  clock.advance(5_000);
  assert.equal(monitor.state(a), "suspect");
  monitor.received(a); // suspect -> open, and the callback closes it
  assert.deepEqual(log, [
    "a: open -> suspect (suspected)",
    "a: suspect -> open (activity)",
    "a: open -> closed (local-close)",
  ]);
  assert.equal(monitor.state(a), undefined);
  checkInvariants(monitor, [a]);
  clock.advance(5_000); // a slot put back on the wheel would turn suspect here
  assert.equal(log.length, 3, log.join("\n"));
  checkInvariants(monitor, [a]);
  closeOnWake = false;
  const b = monitor.track("b");
  const c = monitor.track("c");
  assert.notEqual(b, c);
  checkInvariants(monitor, [a, b, c]);
  clock.advance(10_000); // would loop forever on a free list with a cycle
  assert.equal(monitor.state(b), "suspect");
  assert.equal(monitor.state(c), "suspect");
  checkInvariants(monitor, [a, b, c]);
  assert.ok(!log.some((line) => line.includes("closed ->")), log.join("\n"));
  assert.deepEqual(errors, []);
  monitor.close();
});

test("a driver's sample() that closes the connection during failed() ends it once", () => {
  const log: string[] = [];
  const { monitor, errors } = setup<string>({
    onTransition: (t) => log.push(`${t.context}: ${t.from} -> ${t.to} (${t.reason})`),
  });
  const driver: Driver<string> = {
    destroy() {},
    sample: (_context, id) => monitor.closed(id),
  };
  const a = monitor.track("a", driver);
  monitor.failed(a, Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
  assert.deepEqual(log, ["a: open -> closed (local-close)"]);
  checkInvariants(monitor, [a]);
  const b = monitor.track("b");
  const c = monitor.track("c");
  assert.notEqual(b, c);
  monitor.closed(b);
  assert.equal(monitor.state(c), "open", "closing one connection leaves the other alone");
  checkInvariants(monitor, [a, b, c]);
  assert.deepEqual(errors, []);
  monitor.close();
});

test("pings answered inside heartbeat.send keep every connection on the wheel", () => {
  const pings = new Array<number>(50).fill(0);
  const { clock, errors, monitor } = setup<number>({
    heartbeat: {
      interval: "1s",
      timeout: "500ms",
      send: (n, id) => {
        pings[n]++;
        monitor.acked(id);
      },
    },
  });
  const ids: ConnectionId[] = [];
  for (let i = 0; i < 50; i++) {
    ids.push(monitor.track(i));
    clock.advance(37);
  }
  clock.advance(55_000);
  // Answered at once, each pings every 1.1 s (interval + the tick an input may be late by): a
  // slot filed twice on the wheel corrupts its buckets and others stop being visited.
  for (const [n, count] of pings.entries()) assert.ok(count >= 50, `connection ${n}: ${count}`);
  for (const id of ids) assert.equal(monitor.state(id), "open");
  checkInvariants(monitor, ids);
  assert.deepEqual(errors, []);
  monitor.close();
});

test("callbacks that track, close and feed other connections keep every invariant", () => {
  const ids: ConnectionId[] = [];
  let steps = 0;
  const { clock, errors, monitor } = setup<number>({
    idle: "300ms",
    idleTimeout: "2s",
    heartbeat: {
      interval: "500ms",
      timeout: "400ms",
      send: (n, id) => {
        if (n % 3 === 0) monitor.acked(id);
        if (n % 5 === 0) monitor.closed(id);
      },
    },
    onTransition: (t) => {
      steps++;
      if (steps > 100_000) throw new Error("runaway callbacks");
      if (t.to === "idle" && ids.length < 400) ids.push(monitor.track(t.context + 7));
      if (t.to === "dead") monitor.received(ids[t.context % ids.length]);
      if (t.reason === "ack") monitor.failed(t.id, new Error("boom"));
    },
    onIdle: (event) => {
      if (event.context % 4 === 0) monitor.closed(event.id);
    },
  });
  for (let i = 0; i < 20; i++) ids.push(monitor.track(i));
  for (let t = 0; t < 100; t++) {
    clock.advance(100);
    checkInvariants(monitor, ids);
  }
  assert.deepEqual(errors, []);
  monitor.close();
});

test("any number of drivers over a monitor's life, and 100,000 at once", () => {
  const { monitor } = setup<number>({ capacity: 100_000 });
  const destroyed: number[] = [];
  const ids: ConnectionId[] = [];
  for (let i = 0; i < 100_000; i++) {
    ids.push(monitor.track(i, { destroy: (n) => destroyed.push(n) }));
  }
  assert.equal(monitor.size, 100_000);
  // Each connection's own driver closes it: the first 254 share the table, the rest their slot.
  for (const i of [0, 253, 254, 255, 99_999]) {
    monitor.failed(ids[i], Object.assign(new Error("reset"), { code: "ECONNRESET" }));
  }
  assert.deepEqual(destroyed, [0, 253, 254, 255, 99_999]);
  for (const id of ids) monitor.closed(id);
  // Released: 1,000 more fresh drivers, one after another, each still called.
  for (let i = 0; i < 1_000; i++) {
    let called = false;
    const id = monitor.track(i, { destroy: () => called = true });
    monitor.failed(id, new Error("boom"));
    assert.ok(called);
  }
  assert.equal(monitor.size, 0);
  monitor.close();
});

test("a driver that is not one is refused before anything is tracked", () => {
  const { monitor } = setup<number>({});
  assert.throws(
    () => monitor.track(1, {} as Driver<number>),
    new TypeError(`Argument "driver" must be an object with a destroy() function, got an object`),
  );
  assert.equal(monitor.size, 0);
  assert.equal(monitor.stats().tracked, 0);
  monitor.close();
});

test("durations far beyond 2^31 ticks are kept exactly at a 1 ms resolution", () => {
  const cases: MonitorOptions<string>[] = [
    { maxAge: "24d" },
    { maxAge: 2_147_483_647, maxAgeJitter: 0.5 },
    { suspicion: { firstHeartbeatEstimate: "20d" } },
    { suspicion: { acceptablePause: 2_147_483_647 } },
  ];
  for (const options of cases) {
    const log: string[] = [];
    const { clock, monitor } = setup<string>({
      ...options,
      resolution: 1,
      random: () => 0, // the shortest jittered age: maxAge × (1 - jitter)
      onTransition: (t) => log.push(`${t.from} -> ${t.to} (${t.reason}) @${t.at}`),
    });
    monitor.track("a");
    clock.advance(3_000); // every 1 ms tick runs: a wrapped deadline would show at once
    assert.deepEqual(log, [], JSON.stringify(options));
    monitor.close();
  }
});

test("maxAge of 24 days still fires when due", () => {
  const log: string[] = [];
  const { clock, monitor } = setup<string>({
    resolution: 1000,
    maxAge: "24d",
    maxAgeJitter: 0,
    onTransition: (t) => log.push(`${t.from} -> ${t.to} (${t.reason})`),
  });
  monitor.track("a");
  clock.advance(24 * 86_400_000 - 1_000);
  assert.deepEqual(log, []);
  clock.advance(2_000);
  assert.deepEqual(log, ["open -> closed (max-age)"]);
  monitor.close();
});

test("keepaliveProbes() refuses a count that is not a whole number of probes", () => {
  const { monitor } = setup<string>({});
  const id = monitor.track("a");
  monitor.keepaliveProbes(id, 2);
  assert.equal(monitor.state(id), "probing");
  for (const bad of [NaN, undefined, null, -1, 1.5, 256, "1", Infinity]) {
    assert.throws(
      () => monitor.keepaliveProbes(id, bad as number),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message.startsWith(`Argument "probes" must be an integer from 0 to 255, got `),
      String(bad),
    );
  }
  assert.equal(monitor.state(id), "probing");
  monitor.keepaliveProbes(id, 0);
  assert.equal(monitor.state(id), "open");
  monitor.close();
});

test("a slot is retired before its generation wraps: stale ids never reach a live connection", () => {
  const { monitor } = setup<number>({});
  const first = monitor.track(0);
  monitor.closed(first);
  const seen = new Set<ConnectionId>([first]);
  let last = first;
  // The free list hands the same slot back every time: 65,535 connections spend its ids.
  for (let i = 1; i < 65_535; i++) {
    last = monitor.track(i);
    assert.equal(last % 2 ** 24, first % 2 ** 24);
    monitor.closed(last);
    seen.add(last);
  }
  assert.equal(seen.size, 65_535);
  const live = monitor.track(-1);
  assert.ok(!seen.has(live), "a fresh id, from another slot");
  for (const stale of [first, last]) {
    monitor.closed(stale);
    monitor.failed(stale, new Error("late"));
  }
  assert.equal(monitor.state(live), "open");
  assert.equal(monitor.state(last), undefined);
  assert.equal(monitor.size, 1);
  monitor.close();
});

test("isClosed tells whether close() was called, also from inside a callback", () => {
  const seen: boolean[] = [];
  const { clock, monitor } = setup<string>({
    idle: "1s",
    onTransition: () => {
      seen.push(monitor.isClosed);
      monitor.close();
      seen.push(monitor.isClosed);
    },
  });
  assert.equal(monitor.isClosed, false);
  monitor.track("a");
  clock.advance(2_000);
  assert.deepEqual(seen, [false, true]);
  assert.equal(monitor.isClosed, true);
  assert.throws(() => monitor.track("b"), /the monitor is closed/);
});

test("a tick with many deaths yields to the event loop in slices, all in the same tick", () => {
  const clock = new ManualClock();
  let continuations = 0;
  const counting = {
    now: () => clock.now(),
    setTimeout: (callback: () => void, ms: number) => {
      if (ms === 0) continuations++;
      return clock.setTimeout(callback, ms);
    },
    clearTimeout: (handle: unknown) => clock.clearTimeout(handle),
  };
  const deaths: number[] = [];
  const spin = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* a callback that costs something */ }
  };
  const monitor = new LivenessMonitor<number>({
    clock: counting,
    resolution: 100,
    idleTimeout: "1s",
    onTransition: (t) => {
      if (t.to === "dead") deaths.push(t.at);
    },
  });
  const driver = { destroy: () => spin(0.1) };
  const ids: ConnectionId[] = [];
  for (let i = 0; i < 200; i++) ids.push(monitor.track(i, driver));
  const survivor = monitor.track(-1);
  clock.advance(1_000);
  monitor.received(survivor);
  clock.advance(100); // 200 deaths × 0.1 ms: more than one 1 ms slice
  assert.equal(deaths.length, 200);
  assert.ok(continuations >= 2, `the tick went on in ${continuations} continuations`);
  assert.deepEqual(new Set(deaths), new Set([1_100]), "every verdict in the same tick");
  assert.equal(monitor.size, 1);
  checkInvariants(monitor, [...ids, survivor]);
  clock.advance(1_000);
  assert.equal(deaths.length, 201, "the survivor dies in its own time");
  assert.equal(deaths[200], 2_100);
  monitor.close();
});

test("between the slices of a tick, inputs and track() see a consistent monitor", () => {
  let time = 0;
  let timer: (() => void) | undefined;
  let timerMs = -1;
  const clock = {
    now: () => time,
    setTimeout: (callback: () => void, ms: number) => {
      timer = callback;
      timerMs = ms;
      return 1;
    },
    clearTimeout: () => timer = undefined,
  };
  const fire = () => {
    const callback = timer!;
    timer = undefined;
    callback();
  };
  const log: string[] = [];
  const spin = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* a callback that costs something */ }
  };
  const monitor = new LivenessMonitor<number>({
    clock,
    resolution: 100,
    idleTimeout: "1s",
    onTransition: (t) => log.push(`${t.context} ${t.to}`),
  });
  const ids: ConnectionId[] = [];
  for (let i = 0; i < 100; i++) ids.push(monitor.track(i, { destroy: () => spin(0.2) }));
  for (let t = 100; t <= 1_000; t += 100) {
    time = t;
    fire();
  }
  assert.equal(log.length, 0);
  time = 1_100;
  fire(); // the tick that declares them dead, cut short
  assert.equal(timerMs, 0, "the rest goes on at the next turn of the event loop");
  const before = log.length;
  assert.ok(before > 0 && before < 100, `${before} died in the first slice`);
  monitor.received(ids[99]); // data came in time after all
  monitor.closed(ids[98]);
  const fresh = monitor.track(1_000, { destroy: () => {} });
  checkInvariants(monitor, [...ids, fresh]);
  while (timerMs === 0 && timer !== undefined) fire();
  assert.ok(log.includes("98 closed") && !log.includes("98 dead"));
  assert.ok(!log.includes("99 dead"));
  assert.equal(log.filter((line) => line.endsWith(" dead")).length, 98);
  assert.equal(monitor.state(ids[99]), "open");
  assert.equal(monitor.state(fresh), "open");
  checkInvariants(monitor, [...ids, fresh]);
  monitor.close();
});
