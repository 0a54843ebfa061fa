import { test } from "node:test";
import assert from "node:assert/strict";
import { phi, phiCrossing } from "../mod.ts";
import { grown, Suspicion, type SuspicionSettings } from "../src/_suspicion.ts";

const RESOLUTION = 10;

function suspicion(settings: Partial<SuspicionSettings> = {}, capacity = 1): Suspicion {
  const s = new Suspicion({
    threshold: 8,
    maxSamples: 4,
    minStdDeviationMs: 100,
    acceptablePauseMs: 0,
    firstEstimateMs: 1000,
    ...settings,
  }, RESOLUTION);
  s.grow(capacity);
  return s;
}

/** Resets `slot` at `start`, then records an arrival after each gap; returns the last arrival. */
function feed(s: Suspicion, slot: number, start: number, gaps: readonly number[]): number {
  s.reset(slot, start, start / RESOLUTION, RESOLUTION);
  return arrive(s, slot, start, gaps);
}

function arrive(s: Suspicion, slot: number, from: number, gaps: readonly number[]): number {
  let now = from;
  for (const gap of gaps) {
    now += gap;
    s.arrival(slot, now, Math.floor(now / RESOLUTION), RESOLUTION);
  }
  return now;
}

/** Asserts φ of `slot` is that of `mean` ± `sd` for a few silences after `last`. */
function judgedBy(s: Suspicion, slot: number, last: number, mean: number, sd: number): void {
  for (const elapsed of [0, mean / 2, mean, mean + sd, mean + 3 * sd]) {
    const actual = s.phiAt(slot, last + elapsed);
    const expected = phi(elapsed, mean, sd);
    assert.ok(
      Math.abs(actual - expected) < 1e-9,
      `slot ${slot}, ${elapsed} ms after the last arrival: φ ${actual}, expected ${expected} (${mean} ± ${sd})`,
    );
  }
}

test("grown copies an array into a larger one of the same type, with room per slot", () => {
  const small = Uint16Array.of(1, 2, 3);
  const bigger = grown(small, 5);
  assert.ok(bigger instanceof Uint16Array);
  assert.notEqual(bigger, small);
  assert.deepEqual([...bigger], [1, 2, 3, 0, 0]);
  assert.deepEqual([...small], [1, 2, 3]);
  const rings = grown(Float32Array.of(0.5, 1.5, 2.5, 3.5, 4.5, 5.5), 4, 3);
  assert.ok(rings instanceof Float32Array);
  assert.deepEqual([...rings], [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 0, 0, 0, 0, 0, 0]);
});

test("a slot without samples is judged by the first estimate, a quarter of it as deviation", () => {
  const s = suspicion({}, 3);
  s.reset(1, 5_000, 500, RESOLUTION);
  judgedBy(s, 1, 5_000, 1000, 250);
  // φ reaches 8 at 1000 + 5.225987 × 250 ≈ 2306.5 ms: 231 ticks of 10 ms.
  assert.equal(s.ticksLeft(1, 500), 231);
  const floored = suspicion({ firstEstimateMs: 200 });
  floored.reset(0, 0, 0, RESOLUTION);
  judgedBy(floored, 0, 0, 200, 100);
  const paused = suspicion({ acceptablePauseMs: 500 });
  paused.reset(0, 0, 0, RESOLUTION);
  judgedBy(paused, 0, 0, 1500, 250);
});

test("the mean and deviation are those of the intervals since the reset, plus the pause", () => {
  // 1000, 1200, 800, 1000 ms: mean 1000, population sd √((0 + 200² + 200² + 0) / 4) = √20000.
  const s = suspicion();
  judgedBy(s, 0, feed(s, 0, 0, [1000, 1200, 800, 1000]), 1000, Math.sqrt(20_000));
  const paused = suspicion({ acceptablePauseMs: 500 });
  judgedBy(paused, 0, feed(paused, 0, 0, [1000, 1200, 800, 1000]), 1500, Math.sqrt(20_000));
  // Regular arrivals have no spread: the minimum deviation applies.
  const regular = suspicion({ minStdDeviationMs: 40 });
  judgedBy(regular, 0, feed(regular, 0, 0, [500, 500, 500]), 500, 40);
});

test("the ring keeps the last maxSamples intervals and drops the oldest first", () => {
  const s = suspicion({ maxSamples: 3 });
  // 5000 is dropped: 1000, 2000, 3000 give mean 2000, sd √((1000² + 0 + 1000²) / 3).
  let last = feed(s, 0, 0, [5000, 1000, 2000, 3000]);
  judgedBy(s, 0, last, 2000, Math.sqrt(2_000_000 / 3));
  last = arrive(s, 0, last, [4000]);
  judgedBy(s, 0, last, 3000, Math.sqrt(2_000_000 / 3));
  last = arrive(s, 0, last, [300, 300, 300, 300, 300, 300, 300, 100]);
  // 300, 300, 100: mean 700 / 3, sd √((66.7² × 2 + 133.3²) / 3) ≈ 94.3, floored to 100.
  judgedBy(s, 0, last, 700 / 3, 100);
});

test("after thousands of arrivals the running sums are still those of the samples in the ring", () => {
  // Intervals are kept as 32-bit floats: the sums must add what is stored, so removing it is exact.
  const s = suspicion({ maxSamples: 5, minStdDeviationMs: 1 });
  s.reset(0, 0, 0, RESOLUTION);
  const intervals: number[] = [];
  let now = 0;
  let seed = 11;
  for (let i = 0; i < 5_000; i++) {
    seed = (seed * 48_271) % 2_147_483_647;
    const next = now + 400 + (seed % 1_000_000) / 997;
    intervals.push(next - now);
    now = next;
    s.arrival(0, now, Math.floor(now / RESOLUTION), RESOLUTION);
  }
  const ring = intervals.slice(-5).map(Math.fround);
  const mean = ring.reduce((sum, x) => sum + x, 0) / 5;
  const sd = Math.sqrt(ring.reduce((sum, x) => sum + (x - mean) ** 2, 0) / 5);
  judgedBy(s, 0, now, mean, sd);
});

test("each slot keeps its own samples and silence", () => {
  const s = suspicion({}, 3);
  s.reset(0, 0, 0, RESOLUTION);
  s.reset(1, 0, 0, RESOLUTION);
  s.reset(2, 0, 0, RESOLUTION);
  let a = 0;
  let c = 0;
  for (let i = 0; i < 6; i++) {
    a = arrive(s, 0, a, [1000]);
    c = arrive(s, 2, c, [i % 2 === 0 ? 1500 : 2500]);
  }
  judgedBy(s, 0, a, 1000, 100);
  judgedBy(s, 1, 0, 1000, 250);
  judgedBy(s, 2, c, 2000, 500);
  s.reset(2, 20_000, 2_000, RESOLUTION);
  judgedBy(s, 2, 20_000, 1000, 250);
  judgedBy(s, 0, a, 1000, 100);
});

test("a reset forgets the samples, so a reused slot starts afresh", () => {
  const s = suspicion({ minStdDeviationMs: 10 });
  const last = feed(s, 0, 0, [5000, 6000, 7000, 8000, 9000]); // the ring wrapped once
  s.reset(0, last + 100, (last + 100) / RESOLUTION, RESOLUTION);
  // 300 and 500: mean 400, sd 100.
  let now = arrive(s, 0, last + 100, [300, 500]);
  judgedBy(s, 0, now, 400, 100);
  now = arrive(s, 0, now, [300, 500, 300]); // full again, and the first 300 dropped
  judgedBy(s, 0, now, 400, 100);
});

test("a restart counts the silence from then and keeps the samples", () => {
  const s = suspicion();
  const last = feed(s, 0, 0, [1000, 1000, 1000]);
  const woken = last + 60_000;
  s.restart(0, woken, woken / RESOLUTION, RESOLUTION);
  judgedBy(s, 0, woken, 1000, 100);
  assert.equal(s.ticksLeft(0, woken / RESOLUTION), 153);
  // The next interval counts from the restart, not from the last arrival.
  judgedBy(s, 0, arrive(s, 0, woken, [1000]), 1000, 100);
});

test("growing keeps every slot's samples, silence and deadline", () => {
  const s = suspicion({}, 2);
  let a = feed(s, 0, 0, [1000, 1200, 800, 1000]);
  let b = feed(s, 1, 0, [3000, 1000, 1000, 3000]);
  const left = [s.ticksLeft(0, 400), s.ticksLeft(1, 800)];
  s.grow(6);
  assert.deepEqual([s.ticksLeft(0, 400), s.ticksLeft(1, 800)], left);
  judgedBy(s, 0, a, 1000, Math.sqrt(20_000));
  judgedBy(s, 1, b, 2000, 1000);
  judgedBy(s, 5, feed(s, 5, 0, [700, 700]), 700, 100);
  a = arrive(s, 0, a, [1000]); // drops 1000: 1200, 800, 1000, 1000
  judgedBy(s, 0, a, 1000, Math.sqrt(20_000));
  b = arrive(s, 1, b, [2000]); // drops 3000: 1000, 1000, 3000, 2000
  judgedBy(s, 1, b, 1750, Math.sqrt(687_500));
});

test("the deadline is the tick at which φ passes the threshold, counted from the arrival", () => {
  const s = suspicion();
  const last = feed(s, 0, 0, [1000, 1000, 1000, 1000]);
  const tick = last / RESOLUTION;
  // φ reaches 8 at 1000 + 5.225987 × 100 ≈ 1522.6 ms: 153 ticks of 10 ms.
  assert.equal(s.ticksLeft(0, tick), 153);
  assert.equal(s.ticksLeft(0, tick + 100), 53);
  assert.equal(s.ticksLeft(0, tick + 153), 0);
  assert.ok(s.phiAt(0, last + 1530) >= 8);
  assert.ok(s.phiAt(0, last + 1520) < 8);
  // A more erratic rhythm puts it further: 1000 + 5.225987 × √20000 ≈ 1739.1 ms, 174 ticks.
  const erratic = suspicion();
  assert.equal(
    erratic.ticksLeft(0, feed(erratic, 0, 0, [1000, 1200, 800, 1000]) / RESOLUTION),
    174,
  );
});

test("no samples bring φ's crossing sooner than soonestTicks", () => {
  // The crossing with mean 0 and the minimum deviation: 5.225987 × 100 ≈ 522.6 ms.
  assert.equal(suspicion().soonestTicks, 52);
  assert.equal(suspicion({ acceptablePauseMs: 1000 }).soonestTicks, 152);
  assert.equal(
    new Suspicion({ ...suspicion().settings }, 1000).soonestTicks,
    1,
    "never less than a tick",
  );
  const sequences = [
    [0, 0, 0, 0, 0],
    [1, 0, 2, 0, 1],
    [10_000, 0, 0, 0, 0],
    [1000, 1000, 1000, 1000],
    [5, 50_000, 5, 50_000],
  ];
  for (const settings of [{}, { acceptablePauseMs: 1000 }, { maxSamples: 100 }]) {
    const s = suspicion(settings);
    for (const gaps of sequences) {
      s.reset(0, 0, 0, RESOLUTION);
      let now = 0;
      for (const gap of gaps) {
        now += gap;
        const tick = Math.floor(now / RESOLUTION);
        s.arrival(0, now, tick, RESOLUTION);
        const left = s.ticksLeft(0, tick);
        assert.ok(left >= s.soonestTicks, `${left} ticks after ${gaps}, soonest ${s.soonestTicks}`);
      }
    }
  }
});

test("below log10(2) a wider spread brings the crossing sooner: soonestTicks is the next tick", () => {
  // φ passes 0.1 before the mean; one long gap among many short ones spreads the samples so far
  // that it passes 0.1 well before the pause it would have with no spread.
  const settings = { threshold: 0.1, acceptablePauseMs: 10_000, maxSamples: 100 };
  const s = suspicion(settings);
  assert.equal(s.soonestTicks, 1);
  const last = feed(s, 0, 0, [100_000, ...new Array(99).fill(0)]);
  const left = s.ticksLeft(0, Math.floor(last / RESOLUTION));
  const unspread = Math.floor(phiCrossing(0.1, 10_000, 100) / RESOLUTION);
  assert.ok(left < unspread, `${left} ticks, ${unspread} with no spread`);
  assert.ok(left >= s.soonestTicks);
});
