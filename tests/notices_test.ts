// How a monitor tells its callbacks, event listeners and drivers (src/_notices.ts), on a fake of the
// monitor it tells for: what it listens to, whether it is closed, where it reports a throw.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LivenessEvent } from "../mod.ts";
import type { Config } from "../src/_options.ts";
import { Notice, Notices, type NoticeTarget } from "../src/_notices.ts";

const KINDS = [
  [Notice.Transition, "onTransition", "transition"],
  [Notice.Idle, "onIdle", "idle"],
  [Notice.End, "onEnd", "end"],
  [Notice.Drain, "onDrain", "drain"],
  [Notice.TooManyPings, "onTooManyPings", "too-many-pings"],
  [Notice.Warning, "onWarning", "warning"],
] as const;
const TYPES = KINDS.map(([, , type]) => type);

/**
 * Notices over a fake monitor that listens to `listened` and logs to `heard`, in order, what each
 * listener heard (`[who, detail]`) and what was reported; callbacks may log there too.
 */
function setup(
  callbacks: Partial<Config<string>> = {},
  listened: string[] = [],
  heard: unknown[][] = [],
) {
  const events: Event[] = [];
  const monitor = { closed: false, dispatchThrows: undefined as Error | undefined };
  const target: NoticeTarget = {
    closed: () => monitor.closed,
    listened: (type) => listened.includes(type),
    dispatch: (event) => {
      events.push(event);
      heard.push([`"${event.type}" listener`, (event as LivenessEvent<unknown>).detail]);
      const error = monitor.dispatchThrows;
      monitor.dispatchThrows = undefined;
      if (error !== undefined) throw error;
    },
    report: (error, callback) => heard.push(["report", callback, (error as Error).message]),
  };
  const notices = new Notices<string>(callbacks as Config<string>, target);
  return { notices, heard, events, monitor };
}

/** A callback that logs its name and every argument it was called with. */
const logs = (heard: unknown[][], name: string) => (...args: unknown[]) => {
  heard.push([name, ...args]);
};

test("each notice reaches its callback with the arguments documented for it, then its listeners", () => {
  const heard: unknown[][] = [];
  const callbacks = Object.fromEntries(KINDS.map(([, name]) => [name, logs(heard, name)]));
  const { notices, events } = setup(callbacks, TYPES, heard);
  const transition = { id: 7, to: "dead" };
  const idle = { id: 7, kind: "reader" };
  // Arguments past the documented ones are passed to tell() and must not reach the callback.
  notices.tell(Notice.Transition, transition, "b", "c", "d");
  notices.tell(Notice.Idle, idle, "b", "c", "d");
  notices.tell(Notice.End, "ctx", 7, "c", "d");
  notices.tell(Notice.Drain, "ctx", 7, "max-age", "d");
  notices.tell(Notice.TooManyPings, "ctx", 7, "c", "d");
  notices.tell(Notice.Warning, "keepalive is off", "b", "c", "d");
  assert.deepEqual(heard, [
    ["onTransition", transition],
    ['"transition" listener', transition],
    ["onIdle", idle],
    ['"idle" listener', idle],
    ["onEnd", "ctx", 7],
    ['"end" listener', { id: 7, context: "ctx" }],
    ["onDrain", "ctx", 7, "max-age"],
    ['"drain" listener', { id: 7, context: "ctx", reason: "max-age" }],
    ["onTooManyPings", "ctx", 7],
    ['"too-many-pings" listener', { id: 7, context: "ctx" }],
    ["onWarning", "keepalive is off"],
    ['"warning" listener', "keepalive is off"],
  ]);
  for (const event of events) assert.ok(event instanceof LivenessEvent, event.type);
  assert.equal((events[0] as LivenessEvent<unknown>).detail, transition, "the same object");
});

test("listeners alone hear a notice without a callback, and a callback alone dispatches nothing", () => {
  const heard: unknown[][] = [];
  const { notices } = setup({ onEnd: logs(heard, "onEnd") }, ["drain"], heard);
  notices.tell(Notice.End, "ctx", 1);
  notices.tell(Notice.Drain, "ctx", 2, "max-idle");
  assert.deepEqual(heard, [
    ["onEnd", "ctx", 1],
    ['"drain" listener', { id: 2, context: "ctx", reason: "max-idle" }],
  ]);
});

test("a notice is wanted with a callback or a listener of its type; a driver's destroy always", () => {
  for (const [kind, name, type] of KINDS) {
    assert.equal(setup().notices.wanted(kind), false, name);
    assert.equal(setup({ [name]: () => {} }).notices.wanted(kind), true, name);
    assert.equal(setup({}, [type]).notices.wanted(kind), true, type);
    const others = TYPES.filter((other) => other !== type);
    const callbacks = Object.fromEntries(
      KINDS.filter(([, other]) => other !== name).map(([, other]) => [other, () => {}]),
    );
    assert.equal(setup(callbacks, others).notices.wanted(kind), false, `all but ${name}`);
  }
  assert.equal(setup().notices.wanted(Notice.Destroy), true);
});

test("a driver is told to destroy with the context, reason and error, and nothing else", () => {
  const { notices, heard } = setup();
  const error = new Error("read ECONNRESET");
  const driver = { destroy: logs(heard, "destroy") };
  notices.tell(Notice.Destroy, driver, "ctx", "idle-timeout", error);
  assert.deepEqual(heard, [["destroy", "ctx", "idle-timeout", error]]);
});

test("a callback that throws is reported under its name, and its listeners still hear the notice", () => {
  const fail = (name: string) => () => {
    throw new Error(`${name} failed`);
  };
  const callbacks = Object.fromEntries(KINDS.map(([, name]) => [name, fail(name)]));
  const { notices, heard } = setup(callbacks, TYPES);
  notices.tell(Notice.Transition, "t");
  notices.tell(Notice.Idle, "i");
  notices.tell(Notice.End, "ctx", 1);
  notices.tell(Notice.Drain, "ctx", 1, "max-age");
  notices.tell(Notice.TooManyPings, "ctx", 1);
  notices.tell(Notice.Warning, "w");
  notices.tell(Notice.Destroy, { destroy: fail("driver.destroy") }, "ctx", "max-idle", undefined);
  assert.deepEqual(heard, [
    ["report", "onTransition", "onTransition failed"],
    ['"transition" listener', "t"],
    ["report", "onIdle", "onIdle failed"],
    ['"idle" listener', "i"],
    ["report", "onEnd", "onEnd failed"],
    ['"end" listener', { id: 1, context: "ctx" }],
    ["report", "onDrain", "onDrain failed"],
    ['"drain" listener', { id: 1, context: "ctx", reason: "max-age" }],
    ["report", "onTooManyPings", "onTooManyPings failed"],
    ['"too-many-pings" listener', { id: 1, context: "ctx" }],
    ["report", "onWarning", "onWarning failed"],
    ['"warning" listener', "w"],
    ["report", "driver.destroy", "driver.destroy failed"],
  ]);
});

test("a notice raised while one is told waits until every observer heard it, then all go in order", () => {
  const heard: unknown[][] = [];
  const { notices } = setup(
    {
      onTransition: (t) => {
        heard.push(["onTransition", t]);
        notices.tell(Notice.End, "ctx", 1);
        notices.tell(Notice.Drain, "ctx", 1, "max-age");
      },
      onEnd: (context, id) => {
        heard.push(["onEnd", context, id]);
        notices.tell(Notice.Warning, "raised by onEnd");
      },
    },
    ["transition", "end", "drain", "warning"],
    heard,
  );
  notices.tell(Notice.Transition, "t");
  assert.deepEqual(heard, [
    ["onTransition", "t"],
    ['"transition" listener', "t"],
    ["onEnd", "ctx", 1],
    ['"end" listener', { id: 1, context: "ctx" }],
    ['"drain" listener', { id: 1, context: "ctx", reason: "max-age" }],
    ['"warning" listener', "raised by onEnd"],
  ]);
});

test("once the notices that waited are told they are gone: the next notice is told alone", () => {
  let raise = true;
  const { notices, heard } = setup({
    onTransition: () => {
      if (raise) notices.tell(Notice.Warning, "once");
      raise = false;
    },
  }, ["warning"]);
  notices.tell(Notice.Transition, "first");
  notices.tell(Notice.Transition, "second");
  notices.tell(Notice.Warning, "last");
  assert.deepEqual(heard, [['"warning" listener', "once"], ['"warning" listener', "last"]]);
});

test("a callback that closes the monitor keeps its listeners and the waiting notices from hearing", () => {
  const heard: unknown[][] = [];
  const { notices, monitor } = setup(
    {
      onTransition: (t) => {
        heard.push(["onTransition", t]);
        notices.tell(Notice.Warning, "waits");
        notices.tell(Notice.Destroy, { destroy: logs(heard, "destroy") }, "ctx", "idle-timeout");
        monitor.closed = true;
      },
      onWarning: logs(heard, "onWarning"),
    },
    ["transition", "warning"],
    heard,
  );
  notices.tell(Notice.Transition, "t");
  assert.deepEqual(heard, [["onTransition", "t"]]);
});

test("nothing is told once the monitor is closed, not even a driver's destroy", () => {
  const heard: unknown[][] = [];
  const { notices, monitor } = setup({ onWarning: logs(heard, "onWarning") }, ["warning"], heard);
  monitor.closed = true;
  notices.tell(Notice.Warning, "late");
  notices.tell(Notice.Destroy, { destroy: logs(heard, "destroy") }, "ctx", "idle-timeout");
  assert.deepEqual(heard, []);
});

test("clear() drops the notices that wait to be told", () => {
  const { notices, heard } = setup({
    onTransition: () => {
      notices.tell(Notice.Warning, "dropped");
      notices.clear();
      notices.tell(Notice.Warning, "raised after the clear");
    },
  }, ["warning"]);
  notices.tell(Notice.Transition, "t");
  assert.deepEqual(heard, [['"warning" listener', "raised after the clear"]]);
});

test("a throw that escapes a dispatch leaves the notices ready to tell the next one at once", () => {
  const { notices, heard, monitor } = setup({}, ["warning"]);
  monitor.dispatchThrows = new Error("dispatch failed");
  assert.throws(() => notices.tell(Notice.Warning, "first"), { message: "dispatch failed" });
  notices.tell(Notice.Warning, "second");
  assert.deepEqual(heard, [['"warning" listener', "first"], ['"warning" listener', "second"]]);
});
