// The monitor's histograms (src/_histogram.ts) on their own: snapshots have the shape that
// `Histogram` in src/stats.ts documents and that `toPrometheus` checks, with Prometheus' `le`
// buckets (a value counts in every bucket whose bound it does not exceed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Buckets, DETECT_BOUNDS, RTT_BOUNDS } from "../src/_histogram.ts";

test("an empty histogram counts nothing under any bound", () => {
  assert.deepEqual(new Buckets([10, 50, 100]).snapshot(), {
    bounds: [10, 50, 100],
    counts: [0, 0, 0],
    count: 0,
    sum: 0,
  });
  assert.deepEqual(new Buckets([]).snapshot(), { bounds: [], counts: [], count: 0, sum: 0 });
});

test("a value exactly on a bound counts under that bound", () => {
  const buckets = new Buckets([10, 50, 100]);
  buckets.observe(10);
  buckets.observe(50);
  buckets.observe(100);
  assert.deepEqual(buckets.snapshot().counts, [1, 2, 3]);
});

test("a value below the first bound counts under every bound", () => {
  const buckets = new Buckets([10, 50, 100]);
  buckets.observe(0);
  buckets.observe(9.999);
  assert.deepEqual(buckets.snapshot().counts, [2, 2, 2]);
});

test("a value above the last bound counts only in count and sum", () => {
  const buckets = new Buckets([10, 50, 100]);
  buckets.observe(100.001);
  buckets.observe(1e12);
  assert.deepEqual(buckets.snapshot(), {
    bounds: [10, 50, 100],
    counts: [0, 0, 0],
    count: 2,
    sum: 100.001 + 1e12,
  });
});

test("counts are cumulative and count and sum cover every observation", () => {
  const buckets = new Buckets([10, 50, 100]);
  for (const ms of [3, 10.5, 20, 50.25, 75, 99, 100, 250]) buckets.observe(ms);
  assert.deepEqual(buckets.snapshot(), {
    bounds: [10, 50, 100],
    counts: [1, 3, 7],
    count: 8,
    sum: 3 + 10.5 + 20 + 50.25 + 75 + 99 + 100 + 250,
  });
});

test("a snapshot is a copy: taking it changes nothing, later observations leave it as it was", () => {
  const buckets = new Buckets([10, 50, 100]);
  buckets.observe(5);
  buckets.observe(60);
  const first = buckets.snapshot();
  assert.deepEqual(buckets.snapshot(), first);
  buckets.observe(5);
  const second = buckets.snapshot();
  assert.deepEqual(first, { bounds: [10, 50, 100], counts: [1, 1, 2], count: 2, sum: 65 });
  assert.deepEqual(second, { bounds: [10, 50, 100], counts: [2, 2, 3], count: 3, sum: 70 });
});

test("time-to-detect runs from 10 ms to 4 h and round trips from 0.5 ms to 10 s", () => {
  assert.equal(DETECT_BOUNDS[0], 10);
  assert.equal(DETECT_BOUNDS.at(-1), 4 * 3_600_000);
  assert.equal(RTT_BOUNDS[0], 0.5);
  assert.equal(RTT_BOUNDS.at(-1), 10_000);
});

test("the monitor's bounds are finite and strictly ascending: each bound has a bucket of its own", () => {
  for (const bounds of [DETECT_BOUNDS, RTT_BOUNDS]) {
    const buckets = new Buckets(bounds);
    for (const bound of bounds) {
      assert.ok(Number.isFinite(bound) && bound > 0, `bound ${bound}`);
      buckets.observe(bound);
    }
    assert.deepEqual(buckets.snapshot().counts, bounds.map((_, i) => i + 1));
    assert.ok(bounds.every((bound, i) => i === 0 || bound > bounds[i - 1]), `${bounds}`);
  }
});
