// Property tests of the monitor: random sequences of inputs over several connections, interleaved
// with time, under random options; a reference model (./_model.ts) run beside the monitor; and a
// stress test of the scheduler. Seeds are fixed so that runs repeat; a failure prints its seed and
// path, and `fc.assert(..., { seed, path })` replays it.

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Clock,
  type ConnectionId,
  type DeathReason,
  detectionBound,
  type Driver,
  LivenessMonitor,
  ManualClock,
  type MonitorOptions,
  type Transition,
} from "../mod.ts";
import { type Input, isTerminal, Model, type ModelConnection, type Step } from "./_model.ts";

// ---- scenarios ---------------------------------------------------------------------------------

interface Options {
  resolution: number;
  start: number;
  idle?: number;
  idleTimeout?: number;
  heartbeat?: { interval: number; timeout: number; ackOnData?: boolean };
  userTimeout: boolean;
  /** Pass durations as strings ("250ms") instead of numbers. */
  strings: boolean;
}

type Op =
  | { kind: "track"; driver: boolean }
  | { kind: "advance"; ms: number }
  | { kind: Exclude<Input, "failed">; target: number }
  | { kind: "failed"; target: number; error: number };

/** What a callback does before it returns: an input (for itself or another connection), a throw. */
interface Reaction {
  op?: Exclude<Op, { kind: "advance" }>;
  self: boolean;
  throws: boolean;
}

interface Scenario {
  options: Options;
  ops: Op[];
  reactions: Reaction[];
}

function nodeError(code: string): Error {
  return Object.assign(new Error(`read ${code}`), { code });
}

/** Errors as Node, Deno and Bun report them, with the reason each must map to. */
const ERRORS: readonly { make: () => unknown; reason: DeathReason }[] = [
  ...([
    ["ECONNRESET", "reset"],
    ["ECONNABORTED", "reset"],
    ["ENETRESET", "reset"],
    ["EPIPE", "broken-pipe"],
    ["EHOSTUNREACH", "unreachable"],
    ["ENETUNREACH", "unreachable"],
    ["EHOSTDOWN", "unreachable"],
    ["ENETDOWN", "unreachable"],
    ["ECONNREFUSED", "refused"],
    ["ETIMEDOUT", "keepalive-timeout"],
    ["EADDRINUSE", "error"],
    ["ERR_STREAM_PREMATURE_CLOSE", "error"],
    ["EAI_AGAIN", "error"],
  ] as const).map(([code, reason]) => ({ make: () => nodeError(code), reason })),
  { make: () => Object.assign(new Error("reset"), { errno: -104 }), reason: "reset" },
  {
    make: () => Object.assign(new Error("timed out"), { errno: 110 }),
    reason: "keepalive-timeout",
  },
  {
    make: () => new Error("fetch failed", { cause: nodeError("ECONNREFUSED") }),
    reason: "refused",
  },
  { make: () => Object.assign(new Error("x"), { name: "ConnectionReset" }), reason: "reset" },
  { make: () => Object.assign(new Error("x"), { name: "TimedOut" }), reason: "keepalive-timeout" },
  { make: () => "boom", reason: "error" },
  { make: () => undefined, reason: "error" },
];

/** A duration from one tick up: mostly a few ticks, sometimes more than the wheel's 1024. */
function durationArb(resolution: number): fc.Arbitrary<number> {
  const ticks = (min: number, max: number) =>
    fc.integer({ min: Math.max(resolution, (min - 1) * resolution + 1), max: max * resolution });
  return fc.oneof(
    { weight: 6, arbitrary: ticks(1, 12) },
    { weight: 3, arbitrary: ticks(1, 40) },
    { weight: 1, arbitrary: ticks(1000, 1300) },
  );
}

const optionsArb: fc.Arbitrary<Options> = fc.oneof(
  fc.constantFrom(1, 10, 100),
  fc.integer({ min: 1, max: 250 }),
).chain((resolution) =>
  fc.record({
    resolution: fc.constant(resolution),
    start: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 40 })),
    idle: fc.option(durationArb(resolution), { nil: undefined }),
    idleTimeout: fc.option(durationArb(resolution), { nil: undefined }),
    heartbeat: fc.option(
      fc.record({
        interval: durationArb(resolution),
        timeout: durationArb(resolution),
        ackOnData: fc.option(fc.boolean(), { nil: undefined }),
      }),
      { nil: undefined },
    ),
    userTimeout: fc.boolean(),
    strings: fc.boolean(),
  })
);

const inputOpArb: fc.Arbitrary<Exclude<Op, { kind: "advance" }>> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("track" as const), driver: fc.boolean() }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom("received", "sent", "acked", "received", "acked", "ended", "closed"),
      target: fc.nat({ max: 40 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("failed" as const),
      target: fc.nat({ max: 40 }),
      error: fc.nat({ max: ERRORS.length - 1 }),
    }),
  },
);

function longest(options: Options): number {
  const hb = options.heartbeat;
  return Math.max(
    options.idle ?? 0,
    options.idleTimeout ?? 0,
    hb === undefined ? 0 : hb.interval + hb.timeout,
    options.resolution,
  );
}

function opsArb(options: Options): fc.Arbitrary<Op[]> {
  const r = options.resolution;
  const advance = fc.oneof(
    fc.integer({ min: 0, max: 3 * r }),
    fc.integer({ min: 0, max: Math.ceil(1.5 * longest(options)) }),
  ).map((ms) => ({ kind: "advance" as const, ms }));
  return fc.tuple(
    fc.array(fc.record({ kind: fc.constant("track" as const), driver: fc.boolean() }), {
      minLength: 1,
      maxLength: 4,
    }),
    fc.array(fc.oneof({ weight: 3, arbitrary: advance }, { weight: 4, arbitrary: inputOpArb }), {
      maxLength: 60,
      size: "medium",
    }),
  ).map(([tracks, rest]) => [...tracks, ...rest]);
}

const reactionArb: fc.Arbitrary<Reaction> = fc.record({
  op: fc.option(inputOpArb, { nil: undefined, freq: 2 }),
  self: fc.boolean(),
  throws: fc.constantFrom(false, false, false, true),
});

const scenarioArb: fc.Arbitrary<Scenario> = optionsArb.chain((options) =>
  fc.record({
    options: fc.constant(options),
    ops: opsArb(options),
    reactions: fc.array(reactionArb, { maxLength: 12 }),
  })
);

// ---- running a scenario ------------------------------------------------------------------------

/** A throw a reaction asked for; it must reach onError and change nothing else. */
class Planned extends Error {}

interface Connection {
  index: number;
  id: ConnectionId;
  context: string;
  driver: boolean;
  transitions: Transition<string>[];
  terminal?: Transition<string>;
  ends: number;
  destroys: number;
  model?: ModelConnection;
}

/** Violations of properties 1, 2, 3 and 5, collected as they happen. */
interface Violations {
  absorb: string[];
  count: string[];
  afterEnd: string[];
  resurrect: string[];
}

interface Pending {
  c: Connection;
  step: Step | undefined;
  seen: boolean;
  end: boolean;
  endSeen: boolean;
}

const MAX_DEPTH = 3;
const MAX_CONNECTIONS = 16;

/**
 * Runs a scenario on a monitor with a manual clock. With `model`, a reference model runs beside it
 * and any disagreement throws at once; without, the violations of the simpler properties are
 * collected. Either way the run ends by closing every connection.
 */
class Run {
  readonly clock: ManualClock;
  readonly monitor: LivenessMonitor<string>;
  readonly model: Model | undefined;
  readonly connections: Connection[] = [];
  readonly violations: Violations = { absorb: [], count: [], afterEnd: [], resurrect: [] };
  readonly #scenario: Scenario;
  readonly #byContext = new Map<string, Connection>();
  readonly #driver: Driver<string>;
  #failures: unknown[] = [];
  #pending: Pending[] = [];
  #awaiting: { kind: "send" | "destroy"; c: Connection; step: Step } | undefined;
  #errors: { error: unknown; where: string }[] = [];
  #inTick = false;
  #depth = 0;
  #reaction = 0;
  #finishing = false;
  #terminated = 0;

  constructor(scenario: Scenario, withModel: boolean) {
    this.#scenario = scenario;
    const o = scenario.options;
    this.clock = new ManualClock(o.start);
    const manual = this.clock;
    const clock: Clock = {
      now: () => manual.now(),
      setTimeout: (callback, ms) =>
        manual.setTimeout(() => {
          this.#inTick = true;
          try {
            callback();
          } finally {
            this.#inTick = false;
          }
          this.#guard(() => this.#afterTick());
        }, ms),
      clearTimeout: (handle) => manual.clearTimeout(handle),
    };
    const duration = (ms: number | undefined) =>
      ms === undefined ? undefined : o.strings ? `${ms}ms` : ms;
    const options: MonitorOptions<string> = {
      clock,
      resolution: duration(o.resolution),
      idle: duration(o.idle),
      idleTimeout: duration(o.idleTimeout),
      keepalive: o.userTimeout ? { userTimeout: 3_000 } : undefined,
      onTransition: (t) => this.#callback("onTransition", () => this.#onTransition(t)),
      onEnd: (context, id) => this.#callback("onEnd", () => this.#onEnd(context, id)),
      onError: (error, where) => this.#guard(() => this.#onError(error, where)),
    };
    if (o.heartbeat !== undefined) {
      options.heartbeat = {
        interval: duration(o.heartbeat.interval)!,
        timeout: duration(o.heartbeat.timeout)!,
        send: (context, id) => this.#callback("heartbeat.send", () => this.#onSend(context, id)),
        ...(o.heartbeat.ackOnData === undefined ? {} : { ackOnData: o.heartbeat.ackOnData }),
      };
    }
    this.#driver = {
      destroy: (context, reason, error) =>
        this.#callback("driver.destroy", () => this.#onDestroy(context, reason, error)),
    };
    this.monitor = new LivenessMonitor<string>(options);
    this.model = withModel
      ? new Model({
        origin: o.start,
        resolution: o.resolution,
        idle: o.idle ?? 0,
        idleTimeout: o.idleTimeout ?? 0,
        heartbeat: o.heartbeat === undefined ? undefined : {
          interval: o.heartbeat.interval,
          timeout: o.heartbeat.timeout,
          ackOnData: o.heartbeat.ackOnData !== false,
        },
        userTimeout: o.userTimeout,
      })
      : undefined;
  }

  /** Runs every op, then closes every connection. */
  run(): this {
    try {
      for (const op of this.#scenario.ops) {
        this.#perform(op, undefined);
        this.#afterStep();
      }
      this.#finishing = true;
      for (const c of this.connections) {
        if (c.terminal === undefined) this.#perform({ kind: "closed", target: c.index }, c);
      }
      this.#afterStep();
      this.clock.advance(this.#scenario.options.resolution);
      this.#afterStep();
      assert.equal(this.monitor.size, 0, "size after closing everything");
      assert.equal(this.clock.pending, 0, "the timer stops once nothing is tracked");
      for (const c of this.connections) {
        const ends = c.transitions.filter((t) => isTerminal(t.to)).length;
        if (ends !== 1) this.violations.count.push(`${c.context} ended ${ends} times`);
      }
    } finally {
      this.monitor.close();
    }
    return this;
  }

  // ---- ops ----

  #perform(op: Op, self: Connection | undefined): void {
    if (op.kind === "advance") {
      this.clock.advance(op.ms);
      return;
    }
    if (op.kind === "track") {
      if (this.connections.length >= MAX_CONNECTIONS) return;
      const index = this.connections.length;
      const context = `c${index}`;
      const id = this.monitor.track(context, op.driver ? this.#driver : undefined);
      const c: Connection = {
        index,
        id,
        context,
        driver: op.driver,
        transitions: [],
        ends: 0,
        destroys: 0,
      };
      this.connections.push(c);
      this.#byContext.set(context, c);
      if (this.model !== undefined) {
        for (const other of this.connections) {
          if (other !== c && other.terminal === undefined) {
            assert.notEqual(other.id, id, "ids of live connections are distinct");
          }
        }
        c.model = this.model.track(id, context, op.driver, this.#tick());
      }
      return;
    }
    if (this.connections.length === 0) return;
    const c = self ?? this.connections[op.target % this.connections.length];
    const error = op.kind === "failed" ? ERRORS[op.error].make() : undefined;
    const terminalBefore = c.terminal;
    const sizeBefore = this.monitor.size;
    const transitionsBefore = c.transitions.length;
    const endsBefore = c.ends;
    let pending: Pending | undefined;
    if (this.model !== undefined) {
      const m = c.model!;
      const step = this.model.expect(
        m,
        op.kind,
        op.kind === "failed" ? ERRORS[op.error].reason : undefined,
        error,
      );
      const end = this.model.input(m, op.kind, this.#tick());
      pending = { c, step, seen: false, end, endSeen: false };
      this.#pending.push(pending);
    }
    try {
      if (op.kind === "failed") this.monitor.failed(c.id, error);
      else this.monitor[op.kind](c.id);
    } finally {
      if (pending !== undefined) this.#pending.pop();
    }
    if (pending !== undefined) {
      this.#check(
        pending.step === undefined || pending.seen,
        () => `${op.kind}(${c.context}) should have made ${describeStep(pending.step!)}`,
      );
      this.#check(
        pending.end === pending.endSeen,
        () => `ended(${c.context}) should ${pending.end ? "" : "not "}have called onEnd`,
      );
    }
    if (terminalBefore !== undefined) {
      const where = `${op.kind}(${c.context}) after ${terminalBefore.to}`;
      if (c.transitions.length !== transitionsBefore) {
        this.violations.resurrect.push(`${where} made a transition`);
      }
      if (this.monitor.size !== sizeBefore) this.violations.resurrect.push(`${where} changed size`);
      if (c.ends !== endsBefore) this.violations.resurrect.push(`${where} called onEnd`);
      const state = this.monitor.state(c.id);
      if (state !== undefined && state !== terminalBefore.to) {
        this.violations.resurrect.push(`${where} left state ${state}`);
      }
    }
  }

  /**
   * Runs a callback's checks, then its reaction, then what must follow it; then throws if the
   * reaction says so.
   */
  #callback(where: string, body: () => { c: Connection; then?: () => void }): void {
    let done: { c: Connection; then?: () => void };
    try {
      done = body();
    } catch (error) {
      if (this.#failures.length === 0) this.#failures.push(error);
      return;
    }
    if (this.#failures.length > 0) return;
    const reactions = this.#scenario.reactions;
    const reaction = this.#finishing || this.#depth >= MAX_DEPTH || reactions.length === 0
      ? undefined
      : reactions[this.#reaction++ % reactions.length];
    if (reaction?.op !== undefined) {
      const op = reaction.op;
      const self = reaction.self ? done.c : undefined;
      this.#depth++;
      try {
        this.#guard(() => this.#perform(op, self));
      } finally {
        this.#depth--;
      }
    }
    if (done.then !== undefined) this.#guard(done.then);
    if (reaction?.throws) {
      const error = new Planned(`planned throw in ${where}`);
      this.#errors.push({ error, where });
      throw error;
    }
  }

  // ---- callbacks ----

  #onTransition(t: Transition<string>): { c: Connection; then?: () => void } {
    const c = this.#byContext.get(t.context);
    assert.ok(c !== undefined, `transition for an unknown context ${String(t.context)}`);
    if (c.terminal !== undefined) {
      this.violations.absorb.push(`${c.context}: ${t.from} -> ${t.to} after ${c.terminal.to}`);
      this.violations.afterEnd.push(`${c.context}: ${t.reason} after ${c.terminal.reason}`);
    }
    if (t.id !== c.id) this.violations.afterEnd.push(`${c.context} reported as id ${t.id}`);
    c.transitions.push(t);
    if (isTerminal(t.to) && c.terminal === undefined) {
      c.terminal = t;
      this.#terminated++;
    }
    if (this.monitor.size !== this.connections.length - this.#terminated) {
      this.violations.count.push(
        `size ${this.monitor.size} during ${c.context}: ${t.reason}, expected ${
          this.connections.length - this.#terminated
        }`,
      );
    }
    if (this.model === undefined) return { c };
    const step = this.#modelTransition(c, t);
    // What the monitor calls once onTransition has returned.
    const then = () => {
      if (step.reason === "ping-sent" && !isTerminal(c.model!.state)) {
        this.#awaiting = { kind: "send", c, step };
      } else if (step.to === "dead" && c.driver) {
        this.#awaiting = { kind: "destroy", c, step };
      }
    };
    return { c, then };
  }

  #modelTransition(c: Connection, t: Transition<string>): Step {
    const model = this.model!;
    const m = c.model!;
    assert.equal(this.#awaiting, undefined, `${c.context}: ${t.reason} before the awaited call`);
    assert.equal(t.at, this.clock.now(), "a transition's time is the clock's");
    assert.equal(t.id, c.id);
    const tick = this.#tick();
    const top = this.#pending.at(-1);
    let step: Step | undefined;
    if (top !== undefined && !top.seen && top.step !== undefined) {
      top.seen = true;
      step = top.step;
      assert.equal(c, top.c, `${describeStep(step)} expected for ${top.c.context}`);
    } else {
      assert.ok(
        this.#inTick,
        `${c.context}: ${t.from} -> ${t.to} (${t.reason}) outside a tick and not from an input`,
      );
      step = model.due(m, tick).find((s) => s.to === t.to && s.reason === t.reason);
      assert.ok(
        step !== undefined,
        `${c.context}: ${t.from} -> ${t.to} (${t.reason}) at tick ${tick} is not due (due: ${
          model.due(m, tick).map(describeStep).join(", ") || "nothing"
        }; last in ${m.lastIn}, out ${m.lastOut}, ping ${m.pingOut ? m.pingAt : "-"})`,
      );
    }
    assert.deepEqual(
      { from: t.from, to: t.to, reason: t.reason, error: t.error },
      { from: step.from, to: step.to, reason: step.reason, error: step.error },
      `${c.context} at tick ${tick}`,
    );
    model.apply(m, step, tick);
    return step;
  }

  #onSend(context: string, id: ConnectionId): { c: Connection } {
    const c = this.#byContext.get(context)!;
    if (this.model === undefined) return { c };
    const awaited = this.#awaiting;
    this.#awaiting = undefined;
    assert.ok(
      awaited?.kind === "send" && awaited.c === c && id === c.id,
      `heartbeat.send(${context}) not right after its ping-sent`,
    );
    return { c };
  }

  #onDestroy(context: string, reason: string, error: unknown): { c: Connection } {
    const c = this.#byContext.get(context)!;
    c.destroys++;
    if (this.model === undefined) return { c };
    const awaited = this.#awaiting;
    this.#awaiting = undefined;
    assert.ok(
      awaited?.kind === "destroy" && awaited.c === c,
      `driver.destroy(${context}) not right after its death`,
    );
    assert.equal(reason, awaited.step.reason);
    assert.equal(error, awaited.step.error);
    return { c };
  }

  #onEnd(context: string, id: ConnectionId): { c: Connection } {
    const c = this.#byContext.get(context)!;
    c.ends++;
    if (this.model === undefined) return { c };
    const top = this.#pending.at(-1);
    assert.ok(
      top?.end && !top.endSeen && top.c === c && id === c.id,
      `onEnd(${context}) not from its ended()`,
    );
    top.endSeen = true;
    return { c };
  }

  #onError(error: unknown, where: string): void {
    const planned = this.#errors.shift();
    if (planned !== undefined && planned.error === error && planned.where === where) return;
    throw new Error(`onError(${where}) for an unplanned error: ${String(error)}`, { cause: error });
  }

  // ---- checks ----

  #tick(): number {
    return this.model!.tickAt(this.clock.now());
  }

  /** Once a tick is done, nothing may be due any more: everything due fired in that tick. */
  #afterTick(): void {
    if (this.model === undefined) return;
    this.#quiet("tick");
  }

  #quiet(when: string): void {
    const model = this.model!;
    const tick = this.#tick();
    for (const m of model.live()) {
      const due = model.due(m, tick);
      assert.deepEqual(
        due.map(describeStep),
        [],
        `${m.context} at tick ${tick} (${when}): a deadline did not fire`,
      );
    }
    assert.equal(this.#awaiting, undefined, `${when}: the awaited call did not come`);
  }

  #afterStep(): void {
    if (this.#failures.length > 0) throw this.#failures[0];
    assert.deepEqual(this.#errors.map((e) => e.where), [], "every planned throw reaches onError");
    const live = this.connections.length - this.#terminated;
    if (this.monitor.size !== live) {
      this.violations.count.push(`size ${this.monitor.size} after a step, expected ${live}`);
    }
    for (const c of this.connections) {
      const state = this.monitor.state(c.id);
      if (c.terminal !== undefined && state !== undefined && state !== c.terminal.to) {
        this.violations.absorb.push(`${c.context} is ${state} after ${c.terminal.to}`);
      }
    }
    const model = this.model;
    if (model === undefined) return;
    this.#quiet("step");
    for (const c of this.connections) {
      const m = c.model!;
      const state = this.monitor.state(c.id);
      if (isTerminal(m.state)) {
        assert.ok(state === undefined || state === m.state, `${c.context} is ${state}`);
        assert.equal(c.destroys, c.driver && m.state === "dead" ? 1 : 0, `${c.context} destroys`);
        continue;
      }
      const info = this.monitor.info(c.id);
      assert.deepEqual(
        {
          state: info?.state,
          pingOutstanding: info?.pingOutstanding,
          ended: info?.ended,
          lastReceived: info?.lastReceived,
          lastSent: info?.lastSent,
        },
        {
          state: m.state,
          pingOutstanding: m.pingOut,
          ended: m.ended,
          lastReceived: model.hasDeadlines ? model.timeOf(m.lastIn) : info?.lastReceived,
          lastSent: model.hasDeadlines ? model.timeOf(m.lastOut) : info?.lastSent,
        },
        `info(${c.context})`,
      );
    }
    if (!model.hasDeadlines) assert.equal(this.clock.pending, 0, "no timer without deadlines");
    else if (live > 0) {
      assert.equal(this.clock.pending, 1, "one timer while connections are tracked");
    } else assert.ok(this.clock.pending <= 1, "at most one timer");
  }

  #check(condition: boolean, message: () => string): void {
    if (!condition) this.#failures.push(new assert.AssertionError({ message: message() }));
  }

  #guard(body: () => void): void {
    try {
      body();
    } catch (error) {
      if (this.#failures.length === 0) this.#failures.push(error);
    }
  }
}

function describeStep(step: Step): string {
  return `${step.from} -> ${step.to} (${step.reason})`;
}

// ---- properties over random scenarios ---------------------------------------------------------

/** fast-check settings: a fixed seed per property so runs repeat; a failure prints seed and path. */
function settings(seed: number, numRuns: number): fc.Parameters<unknown> {
  return { seed, numRuns };
}

function violationsOf(kind: keyof Violations, seed: number, numRuns: number): void {
  fc.assert(
    fc.property(scenarioArb, (scenario) => {
      assert.deepEqual(new Run(scenario, false).run().violations[kind], []);
    }),
    settings(seed, numRuns),
  );
}

test("property 1: dead and closed absorb: no transition follows, whatever inputs come", () => {
  violationsOf("absorb", 1, 300);
});

test("property 2: one terminal transition per connection; size is tracked minus ended", () => {
  violationsOf("count", 2, 300);
});

test("property 3: nothing is reported for a connection after it ended, no deadline after close", () => {
  violationsOf("afterEnd", 3, 300);
});

test("property 5: activity never resurrects a dead connection nor reopens a closed one", () => {
  violationsOf("resurrect", 5, 300);
});

test("property 6: the monitor agrees with a brute-force model on every transition", () => {
  fc.assert(
    fc.property(scenarioArb, (scenario) => {
      const run = new Run(scenario, true).run();
      assert.deepEqual(run.violations, { absorb: [], count: [], afterEnd: [], resurrect: [] });
    }),
    settings(6, 1_000),
  );
});

// ---- detection bound ---------------------------------------------------------------------------

interface BoundCase {
  resolution: number;
  idle?: number;
  idleTimeout?: number;
  heartbeat?: { interval: number; timeout: number; ackOnData: boolean };
  /** Per connection: when it is tracked, then the gaps between its acks; silent after the last. */
  connections: { start: number; gaps: number[] }[];
}

const boundCaseArb: fc.Arbitrary<BoundCase> = fc.oneof(
  fc.constantFrom(1, 10, 100),
  fc.integer({ min: 1, max: 250 }),
).chain((resolution) => {
  const duration = fc.integer({ min: resolution, max: 30 * resolution });
  const heartbeat = fc.record({
    interval: duration,
    timeout: duration,
    ackOnData: fc.boolean(),
  });
  const deadlinesArb: fc.Arbitrary<Pick<BoundCase, "idleTimeout" | "heartbeat">> = fc.oneof(
    fc.record({ idleTimeout: duration }),
    fc.record({ heartbeat }),
    fc.record({ idleTimeout: duration, heartbeat }),
  );
  return deadlinesArb.chain((deadlines) => {
    const shortest = Math.min(
      deadlines.idleTimeout ?? Infinity,
      deadlines.heartbeat?.interval ?? Infinity,
    );
    // Acks closer than the shortest deadline keep a connection alive until it goes silent.
    const connection = fc.record({
      start: fc.integer({ min: 0, max: 3 * shortest }),
      gaps: fc.array(fc.integer({ min: 0, max: shortest - 1 }), { maxLength: 8 }),
    });
    return fc.record({
      resolution: fc.constant(resolution),
      idle: fc.option(duration, { nil: undefined }),
      idleTimeout: fc.constant(deadlines.idleTimeout),
      heartbeat: fc.constant(deadlines.heartbeat),
      connections: fc.array(connection, { minLength: 1, maxLength: 5 }),
    });
  });
});

test("property 4: a silent peer is declared dead after its deadline and within detectionBound()", () => {
  fc.assert(
    fc.property(boundCaseArb, (bc) => {
      const r = bc.resolution;
      const clock = new ManualClock();
      const deaths = new Map<string, Transition<string>[]>();
      const monitor = new LivenessMonitor<string>({
        clock,
        resolution: r,
        idle: bc.idle,
        idleTimeout: bc.idleTimeout,
        heartbeat: bc.heartbeat && { ...bc.heartbeat, send: () => {} },
        onTransition: (t) => {
          if (isTerminal(t.to)) deaths.set(t.context, [...deaths.get(t.context) ?? [], t]);
        },
      });
      const events: { at: number; index: number }[] = [];
      const lastInput: number[] = [];
      bc.connections.forEach((c, index) => {
        let at = c.start;
        events.push({ at, index });
        for (const gap of c.gaps) events.push({ at: at += gap, index });
        lastInput.push(at);
      });
      events.sort((a, b) => a.at - b.at); // stable: a connection's track comes before its acks
      const ids: ConnectionId[] = [];
      for (const event of events) {
        clock.advance(event.at - clock.now());
        const context = `c${event.index}`;
        assert.equal(deaths.get(context), undefined, `${context} died before it went silent`);
        if (ids[event.index] === undefined) ids[event.index] = monitor.track(context);
        else monitor.acked(ids[event.index]);
      }
      const hb = bc.heartbeat;
      const bound = detectionBound({
        keepalive: false,
        resolution: r,
        ...(bc.idleTimeout === undefined ? {} : { idleTimeout: bc.idleTimeout }),
        ...(hb === undefined ? {} : { heartbeat: { interval: hb.interval, timeout: hb.timeout } }),
      }).idleMs;
      const ticks = (ms: number | undefined) => ms === undefined ? Infinity : Math.ceil(ms / r);
      clock.advance(Math.max(...lastInput) + bound + 4 * r - clock.now());
      bc.connections.forEach((_, index) => {
        const context = `c${index}`;
        const t = deaths.get(context);
        assert.equal(t?.length, 1, `${context} ends once`);
        const { reason, at } = t[0];
        const silentFrom = lastInput[index];
        const elapsed = at - silentFrom;
        // The first tick at or after the last input's tick + ceil(d / resolution) + 1.
        const due = Math.floor(silentFrom / r) +
          Math.min(ticks(bc.idleTimeout) + 1, ticks(hb?.interval) + ticks(hb?.timeout) + 2);
        assert.equal(at, due * r, `${context} (${reason}) silent from ${silentFrom}`);
        if (reason === "idle-timeout") {
          const d = bc.idleTimeout!;
          assert.ok(elapsed >= d && elapsed <= d + 2 * r, `idle-timeout after ${elapsed} ms`);
        } else {
          assert.equal(reason, "heartbeat-timeout");
          const least = hb!.interval + hb!.timeout;
          assert.ok(elapsed >= least, `heartbeat-timeout after ${elapsed} ms`);
          // Each duration rounds up to whole ticks; with whole ticks, three ticks of slack suffice.
          if (hb!.interval % r === 0 && hb!.timeout % r === 0) {
            assert.ok(elapsed <= least + 3 * r, `heartbeat-timeout after ${elapsed} ms`);
          }
        }
        assert.ok(elapsed <= bound, `dead ${elapsed} ms after the last ack, bound ${bound} ms`);
      });
      monitor.close();
    }),
    settings(4, 500),
  );
});

// ---- scheduler stress --------------------------------------------------------------------------

/** A small seeded generator (mulberry32), so that 10,000 patterns need no fast-check shrinking. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

interface StressCase {
  resolution: number;
  /** In ticks. */
  idleTimeout?: number;
  /** In ticks. */
  heartbeat?: { interval: number; timeout: number };
  seed: number;
}

const stressArb: fc.Arbitrary<StressCase> = fc.record({
  resolution: fc.constantFrom(1, 10, 50, 100),
  mode: fc.constantFrom("idleTimeout", "heartbeat", "both"),
  idleTimeout: fc.integer({ min: 3, max: 40 }),
  interval: fc.integer({ min: 2, max: 30 }),
  timeout: fc.integer({ min: 1, max: 30 }),
  seed: fc.integer(),
}).map(({ resolution, mode, idleTimeout, interval, timeout, seed }) => ({
  resolution,
  idleTimeout: mode === "heartbeat" ? undefined : idleTimeout,
  heartbeat: mode === "idleTimeout" ? undefined : { interval, timeout },
  seed,
}));

test("property 7: with 10,000 connections every silent one dies on time and no active one dies", () => {
  fc.assert(
    fc.property(stressArb, (sc) => {
      const N = 10_000;
      const r = sc.resolution;
      const random = prng(sc.seed);
      const D = sc.idleTimeout ?? Infinity;
      const P = sc.heartbeat?.interval ?? Infinity;
      const O = sc.heartbeat?.timeout ?? 0;
      const shortest = Math.min(D, P); // in ticks; acks closer than this keep a peer alive
      const deathAfter = Math.min(D + 1, P + O + 2); // ticks from the last ack's tick
      const horizon = 4 * Math.max(D === Infinity ? 0 : D, P === Infinity ? 0 : P + O) + 8;
      // Patterns: data, then silence; answers to pings only, then silence; data all along;
      // answers to pings all along (heartbeat alone: an idle timeout would end it).
      const DATA_THEN_SILENT = 0, ANSWERS_THEN_SILENT = 1, DATA = 2, ANSWERS = 3;
      const kind = new Uint8Array(N);
      const start = new Int32Array(N);
      const period = new Int32Array(N);
      const silentFrom = new Int32Array(N); // in ticks
      const lastAck = new Int32Array(N);
      const answerAt = new Int32Array(N).fill(-1);
      const deaths: (Transition<number> | undefined)[] = new Array(N);
      const ids: ConnectionId[] = new Array(N);
      for (let i = 0; i < N; i++) {
        const roll = random(10);
        const answers = sc.heartbeat !== undefined && random(2) === 0;
        kind[i] = roll < 5
          ? answers ? ANSWERS_THEN_SILENT : DATA_THEN_SILENT
          : answers && sc.idleTimeout === undefined
          ? ANSWERS
          : DATA;
        start[i] = random(horizon / 4);
        period[i] = 1 + random(shortest - 1);
        silentFrom[i] = kind[i] <= ANSWERS_THEN_SILENT ? start[i] + random(horizon / 2) : 2 ** 30;
      }
      let tick = 0;
      const clock = new ManualClock();
      const monitor = new LivenessMonitor<number>({
        clock,
        resolution: r,
        idleTimeout: sc.idleTimeout === undefined ? undefined : sc.idleTimeout * r,
        heartbeat: sc.heartbeat === undefined ? undefined : {
          interval: sc.heartbeat.interval * r,
          timeout: sc.heartbeat.timeout * r,
          // Answered within the timeout, or never once the connection has gone silent.
          send: (i) => {
            const answers = kind[i] === ANSWERS || kind[i] === ANSWERS_THEN_SILENT;
            const at = tick + random(O + 1);
            if (answers && at < silentFrom[i]) answerAt[i] = at;
          },
        },
        onTransition: (t) => {
          if (!isTerminal(t.to)) return;
          assert.equal(deaths[t.context], undefined, `connection ${t.context} ends twice`);
          deaths[t.context] = t;
        },
      });
      const end = horizon + deathAfter + 1;
      for (; tick <= end; tick++) {
        if (tick > 0) clock.advance(r);
        for (let i = 0; i < N; i++) {
          if (tick === start[i]) {
            ids[i] = monitor.track(i);
            lastAck[i] = tick;
          } else if (tick > start[i] && deaths[i] === undefined) {
            const due = kind[i] === ANSWERS || kind[i] === ANSWERS_THEN_SILENT
              ? answerAt[i] === tick
              : tick < silentFrom[i] && tick - lastAck[i] >= period[i];
            if (due) {
              monitor.acked(ids[i]);
              lastAck[i] = tick;
            }
          }
        }
      }
      let live = 0;
      for (let i = 0; i < N; i++) {
        const t = deaths[i];
        if (kind[i] >= DATA) {
          assert.equal(t, undefined, `active connection ${i} (${kind[i]}) died: ${t?.reason}`);
          live++;
          continue;
        }
        assert.ok(t !== undefined, `silent connection ${i} (${kind[i]}) never died`);
        assert.equal(
          t.at,
          (lastAck[i] + deathAfter) * r,
          `connection ${i} (${kind[i]}): ${t.reason} ${
            t.at / r - lastAck[i]
          } ticks after its last ack`,
        );
      }
      assert.equal(monitor.size, live);
      monitor.close();
    }),
    settings(7, 10),
  );
});

// ---- close() from a callback -------------------------------------------------------------------

test("property 8: monitor.close() from any callback stops every callback at once", () => {
  fc.assert(
    fc.property(scenarioArb, fc.nat({ max: 30 }), (scenario, closeAt) => {
      const o = scenario.options;
      const clock = new ManualClock(o.start);
      let calls = 0;
      let closedAt = -1;
      const after: string[] = [];
      const refs: { monitor?: LivenessMonitor<string> } = {};
      const called = (what: string) => {
        if (closedAt >= 0) after.push(what);
        else if (calls++ === closeAt) {
          refs.monitor!.close();
          closedAt = clock.now();
        }
      };
      const monitor = new LivenessMonitor<string>({
        clock,
        resolution: o.resolution,
        idle: o.idle,
        idleTimeout: o.idleTimeout,
        heartbeat: o.heartbeat && { ...o.heartbeat, send: (c) => called(`send ${c}`) },
        onTransition: (t) => called(`${t.context}: ${t.from} -> ${t.to} (${t.reason})`),
        onEnd: (c) => called(`end ${c}`),
        onError: (error) => called(`error ${String(error)}`),
      });
      refs.monitor = monitor;
      const driver: Driver<string> = { destroy: (c) => called(`destroy ${c}`) };
      const ids: ConnectionId[] = [];
      for (const op of scenario.ops) {
        if (op.kind === "advance") clock.advance(op.ms);
        else if (op.kind === "track") {
          if (closedAt >= 0) {
            assert.throws(() => monitor.track("late"));
          } else ids.push(monitor.track(`c${ids.length}`, op.driver ? driver : undefined));
        } else if (ids.length > 0) {
          const id = ids[op.target % ids.length];
          if (op.kind === "failed") monitor.failed(id, ERRORS[op.error].make());
          else monitor[op.kind](id);
        }
        if (closedAt >= 0) {
          assert.deepEqual(after, [], `callbacks after close() at ${closedAt}`);
          assert.equal(monitor.size, 0);
          assert.equal(clock.pending, 0);
        }
      }
      monitor.close();
    }),
    settings(8, 300),
  );
});

// ---- counterexamples found by the properties, as plain tests -----------------------------------

test("regression: an answered ping does not delay the next one until the old timeout", () => {
  // Property 6 (seed 6): interval shorter than timeout, the answer comes at once.
  const clock = new ManualClock();
  const log: string[] = [];
  const monitor = new LivenessMonitor<string>({
    clock,
    resolution: 100,
    heartbeat: { interval: 100, timeout: 1_000, send: () => {} },
    onTransition: (t) => log.push(`${t.from} -> ${t.to} (${t.reason}) @${t.at}`),
  });
  const id = monitor.track("a");
  clock.advance(200);
  monitor.acked(id);
  clock.advance(3_000);
  assert.deepEqual(log, [
    "open -> probing (ping-sent) @200",
    "probing -> open (ack) @200",
    "open -> probing (ping-sent) @400",
    "probing -> dead (heartbeat-timeout) @1500",
  ]);
  const bound = monitor.bound().idleMs;
  assert.ok(1_500 - 200 <= bound, `dead 1300 ms after the last ack, bound ${bound} ms`);
  monitor.close();
});

test("regression: a ping answered inside heartbeat.send does not make the connection idle", () => {
  // Property 6 (seed 6): traffic reported by a callback during a tick must count in that tick.
  const clock = new ManualClock();
  const log: string[] = [];
  const refs: { monitor?: LivenessMonitor<string> } = {};
  const monitor = new LivenessMonitor<string>({
    clock,
    resolution: 100,
    idle: "1s",
    heartbeat: { interval: "1s", timeout: "1s", send: (_c, id) => refs.monitor!.acked(id) },
    onTransition: (t) => log.push(`${t.from} -> ${t.to} (${t.reason}) @${t.at}`),
  });
  refs.monitor = monitor;
  monitor.track("a");
  clock.advance(1_100);
  assert.deepEqual(log, ["open -> probing (ping-sent) @1100", "probing -> open (ack) @1100"]);
  monitor.close();
});

test("regression: close() in onTransition stops the tick it is called from", () => {
  // Property 8 (seed 8): the rest of the bucket still ran, with undefined contexts.
  const clock = new ManualClock();
  const log: string[] = [];
  const refs: { monitor?: LivenessMonitor<string> } = {};
  const monitor = new LivenessMonitor<string>({
    clock,
    resolution: 100,
    idleTimeout: "1s",
    onTransition: (t) => {
      log.push(`${t.context}: ${t.to}`);
      refs.monitor!.close();
    },
  });
  refs.monitor = monitor;
  monitor.track("a");
  monitor.track("b");
  monitor.track("c");
  clock.advance(1_100);
  assert.deepEqual(log, ["a: dead"]);
  assert.equal(monitor.size, 0);
});

test("regression: detectionBound() covers a heartbeat whose durations are not whole ticks", () => {
  // Property 4 (seed 4): each duration rounds up to whole ticks, which the bound did not count.
  const clock = new ManualClock();
  let dead = -1;
  const monitor = new LivenessMonitor<string>({
    clock,
    resolution: 100,
    heartbeat: { interval: 101, timeout: 101, send: () => {} },
    onTransition: (t) => {
      if (t.to === "dead") dead = t.at;
    },
  });
  monitor.track("a");
  clock.advance(1_000);
  const bound = detectionBound({
    keepalive: false,
    heartbeat: { interval: 101, timeout: 101 },
    resolution: 100,
  });
  assert.equal(dead, 600);
  assert.ok(dead <= bound.idleMs, `dead after ${dead} ms, bound ${bound.idleMs} ms`);
  monitor.close();
});

test("regression: a late input for an ended connection never reaches a later one", () => {
  // Ids carry a 7-bit generation and the free list reuses the last freed slot first.
  const monitor = new LivenessMonitor<string>({ clock: new ManualClock() });
  const old = monitor.track("old");
  monitor.closed(old);
  for (let i = 0; i < 300; i++) {
    const id = monitor.track(`c${i}`);
    monitor.failed(old, nodeError("ECONNRESET"));
    assert.equal(monitor.state(id), "open", `connection ${i} was killed by the old id ${old}`);
    monitor.closed(id);
  }
  monitor.close();
});
