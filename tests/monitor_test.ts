import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Clock,
  type ConnectionId,
  type Driver,
  LivenessMonitor,
  ManualClock,
  type MonitorOptions,
  type Transition,
} from "../mod.ts";

/** A monitor on a manual clock that records transitions as "context: from -> to (reason) @ms". */
function setup<C = string>(options: MonitorOptions<C> = {}) {
  const clock = new ManualClock();
  const log: string[] = [];
  const transitions: Transition<C>[] = [];
  const monitor = new LivenessMonitor<C>({
    clock,
    resolution: 100,
    ...options,
    onTransition: (t) => {
      transitions.push(t);
      log.push(`${String(t.context)}: ${t.from} -> ${t.to} (${t.reason}) @${t.at}`);
      options.onTransition?.(t);
    },
  });
  return { clock, log, transitions, monitor };
}

function nodeError(code: string): Error {
  return Object.assign(new Error(`read ${code}`), { code });
}

test("a fresh connection is open; idle is reported one tick after the idle period, never early", () => {
  const { clock, log, monitor } = setup({ idle: "1s" });
  const id = monitor.track("a");
  assert.equal(monitor.state(id), "open");
  clock.advance(1_099);
  assert.deepEqual(log, []);
  clock.advance(1);
  assert.deepEqual(log, ["a: open -> idle (reader-idle) @1100"]);
  assert.equal(monitor.state(id), "idle");
  monitor.close();
});

test("data on an idle connection makes it open at once, and idle re-arms from there", () => {
  const { clock, log, monitor } = setup({ idle: "1s" });
  const id = monitor.track("a");
  clock.advance(1_500);
  monitor.received(id);
  assert.equal(monitor.state(id), "open");
  clock.advance(1_099);
  assert.equal(monitor.state(id), "open");
  clock.advance(100);
  assert.deepEqual(log, [
    "a: open -> idle (reader-idle) @1100",
    "a: idle -> open (activity) @1500",
    "a: open -> idle (reader-idle) @2600",
  ]);
  monitor.close();
});

test("activity keeps a connection open: only received data counts for idle", () => {
  const { clock, log, monitor } = setup({ idle: "1s" });
  const id = monitor.track("a");
  for (let i = 0; i < 30; i++) {
    clock.advance(500);
    monitor.received(id);
  }
  assert.deepEqual(log, []);
  for (let i = 0; i < 12; i++) {
    clock.advance(100);
    monitor.sent(id);
  }
  assert.deepEqual(log, ["a: open -> idle (reader-idle) @16100"]);
  monitor.close();
});

test("heartbeat: ping after the interval, the answer reopens, a missed answer kills at exactly the bound", () => {
  const pings: string[] = [];
  const { clock, log, monitor } = setup({
    heartbeat: { interval: "1s", timeout: "500ms", send: (c, id) => pings.push(`${c}#${id}`) },
  });
  const a = monitor.track("a");
  const b = monitor.track("b");
  clock.advance(1_100);
  assert.deepEqual(pings, [`a#${a}`, `b#${b}`]);
  assert.equal(monitor.state(a), "probing");
  assert.equal(monitor.info(a)?.pingOutstanding, true);
  clock.advance(200);
  monitor.acked(a);
  assert.equal(monitor.state(a), "open");
  assert.equal(monitor.info(a)?.pingOutstanding, false);
  clock.advance(400);
  assert.deepEqual(log, [
    "a: open -> probing (ping-sent) @1100",
    "b: open -> probing (ping-sent) @1100",
    "a: probing -> open (ack) @1300",
    "b: probing -> dead (heartbeat-timeout) @1700",
  ]);
  assert.equal(monitor.state(b), undefined);
  assert.equal(monitor.size, 1);
  // a's next ping comes one interval (plus a tick) after the answer: at 2400.
  clock.advance(699);
  assert.equal(pings.length, 2);
  clock.advance(1);
  assert.deepEqual(pings, [`a#${a}`, `b#${b}`, `a#${a}`]);
  monitor.close();
});

test("heartbeat: any data answers a ping by default, only acked() when ackOnData is false", () => {
  const first = setup({ heartbeat: { interval: "1s", timeout: "1s", send: () => {} } });
  const a = first.monitor.track("a");
  first.clock.advance(1_100);
  first.monitor.received(a);
  assert.equal(first.monitor.state(a), "open");
  first.monitor.close();

  const strict = setup({
    heartbeat: { interval: "1s", timeout: "1s", send: () => {}, ackOnData: false },
  });
  const b = strict.monitor.track("b");
  strict.clock.advance(1_100);
  strict.monitor.received(b);
  assert.equal(strict.monitor.state(b), "probing");
  strict.clock.advance(1_100);
  assert.equal(strict.monitor.state(b), undefined);
  assert.equal(strict.log.at(-1), "b: probing -> dead (heartbeat-timeout) @2200");
  strict.monitor.close();
});

test("heartbeat: received data postpones the ping", () => {
  const pings: string[] = [];
  const { clock, monitor } = setup({
    heartbeat: { interval: "1s", timeout: "1s", send: (c) => pings.push(c) },
  });
  const id = monitor.track("a");
  for (let i = 0; i < 20; i++) {
    clock.advance(900);
    monitor.received(id);
  }
  assert.deepEqual(pings, []);
  monitor.close();
});

test("idle timeout: dead with reason idle-timeout when nothing is sent or received", () => {
  const { clock, log, monitor } = setup({ idleTimeout: "2s" });
  const quiet = monitor.track("quiet");
  const writer = monitor.track("writer");
  for (let i = 0; i < 10; i++) {
    clock.advance(500);
    monitor.sent(writer);
  }
  assert.deepEqual(log, ["quiet: open -> dead (idle-timeout) @2100"]);
  assert.equal(monitor.state(quiet), undefined);
  assert.equal(monitor.state(writer), "open");
  monitor.close();
});

test("errors kill with the classified reason; the error is kept", () => {
  const { log, transitions, monitor } = setup();
  const cases: [string, unknown][] = [
    ["reset", nodeError("ECONNRESET")],
    ["broken-pipe", nodeError("EPIPE")],
    ["unreachable", nodeError("EHOSTUNREACH")],
    ["unreachable", nodeError("ENETUNREACH")],
    ["keepalive-timeout", nodeError("ETIMEDOUT")],
    ["error", new Error("something else")],
  ];
  for (const [, error] of cases) monitor.failed(monitor.track("c"), error);
  assert.deepEqual(
    log.map((line) => line.replace(/ @.*/, "")),
    cases.map(([r]) => `c: open -> dead (${r})`),
  );
  assert.equal(transitions[0].error, cases[0][1]);
  assert.equal(monitor.size, 0);
  monitor.close();
});

test("a timeout with data in flight and a user timeout set is user-timeout", () => {
  const { log, monitor } = setup({ keepalive: { idle: "2s", userTimeout: "3s" } });
  const busy = monitor.track("busy");
  monitor.received(busy);
  monitor.sent(busy);
  monitor.failed(busy, nodeError("ETIMEDOUT"));
  const quiet = monitor.track("quiet");
  monitor.sent(quiet);
  monitor.received(quiet);
  monitor.failed(quiet, nodeError("ETIMEDOUT"));
  assert.deepEqual(log.map((line) => line.replace(/ @.*/, "")), [
    "busy: open -> dead (user-timeout)",
    "quiet: open -> dead (keepalive-timeout)",
  ]);
  monitor.close();
});

test("close is terminal: no second death, inputs afterwards are ignored", () => {
  const { clock, log, monitor } = setup({
    idle: "1s",
    idleTimeout: "2s",
    heartbeat: { interval: "1s", timeout: "1s", send: () => {} },
  });
  const id = monitor.track("a");
  monitor.closed(id);
  monitor.failed(id, nodeError("ECONNRESET"));
  monitor.received(id);
  monitor.acked(id);
  monitor.sent(id);
  monitor.ended(id);
  monitor.closed(id);
  clock.advance(10_000);
  assert.deepEqual(log, ["a: open -> closed (local-close) @0"]);
  assert.equal(monitor.state(id), undefined);
  assert.equal(monitor.info(id), undefined);
  monitor.close();
});

test("dead is terminal in every state: inputs after it change nothing", () => {
  for (const prepare of ["open", "idle", "probing"] as const) {
    const { clock, log, monitor } = setup({
      idle: "1s",
      heartbeat: { interval: "2s", timeout: "1s", send: () => {} },
    });
    const id = monitor.track(prepare);
    if (prepare === "idle") clock.advance(1_100);
    if (prepare === "probing") clock.advance(2_100);
    assert.equal(monitor.state(id), prepare);
    monitor.failed(id, nodeError("ECONNRESET"));
    monitor.failed(id, nodeError("ETIMEDOUT"));
    monitor.received(id);
    monitor.acked(id);
    monitor.closed(id);
    clock.advance(10_000);
    const deaths = log.filter((line) => line.includes("-> dead") || line.includes("-> closed"));
    assert.deepEqual(deaths.map((line) => line.replace(/ @.*/, "")), [
      `${prepare}: ${prepare} -> dead (reset)`,
    ]);
    monitor.close();
  }
});

test("a peer's FIN is not a death: onEnd once, heartbeats stop", () => {
  const ends: string[] = [];
  const pings: string[] = [];
  const { clock, log, monitor } = setup({
    heartbeat: { interval: "1s", timeout: "1s", send: (c) => pings.push(c) },
    onEnd: (c) => ends.push(c),
  });
  const id = monitor.track("a");
  monitor.ended(id);
  monitor.ended(id);
  clock.advance(5_000);
  assert.deepEqual(ends, ["a"]);
  assert.deepEqual(pings, []);
  assert.deepEqual(log, []);
  assert.equal(monitor.info(id)?.ended, true);
  monitor.closed(id);
  // Closed after the peer ended its side: the peer closed it.
  assert.deepEqual(log, ["a: open -> closed (peer-close) @5000"]);
  assert.deepEqual(monitor.stats().closes, {
    "local-close": 0,
    "peer-close": 1,
    "max-idle": 0,
    "max-age": 0,
  });
  monitor.close();
});

test("a close after this side ended first is local, even when the peer's FIN came before it", () => {
  const { log, monitor } = setup();
  const ours = monitor.track("ours");
  const theirs = monitor.track("theirs");
  monitor.endedLocally(ours); // we sent our FIN first...
  monitor.ended(ours); // ...the peer answered with its own
  monitor.closed(ours);
  monitor.ended(theirs); // the peer's FIN first...
  monitor.endedLocally(theirs); // ...we answered with ours
  monitor.closed(theirs);
  assert.deepEqual(log, [
    "ours: open -> closed (local-close) @0",
    "theirs: open -> closed (peer-close) @0",
  ]);
  monitor.close();
});

test("connecting: only the connect timeout runs until connected(), then every deadline counts from there", () => {
  const { clock, log, monitor } = setup({ idleTimeout: "1s", connectTimeout: "5s" });
  const slow = monitor.track("slow", undefined, { connecting: true });
  const hung = monitor.track("hung", undefined, { connecting: true });
  assert.equal(monitor.state(slow), "connecting");
  assert.equal(monitor.state(hung), "connecting");
  assert.deepEqual(monitor.stats().states.connecting, 2);
  clock.advance(3_000); // longer than the idle timeout: nothing, they are not connected yet
  assert.deepEqual(log, []);
  monitor.connected(slow);
  monitor.connected(slow); // once only
  clock.advance(1_000);
  assert.deepEqual(log, ["slow: connecting -> open (connected) @3000"]);
  clock.advance(1_200);
  assert.deepEqual(log.slice(1), [
    "slow: open -> dead (idle-timeout) @4100",
    "hung: connecting -> dead (connect-timeout) @5100",
  ]);
  assert.equal(monitor.stats().deaths["connect-timeout"], 1);
  monitor.close();
});

test("connecting: refused and unreachable are the connect's own reasons; a time-out is connect-timeout", () => {
  const { log, monitor } = setup({ keepalive: { userTimeout: "3s" } });
  const refused = monitor.track("refused", undefined, { connecting: true });
  const unreachable = monitor.track("unreachable", undefined, { connecting: true });
  const timedOut = monitor.track("syn", undefined, { connecting: true });
  const closed = monitor.track("closed", undefined, { connecting: true });
  monitor.failed(refused, nodeError("ECONNREFUSED"));
  monitor.failed(unreachable, nodeError("EHOSTUNREACH"));
  monitor.failed(timedOut, nodeError("ETIMEDOUT"));
  monitor.closed(closed);
  assert.deepEqual(log, [
    "refused: connecting -> dead (refused) @0",
    "unreachable: connecting -> dead (unreachable) @0",
    "syn: connecting -> dead (connect-timeout) @0",
    "closed: connecting -> closed (local-close) @0",
  ]);
  assert.throws(() => monitor.track("x", undefined, { connecting: 1 } as never), {
    name: "TypeError",
    message: 'Option "connecting" must be a boolean, got number 1',
  });
  assert.throws(() => monitor.track("x", undefined, { connect: true } as never), {
    name: "TypeError",
    message: 'Unknown option "connect" of track(): expected connecting',
  });
  assert.equal(monitor.size, 0);
  monitor.close();
});

test("an id whose slot was reused is ignored", () => {
  const { log, monitor } = setup();
  const old = monitor.track("old");
  monitor.closed(old);
  const fresh = monitor.track("fresh");
  assert.notEqual(fresh, old);
  monitor.failed(old, nodeError("ECONNRESET"));
  monitor.closed(old);
  assert.equal(monitor.state(fresh), "open");
  assert.equal(monitor.state(old), undefined);
  assert.deepEqual(log, ["old: open -> closed (local-close) @0"]);
  // Ids that were never handed out are ignored too.
  monitor.received(123456);
  monitor.failed(-1, new Error("x"));
  assert.equal(monitor.state(999_999), undefined);
  monitor.close();
});

test("the driver destroys the dead after onTransition, and may report activity before a deadline", () => {
  const order: string[] = [];
  const active = new Set<string>();
  const refs: { monitor?: LivenessMonitor<string> } = {};
  const driver: Driver<string> = {
    destroy: (c, reason) => order.push(`destroy ${c} ${reason}`),
    sample: (c, id) => {
      if (active.has(c)) refs.monitor!.received(id);
    },
  };
  const { clock, monitor } = setup({
    idleTimeout: "1s",
    onTransition: (t) => order.push(`transition ${t.context}`),
  });
  refs.monitor = monitor;
  monitor.track("alive", driver);
  monitor.track("silent", driver);
  active.add("alive");
  clock.advance(10_000);
  assert.deepEqual(order, ["transition silent", "destroy silent idle-timeout"]);
  assert.equal(monitor.size, 1);
  monitor.close();
});

test("a throwing callback is reported and the monitor carries on", () => {
  const errors: string[] = [];
  const { clock, monitor } = setup({
    idleTimeout: "1s",
    heartbeat: {
      interval: "500ms",
      timeout: "2s",
      send: () => {
        throw new Error("send broke");
      },
    },
    onTransition: (t) => {
      if (t.to === "dead") throw new Error(`transition broke for ${t.context}`);
    },
    onError: (error, where) => errors.push(`${where}: ${(error as Error).message}`),
  });
  const driver: Driver<string> = {
    destroy: () => {
      throw new Error("destroy broke");
    },
  };
  for (let i = 0; i < 3; i++) monitor.track(`c${i}`, driver);
  clock.advance(5_000);
  assert.equal(monitor.size, 0);
  assert.deepEqual(errors.filter((e) => e.startsWith("heartbeat.send")).length, 3);
  assert.deepEqual(errors.filter((e) => !e.startsWith("heartbeat.send")), [
    "onTransition: transition broke for c0",
    "driver.destroy: destroy broke",
    "onTransition: transition broke for c1",
    "driver.destroy: destroy broke",
    "onTransition: transition broke for c2",
    "driver.destroy: destroy broke",
  ]);
  // A later connection is still tracked normally.
  const id = monitor.track("later");
  assert.equal(monitor.state(id), "open");
  monitor.close();
});

test("callbacks may close and track connections while the monitor runs them", () => {
  const ids: ConnectionId[] = [];
  const refs: { monitor?: LivenessMonitor<string> } = {};
  const { clock, log, monitor } = setup({
    idle: "1s",
    onTransition: (t) => {
      if (t.context !== "a" || t.to !== "idle") return;
      // Close the next connection (still on the wheel) and start a new one from inside the tick.
      refs.monitor!.closed(ids[1]);
      ids.push(refs.monitor!.track("late"));
    },
  });
  refs.monitor = monitor;
  ids.push(monitor.track("a"), monitor.track("b"), monitor.track("c"));
  clock.advance(3_000);
  assert.deepEqual(log, [
    "a: open -> idle (reader-idle) @1100",
    "b: open -> closed (local-close) @1100",
    "c: open -> idle (reader-idle) @1100",
    "late: open -> idle (reader-idle) @2200",
  ]);
  monitor.close();
});

test("many connections: exactly the silent ones die, exactly at the bound", () => {
  const { clock, transitions, monitor } = setup<number>({ idleTimeout: "3s", resolution: 50 });
  const ids: ConnectionId[] = [];
  for (let i = 0; i < 10_000; i++) ids.push(monitor.track(i));
  for (let step = 0; step < 80; step++) {
    clock.advance(50);
    for (let i = 0; i < ids.length; i += 2) monitor.received(ids[i]);
  }
  assert.equal(transitions.length, 5_000);
  for (const t of transitions) {
    assert.equal(t.context % 2, 1);
    assert.equal(t.reason, "idle-timeout");
    assert.equal(t.at, 3_050);
  }
  assert.equal(monitor.size, 5_000);
  monitor.close();
});

test("slots are recycled: tracking and closing a million times keeps the store small", () => {
  const { monitor } = setup({ idleTimeout: "1m" });
  for (let i = 0; i < 100_000; i++) {
    const a = monitor.track("a");
    const b = monitor.track("b");
    monitor.closed(a);
    monitor.failed(b, nodeError("ECONNRESET"));
  }
  assert.equal(monitor.size, 0);
  monitor.close();
});

test("the timer runs only while deadlines exist, and close() stops it", () => {
  const clock = new ManualClock();
  const monitor = new LivenessMonitor<string>({ clock, idle: "1s" });
  assert.equal(clock.pending, 0);
  const id = monitor.track("a");
  assert.equal(clock.pending, 1);
  monitor.closed(id);
  clock.advance(200_000); // the closed slot leaves the wheel on its next visit
  assert.equal(clock.pending, 0);
  monitor.track("b");
  assert.equal(clock.pending, 1);
  monitor[Symbol.dispose]();
  assert.equal(clock.pending, 0);
  assert.throws(() => monitor.track("c"), {
    message: "Cannot track a connection: the monitor is closed",
  });
  const plain = new LivenessMonitor<string>({ clock });
  plain.track("no deadlines, no timer");
  assert.equal(clock.pending, 0);
  plain.close();
});

test("a frozen process does not count its own stall against peers", () => {
  // A clock whose time jumps without the timer firing, as when the event loop is blocked.
  let now = 0;
  let pending: (() => void) | undefined;
  const clock: Clock = {
    now: () => now,
    setTimeout: (callback) => {
      pending = callback;
      return 1;
    },
    clearTimeout: () => {
      pending = undefined;
    },
  };
  const log: string[] = [];
  const monitor = new LivenessMonitor<string>({
    clock,
    resolution: 100,
    idleTimeout: "1s",
    onTransition: (t) => log.push(`${t.context} ${t.to} @${t.at}`),
  });
  const fire = () => {
    const callback = pending!;
    pending = undefined;
    callback();
  };
  const id = monitor.track("a");
  now = 500;
  for (let tick = 1; tick <= 5; tick++) fire();
  monitor.received(id);
  now = 10_000; // frozen for 9.5 s
  fire();
  assert.deepEqual(log, []);
  for (let i = 0; i < 9; i++) {
    now += 100;
    fire();
  }
  assert.deepEqual(log, []);
  // The stall counted as one tick: 1.1 s of counted time after the data, the deadline is met.
  now += 100;
  fire();
  assert.deepEqual(log, ["a dead @11000"]);
  assert.equal(pending, undefined, "the timer stops with nothing left to track");
  monitor.close();
});

test("option validation names the option and the allowed range", () => {
  const bad: [MonitorOptions<unknown>, string, string][] = [
    [
      { resolution: 0 },
      "RangeError",
      'Option "resolution" must be from 1 ms to 60000 ms, got 0 ms',
    ],
    [
      { resolution: "2m" },
      "RangeError",
      'Option "resolution" must be from 1 ms to 60000 ms, got 120000 ms',
    ],
    [
      { idle: 50 },
      "RangeError",
      'Option "idle" must be from 100 ms (the resolution) to 2147483647 ms, got 50 ms',
    ],
    [
      { idleTimeout: "30d" },
      "RangeError",
      'Option "idleTimeout" must be from 100 ms (the resolution) to 2147483647 ms, got 2592000000 ms',
    ],
    [
      { idle: "soon" },
      "TypeError",
      'Option "idle" must be a duration like "30s", "1m30s" or "500ms", got "soon"',
    ],
    [
      { heartbeat: { interval: "1s" } as never },
      "TypeError",
      'Option "heartbeat" needs "interval", "timeout" and "send"',
    ],
    [
      { heartbeat: { interval: "1s", timeout: "1s" } as never },
      "TypeError",
      'Option "heartbeat.send" must be a function, got undefined',
    ],
    [
      { heartbeat: { interval: "1s", timeout: "1s", send: 1 } as never },
      "TypeError",
      'Option "heartbeat.send" must be a function, got number 1',
    ],
    [
      { heartbeat: { interval: "1s", timeout: 0, send: () => {} } },
      "RangeError",
      'Option "heartbeat.timeout" must be from 100 ms (the resolution) to 2147483647 ms, got 0 ms',
    ],
    [
      { heartbeat: { interval: "1s", timeout: "1s", send: () => {}, ackOnData: "yes" } as never },
      "TypeError",
      'Option "heartbeat.ackOnData" must be a boolean, got "yes"',
    ],
    [{ heartbeat: "1s" as never }, "TypeError", 'Option "heartbeat" must be an object, got "1s"'],
    [
      { onTransition: "log" as never },
      "TypeError",
      'Option "onTransition" must be a function, got "log"',
    ],
    [
      { clock: {} as never },
      "TypeError",
      'Option "clock" must be an object with now(), setTimeout() and clearTimeout(), got an object',
    ],
    [
      { keepalive: { count: 0 } },
      "RangeError",
      'Option "keepalive.count" must be an integer from 1 to 127, got 0',
    ],
    [
      { idleTimout: "1s" } as never,
      "TypeError",
      'Unknown option "idleTimout": expected one of keepalive, idle, writerIdle, allIdle, idleTimeout, connectTimeout, maxIdle, maxAge, maxAgeJitter, grace, heartbeat, suspicion, pingEnforcement, watchKernel, capacity, resolution, clock, random, onTransition, onEnd, onIdle, onDrain, onTooManyPings, onError, signal, onWarning',
    ],
  ];
  for (const [options, name, message] of bad) {
    assert.throws(() => new LivenessMonitor(options), { name, message }, message);
  }
  assert.throws(() => new LivenessMonitor(null as never), { name: "TypeError" });
  const monitor = new LivenessMonitor({ clock: new ManualClock() });
  assert.throws(() => monitor.track("x", {} as never), {
    name: "TypeError",
    message: 'Argument "driver" must be an object with a destroy() function, got an object',
  });
  monitor.close();
});

test("the monitor exposes its keepalive settings for adapters", () => {
  const monitor = new LivenessMonitor({ keepalive: "2s:1s:3", clock: new ManualClock() });
  assert.equal(monitor.keepalive.idleMs, 2_000);
  assert.equal(monitor.keepalive.count, 3);
  assert.equal(monitor.resolution, 100);
  monitor.close();
});
