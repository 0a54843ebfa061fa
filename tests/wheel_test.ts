// The monitor's timing wheel (src/_wheel.ts) on its own: buckets are lists linked through the
// caller's `next` array, and a tick takes its bucket's whole list.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TimingWheel, WHEEL_SIZE } from "../src/_wheel.ts";

/** The slots of a taken list, in order. */
function walk(next: Int32Array, head: number): number[] {
  const slots: number[] = [];
  for (let slot = head; slot >= 0; slot = next[slot]) {
    slots.push(slot);
    assert.ok(slots.length <= next.length, `the list from ${head} loops`);
  }
  return slots;
}

test("an empty wheel has nothing on any tick", () => {
  const wheel = new TimingWheel();
  for (let tick = 0; tick < WHEEL_SIZE; tick++) assert.equal(wheel.take(tick), -1);
});

test("a slot filed wait ticks ahead comes off at that tick and no other", () => {
  const wheel = new TimingWheel();
  const next = new Int32Array(8).fill(5);
  wheel.link(next, 7, 100, 5);
  for (let tick = 100; tick < 105; tick++) assert.equal(wheel.take(tick), -1);
  assert.deepEqual(walk(next, wheel.take(105)), [7]);
  for (let tick = 106; tick < 100 + WHEEL_SIZE; tick++) assert.equal(wheel.take(tick), -1);
});

test("a bucket gives its slots in the order they were filed, whatever their next held before", () => {
  const wheel = new TimingWheel();
  const next = Int32Array.from([1, 2, 3, 0]);
  wheel.link(next, 3, 10, 5);
  wheel.link(next, 1, 12, 3);
  wheel.link(next, 0, 20, 1);
  wheel.link(next, 2, 14, 1);
  assert.deepEqual(walk(next, wheel.take(15)), [3, 1, 2]);
  assert.deepEqual(walk(next, wheel.take(21)), [0]);
});

test("taking a bucket empties it: slots filed there afterwards start a new list", () => {
  const wheel = new TimingWheel();
  const next = new Int32Array(4);
  wheel.link(next, 0, 0, 3);
  wheel.link(next, 1, 0, 3);
  const taken = wheel.take(3);
  assert.equal(wheel.take(3), -1);
  wheel.link(next, 2, 4, WHEEL_SIZE - 1);
  assert.deepEqual(walk(next, taken), [0, 1]);
  assert.deepEqual(walk(next, wheel.take(3 + WHEEL_SIZE)), [2]);
});

test("a wait under one tick is the next tick, never the one being taken", () => {
  const wheel = new TimingWheel();
  const next = new Int32Array(4);
  wheel.link(next, 0, 50, 0);
  wheel.link(next, 1, 50, -3);
  wheel.link(next, 2, 50, 0.5);
  assert.equal(wheel.take(50), -1);
  assert.deepEqual(walk(next, wheel.take(51)), [0, 1, 2]);
});

test("a wait of a lap or more is filed at the end of the lap, never back on the current tick", () => {
  const wheel = new TimingWheel();
  const next = new Int32Array(4);
  wheel.link(next, 0, 50, WHEEL_SIZE);
  wheel.link(next, 1, 50, 5_000);
  wheel.link(next, 2, 50, WHEEL_SIZE - 1);
  for (let tick = 50; tick < 50 + WHEEL_SIZE - 1; tick++) assert.equal(wheel.take(tick), -1);
  assert.deepEqual(walk(next, wheel.take(50 + WHEEL_SIZE - 1)), [0, 1, 2]);
  assert.equal(wheel.take(50 + WHEEL_SIZE), -1);
});

test("a deadline across the end of a lap comes off at its tick, however far the ticks have run", () => {
  const wheel = new TimingWheel();
  const next = new Int32Array(4);
  for (const lap of [0, 1, 2 ** 21 - 1, 2 ** 22, 2 ** 42]) {
    const end = lap * WHEEL_SIZE + WHEEL_SIZE;
    wheel.link(next, 0, end - 4, 10);
    for (let tick = end - 3; tick < end + 6; tick++) assert.equal(wheel.take(tick), -1);
    assert.deepEqual(walk(next, wheel.take(end + 6)), [0], `lap ${lap}`);
  }
});

test("clear empties every bucket, and lists filed after it start afresh", () => {
  const wheel = new TimingWheel();
  const next = new Int32Array(WHEEL_SIZE + 1);
  for (let slot = 0; slot < WHEEL_SIZE; slot++) wheel.link(next, slot, slot, 1);
  wheel.clear();
  for (let tick = 0; tick < WHEEL_SIZE; tick++) assert.equal(wheel.take(tick), -1);
  wheel.link(next, WHEEL_SIZE, 0, 1);
  wheel.link(next, 7, 0, 1);
  assert.deepEqual(walk(next, wheel.take(1)), [WHEEL_SIZE, 7]);
});

test("the lists live in the caller's next array: they carry on through a grown copy of it", () => {
  const wheel = new TimingWheel();
  const small = new Int32Array(2);
  wheel.link(small, 0, 0, 9);
  wheel.link(small, 1, 0, 9);
  const grown = new Int32Array(4);
  grown.set(small);
  wheel.link(grown, 3, 0, 9);
  assert.deepEqual(walk(grown, wheel.take(9)), [0, 1, 3]);
});
