// The checks every option goes through (src/_validate.ts): the error class, and a message that names
// the option and what it allows, in sentence case without a trailing period.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  describe,
  functionOrUndefined,
  integerIn,
  knownKeys,
  objectOrUndefined,
} from "../src/_validate.ts";

test("describe names a bad value's kind, quotes strings and prints other primitives", () => {
  const cases: [unknown, string][] = [
    [null, "null"],
    [undefined, "undefined"],
    [[1, 2], "an array"],
    [{ a: 1 }, "an object"],
    [new Date(0), "an object"],
    [() => 1, "a function"],
    [class {}, "a function"],
    ["30x", '"30x"'],
    ["", '""'],
    [true, "boolean true"],
    [1.5, "number 1.5"],
    [NaN, "number NaN"],
    [-Infinity, "number -Infinity"],
    [10n, "bigint 10"],
    [Symbol("s"), "symbol Symbol(s)"],
  ];
  for (const [value, text] of cases) assert.equal(describe(value), text, text);
});

test("integerIn returns an integer from min to max, both included", () => {
  assert.equal(integerIn(1, "capacity", 1, 16_777_216), 1);
  assert.equal(integerIn(16_777_216, "capacity", 1, 16_777_216), 16_777_216);
  assert.equal(integerIn(0, "pingEnforcement.maxStrikes", 0, 255), 0);
  assert.equal(integerIn(3e2, "maxSamples", 2, 10_000), 300);
});

test("integerIn rejects a number outside the range or not whole with a RangeError", () => {
  const range = 'Option "pingEnforcement.maxStrikes" must be an integer from 0 to 255, got';
  for (const [value, shown] of [[-1, "-1"], [256, "256"], [1.5, "1.5"], [NaN, "NaN"]] as const) {
    assert.throws(() => integerIn(value, "pingEnforcement.maxStrikes", 0, 255), {
      name: "RangeError",
      message: `${range} ${shown}`,
    });
  }
  assert.throws(() => integerIn(Infinity, "capacity", 1, 16_777_216), {
    name: "RangeError",
    message: 'Option "capacity" must be an integer from 1 to 16777216, got Infinity',
  });
});

test("integerIn rejects what is not a number with a TypeError that describes it", () => {
  const cases: [unknown, string][] = [
    ["5", '"5"'],
    [null, "null"],
    [5n, "bigint 5"],
    [[5], "an array"],
    [{}, "an object"],
  ];
  for (const [value, shown] of cases) {
    assert.throws(() => integerIn(value, "keepalive.count", 1, 127), {
      name: "TypeError",
      message: `Option "keepalive.count" must be an integer from 1 to 127, got ${shown}`,
    });
  }
});

test("objectOrUndefined passes an object or undefined through and rejects anything else", () => {
  const object = { interval: "1s" };
  assert.equal(objectOrUndefined(object, "heartbeat"), object);
  assert.equal(objectOrUndefined(undefined, "heartbeat"), undefined);
  const cases: [unknown, string][] = [
    [null, "null"],
    [[], "an array"],
    [() => {}, "a function"],
    ["1s", '"1s"'],
    [1, "number 1"],
    [false, "boolean false"],
  ];
  for (const [value, shown] of cases) {
    assert.throws(() => objectOrUndefined(value, "heartbeat"), {
      name: "TypeError",
      message: `Option "heartbeat" must be an object, got ${shown}`,
    });
  }
});

test("functionOrUndefined passes a function or undefined through and rejects anything else", () => {
  const send = () => {};
  assert.equal(functionOrUndefined(send, "heartbeat.send"), send);
  assert.equal(functionOrUndefined(undefined, "heartbeat.send"), undefined);
  const cases: [unknown, string][] = [
    [null, "null"],
    [{ call() {} }, "an object"],
    ["send", '"send"'],
    [0, "number 0"],
  ];
  for (const [value, shown] of cases) {
    assert.throws(() => functionOrUndefined(value, "heartbeat.send"), {
      name: "TypeError",
      message: `Option "heartbeat.send" must be a function, got ${shown}`,
    });
  }
});

test("knownKeys accepts the keys it knows, any subset of them", () => {
  const keys = ["interval", "timeout", "send"];
  knownKeys({}, "heartbeat", keys);
  knownKeys({ interval: "1s", send: () => {} }, "heartbeat", keys);
  knownKeys({ interval: "1s", timeout: "1s", send: () => {} }, "heartbeat", keys);
});

test("knownKeys rejects the first key it does not know, by its path, listing those it knows", () => {
  const keys = ["interval", "timeout", "send"];
  assert.throws(() => knownKeys({ interval: "1s", sned: 1, tiemout: 2 }, "heartbeat", keys), {
    name: "TypeError",
    message: 'Unknown option "heartbeat.sned": expected one of interval, timeout, send',
  });
  assert.throws(() => knownKeys({ idel: undefined }, "", ["idle", "maxAge"]), {
    name: "TypeError",
    message: 'Unknown option "idel": expected one of idle, maxAge',
  });
});
