// The monitor as an EventTarget: listeners added and removed at any time, in order even when they
// call back into the monitor, guarded like callbacks; transitions as an async iterator; a signal.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type ConnectionEvent,
  type DrainEvent,
  type IdleEvent,
  LivenessEvent,
  LivenessMonitor,
  ManualClock,
  type MonitorOptions,
  type Transition,
} from "../mod.ts";

function setup<C = string>(options: MonitorOptions<C> = {}) {
  const clock = new ManualClock();
  const errors: [unknown, string][] = [];
  const monitor = new LivenessMonitor<C>({
    clock,
    resolution: 100,
    onError: (error, callback) => errors.push([error, callback]),
    ...options,
  });
  return { clock, monitor, errors };
}

const line = (t: Transition<unknown>) => `${t.context}: ${t.from} -> ${t.to} (${t.reason})`;

test("listeners added after construction get transitions until they are removed", () => {
  const { clock, monitor, errors } = setup({ idle: "1s" });
  const seen: string[] = [];
  const listener = (event: LivenessEvent<Transition<string>>) => {
    assert.ok(event instanceof LivenessEvent);
    assert.equal(event.type, "transition");
    seen.push(line(event.detail));
  };
  const id = monitor.track("a");
  monitor.addEventListener("transition", listener);
  clock.advance(1_500);
  monitor.received(id);
  monitor.removeEventListener("transition", listener);
  clock.advance(1_500);
  assert.deepEqual(seen, ["a: open -> idle (reader-idle)", "a: idle -> open (activity)"]);
  assert.equal(monitor.state(id), "idle");
  assert.deepEqual(errors, []);
  monitor.close();
});

test("once and an object with handleEvent work as on any EventTarget", () => {
  const { clock, monitor } = setup({ idle: "1s" });
  const seen: string[] = [];
  monitor.addEventListener("transition", (event) => seen.push(`once ${line(event.detail)}`), {
    once: true,
  });
  const handler = { handleEvent: (event: Event) => seen.push(`object ${event.type}`) };
  monitor.addEventListener("transition", handler);
  monitor.addEventListener("transition", handler); // the same listener twice is one listener
  const id = monitor.track("a");
  clock.advance(1_500);
  monitor.received(id);
  monitor.removeEventListener("transition", handler);
  monitor.closed(id);
  assert.deepEqual(seen, [
    "once a: open -> idle (reader-idle)",
    "object transition",
    "object transition",
  ]);
  monitor.close();
});

test("every callback has its event, with the callback's arguments in detail", () => {
  const { clock, monitor, errors } = setup({
    idle: "1s",
    maxIdle: "3s",
    grace: "1s",
    pingEnforcement: { minInterval: "1s", maxStrikes: 0 },
  });
  const seen: string[] = [];
  monitor.addEventListener("idle", (e) => {
    const detail: IdleEvent<string> = e.detail;
    seen.push(`idle ${detail.context} ${detail.kind} first=${detail.first}`);
  });
  monitor.addEventListener("end", (e) => {
    const detail: ConnectionEvent<string> = e.detail;
    seen.push(`end ${detail.context} ${detail.id === ids.b}`);
  });
  monitor.addEventListener("drain", (e) => {
    const detail: DrainEvent<string> = e.detail;
    seen.push(`drain ${detail.context} ${detail.reason}`);
  });
  monitor.addEventListener("too-many-pings", (e) => seen.push(`pings ${e.detail.context}`));
  monitor.addEventListener("close", (e) => seen.push(`close ${e.detail}`));
  const ids = { a: monitor.track("a"), b: monitor.track("b") };
  monitor.pinged(ids.b);
  monitor.pinged(ids.b);
  monitor.ended(ids.b);
  clock.advance(1_100);
  monitor.closed(ids.b);
  clock.advance(3_000);
  monitor.close();
  assert.deepEqual(seen, [
    "pings b",
    "end b true",
    "idle a reader first=true",
    "idle b reader first=true",
    "idle a reader first=false",
    "drain a max-idle", // at 3.1 s, before that tick's idle event
    "idle a reader first=false",
    "close undefined",
  ]);
  assert.deepEqual(errors, []);
});

test("a listener that throws or rejects is reported to onError and the others still run", async () => {
  const { clock, monitor, errors } = setup({ idle: "1s" });
  const seen: string[] = [];
  monitor.addEventListener("transition", () => {
    throw new Error("sync");
  });
  monitor.addEventListener("transition", () => Promise.reject(new Error("async")));
  monitor.addEventListener("transition", (event) => seen.push(line(event.detail)));
  monitor.track("a");
  clock.advance(1_500);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(seen, ["a: open -> idle (reader-idle)"]);
  assert.deepEqual(
    errors.map(([error, where]) => `${where}: ${(error as Error).message}`),
    ['"transition" listener: sync', '"transition" listener: async'],
  );
  monitor.close();
});

test("every observer sees events in order, whatever a listener does to the monitor", () => {
  const { clock, monitor, errors } = setup({ idle: "1s" });
  const first: string[] = [];
  const second: string[] = [];
  const byCallback: string[] = [];
  const monitor2 = new LivenessMonitor<string>({
    clock,
    resolution: 100,
    idle: "1s",
    onTransition: (t) => byCallback.push(line(t)),
  });
  for (const m of [monitor, monitor2]) {
    m.addEventListener("transition", (event) => {
      const t = event.detail;
      (m === monitor ? first : byCallback).push(line(t));
      // Closing inside the listener: the close is told after this transition, to every observer.
      if (t.to === "idle") m.closed(t.id);
      if (t.to === "closed" && t.context === "a") m.track("c");
    });
    m.addEventListener("transition", (event) => {
      if (m === monitor) second.push(line(event.detail));
    });
    m.track("a");
  }
  clock.advance(1_500);
  const expected = [
    "a: open -> idle (reader-idle)",
    "a: idle -> closed (local-close)",
  ];
  assert.deepEqual(first, expected);
  assert.deepEqual(second, expected);
  // The callback, then the first listener, for each event in turn.
  assert.deepEqual(byCallback, [expected[0], expected[0], expected[1], expected[1]]);
  assert.equal(monitor.size, 1, "c was tracked from the listener");
  clock.advance(1_500);
  assert.deepEqual(first.slice(2), [
    "c: open -> idle (reader-idle)",
    "c: idle -> closed (local-close)",
  ]);
  assert.deepEqual(errors, []);
  monitor.close();
  monitor2.close();
});

test("the driver's destroy comes after every observer of the death", () => {
  const order: string[] = [];
  const { clock, monitor } = setup({
    idleTimeout: "1s",
    onTransition: (t) => order.push(`callback ${t.to}`),
  });
  monitor.addEventListener("transition", (e) => order.push(`listener ${e.detail.to}`));
  monitor.track("a", { destroy: (context, reason) => order.push(`destroy ${context} ${reason}`) });
  clock.advance(1_500);
  assert.deepEqual(order, ["callback dead", "listener dead", "destroy a idle-timeout"]);
  monitor.close();
});

test("after close() from a listener, no callback, listener or destroy is called", () => {
  const calls: string[] = [];
  const { clock, monitor } = setup({
    idleTimeout: "1s",
    onTransition: (t) => calls.push(`callback ${t.context}`),
  });
  monitor.addEventListener("transition", (e) => {
    calls.push(`listener ${e.detail.context}`);
    monitor.close();
  });
  monitor.addEventListener("transition", (e) => calls.push(`second ${e.detail.context}`));
  monitor.track("a", { destroy: () => calls.push("destroy") });
  monitor.track("b", { destroy: () => calls.push("destroy") });
  clock.advance(1_500);
  assert.deepEqual(calls, ["callback a", "listener a"]);
});

test("transitions() iterates until the monitor closes, and a break stops listening", async () => {
  const { clock, monitor } = setup({ idleTimeout: "1s" });
  const all: string[] = [];
  const loop = (async () => {
    for await (const t of monitor.transitions()) all.push(line(t));
  })();
  const firstOnly: string[] = [];
  const short = (async () => {
    for await (const t of monitor.transitions()) {
      firstOnly.push(line(t));
      break;
    }
  })();
  for (const name of ["a", "b", "c"]) monitor.track(name);
  clock.advance(1_500); // three deaths in one tick, before either loop runs: they wait in order
  await short;
  monitor.track("d");
  clock.advance(1_500);
  monitor.close();
  await loop;
  assert.deepEqual(all, ["a", "b", "c", "d"].map((n) => `${n}: open -> dead (idle-timeout)`));
  assert.deepEqual(firstOnly, ["a: open -> dead (idle-timeout)"]);
  // A closed monitor's iterator is over at once.
  const after = await monitor.transitions().next();
  assert.deepEqual(after, { value: undefined, done: true });
});

test("transitions({ signal }) ends when the signal aborts", async () => {
  const { clock, monitor } = setup({ idleTimeout: "1s" });
  const controller = new AbortController();
  const seen: string[] = [];
  const loop = (async () => {
    for await (const t of monitor.transitions({ signal: controller.signal })) seen.push(line(t));
  })();
  monitor.track("a");
  clock.advance(1_500);
  await new Promise((resolve) => setTimeout(resolve, 0));
  controller.abort();
  await loop;
  monitor.track("b");
  clock.advance(1_500);
  assert.deepEqual(seen, ["a: open -> dead (idle-timeout)"]);
  monitor.close();
});

test("the signal option closes the monitor, at once if already aborted", () => {
  const controller = new AbortController();
  const { monitor } = setup({ idleTimeout: "1s", signal: controller.signal });
  monitor.track("a");
  let closedEvents = 0;
  monitor.addEventListener("close", () => closedEvents++);
  controller.abort();
  assert.equal(monitor.isClosed, true);
  assert.equal(closedEvents, 1);
  assert.throws(() => monitor.track("b"), /the monitor is closed/);

  const aborted = setup({ signal: AbortSignal.abort() }).monitor;
  assert.equal(aborted.isClosed, true);

  for (const bad of [{}, "signal", 1, null]) {
    assert.throws(
      () => new LivenessMonitor({ signal: bad as never }),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message.startsWith(`Option "signal" must be an AbortSignal, got `),
    );
  }
});

test("a listener that is neither a function nor an object with handleEvent is refused", () => {
  const { monitor } = setup();
  assert.throws(
    () => monitor.addEventListener("transition", {} as never),
    new TypeError(
      `Argument "listener" must be a function or an object with handleEvent(), got object`,
    ),
  );
  monitor.close();
});

test("warn() tells each distinct warning once, to onWarning and warning listeners", () => {
  const heard: string[] = [];
  const { monitor } = setup({ onWarning: (message) => heard.push(`callback ${message}`) });
  monitor.addEventListener("warning", (event) => heard.push(`listener ${event.detail}`));
  monitor.warn("idle asked but not set");
  monitor.warn("idle asked but not set");
  monitor.warn("interval asked but not set");
  assert.deepEqual(heard, [
    "callback idle asked but not set",
    "listener idle asked but not set",
    "callback interval asked but not set",
    "listener interval asked but not set",
  ]);
  for (let i = 0; i < 100; i++) monitor.warn(`warning ${i}`);
  assert.equal(heard.length, 4 + 2 * 63);
  assert.equal(heard.at(-1), "listener more than 64 distinct warnings: the rest are not shown");
  assert.throws(() => monitor.warn(""), TypeError);
  monitor.close();
});

test("warn() with no one listening goes to console.warn, once", () => {
  const { monitor } = setup();
  const original = console.warn;
  const printed: unknown[][] = [];
  console.warn = (...args: unknown[]) => printed.push(args);
  try {
    monitor.warn("userTimeout asked but not set");
    monitor.warn("userTimeout asked but not set");
  } finally {
    console.warn = original;
  }
  assert.deepEqual(printed, [["socket-liveness: userTimeout asked but not set"]]);
  monitor.close();
});

test("a listener added with a signal is removed when the signal aborts", () => {
  const { clock, monitor } = setup({ idle: "1s" });
  const stop = new AbortController();
  const seen: number[] = [];
  monitor.addEventListener("idle", (event) => seen.push(event.detail.at), { signal: stop.signal });
  monitor.track("a");
  clock.advance(1_100);
  stop.abort();
  clock.advance(3_000);
  assert.deepEqual(seen, [1_100]);
  monitor.close();
});
