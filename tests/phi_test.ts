import { test } from "node:test";
import assert from "node:assert/strict";
import { phi, phiCrossing } from "../mod.ts";

function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected}`);
}

test("phi is log10(2) at the mean and follows the normal tail a few deviations either side", () => {
  // y = (elapsed − mean) / sd, e = exp(−y (1.5976 + 0.070566 y²)), φ = −log10(e / (1 + e)):
  // y = 0: e = 1, φ = log10 2. y = 1: e ≈ 0.188593, e / (1 + e) ≈ 0.158669 (the normal tail beyond
  // one deviation), φ ≈ 0.79951. y = 2: e ≈ 0.0232901, tail ≈ 0.0227600, φ ≈ 1.64283.
  // y = 3: e ≈ 0.00123328, tail ≈ 0.00123176, φ ≈ 2.90948. y = −1: e ≈ 5.30243, tail ≈ 0.841331,
  // φ ≈ 0.07503.
  near(phi(1000, 1000, 100), Math.log10(2), 1e-12, "y = 0");
  near(phi(1100, 1000, 100), 0.79951, 1e-5, "y = 1");
  near(phi(1200, 1000, 100), 1.64283, 1e-5, "y = 2");
  near(phi(1300, 1000, 100), 2.90948, 1e-5, "y = 3");
  near(phi(900, 1000, 100), 0.07503, 1e-5, "y = −1");
  // Only y matters: the same silence in deviations gives the same φ at any scale.
  near(phi(60_000 + 3 * 7_000, 60_000, 7_000), phi(1300, 1000, 100), 1e-12, "scaled y = 3");
  near(phi(0, 0, 100), Math.log10(2), 1e-12, "no silence, mean 0");
});

test("phi matches Akka's formula on both sides of the mean", () => {
  // Inter-arrival samples 1000, 1200, 800, 1000 ms: mean 1000, population sd √20000 ≈ 141.42.
  const sd = Math.sqrt(20_000);
  const byHand = (elapsed: number) => {
    const y = (elapsed - 1000) / sd;
    const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
    return elapsed > 1000 ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
  };
  for (const elapsed of [0, 500, 900, 999.9, 1000, 1000.1, 1100, 1300, 1500, 1700]) {
    near(phi(elapsed, 1000, sd), byHand(elapsed), 1e-12, `φ at ${elapsed}`);
  }
});

test("phi stays finite and precise far into the tail", () => {
  // At y = 8, e ≈ 5.7e−22: 1 − 1 / (1 + e) rounds to 0, but e / (1 + e) does not, and there
  // φ ≈ −log10(e) = y (1.5976 + 0.070566 y²) / ln 10 = 8 × 6.113824 / 2.302585 ≈ 21.2416.
  near(phi(1800, 1000, 100), (8 * (1.5976 + 0.070566 * 64)) / Math.LN10, 1e-9, "y = 8");
  near(phi(1600, 1000, 100), (6 * (1.5976 + 0.070566 * 36)) / Math.LN10, 1e-9, "y = 6");
});

test("phi is 0, never negative, for a silence far shorter than the mean", () => {
  assert.equal(phi(0, 1000, 100), 0);
  assert.equal(phi(0, 2_147_483_647, 100), 0);
  for (const sd of [0.001, 1, 100, 10_000]) {
    for (const elapsed of [0, 1, 10, 100, 1_000, 10_000, 100_000]) {
      for (const mean of [0, 1, 1_000, 100_000]) {
        const value = phi(elapsed, mean, sd);
        assert.ok(value >= 0, `φ(${elapsed}, ${mean}, ${sd}) = ${value}`);
      }
    }
  }
});

test("phi never falls as the silence grows, and falls as the mean grows", () => {
  for (const [mean, sd] of [[1000, 100], [1000, 1], [0, 100], [50, 5_000]]) {
    let previous = 0;
    for (let elapsed = 0; elapsed <= 3_000; elapsed += 0.5) {
      const value = phi(elapsed, mean, sd);
      assert.ok(value >= previous, `φ(${elapsed}, ${mean}, ${sd}) = ${value} < ${previous}`);
      previous = value;
    }
  }
  assert.ok(phi(1500, 1200, 100) < phi(1500, 1000, 100));
  // A wider spread of arrivals makes a long silence less suspicious, a short one more.
  assert.ok(phi(1500, 1000, 200) < phi(1500, 1000, 100));
  assert.ok(phi(500, 1000, 200) > phi(500, 1000, 100));
});

test("with a tiny deviation phi is a step at the mean", () => {
  assert.equal(phi(999.99, 1000, 1e-6), 0);
  near(phi(1000, 1000, 1e-6), Math.log10(2), 1e-12, "at the mean");
  assert.equal(phi(1000.01, 1000, 1e-6), Infinity);
  const at = phiCrossing(8, 1000, 1e-6);
  assert.ok(at > 1000 && at <= 1000.1, `crossing at ${at}`);
});

test("phi and phiCrossing reject a negative silence, mean or deviation, naming the argument", () => {
  assert.throws(() => phi(-1, 1000, 100), {
    name: "RangeError",
    message: 'Argument "elapsed" must be a finite number of milliseconds, 0 or more, got -1',
  });
  assert.throws(() => phi(1000, -0.5, 100), {
    name: "RangeError",
    message: 'Argument "mean" must be a finite number of milliseconds, 0 or more, got -0.5',
  });
  assert.throws(() => phi(1000, 1000, -5), {
    name: "RangeError",
    message: 'Argument "stdDeviation" must be a finite number of milliseconds above 0, got -5',
  });
  assert.throws(() => phiCrossing(Infinity, 1000, 100), {
    name: "RangeError",
    message: 'Argument "threshold" must be a finite number above 0, got Infinity',
  });
  assert.throws(() => phiCrossing(8, -1, 100), {
    name: "RangeError",
    message: 'Argument "mean" must be a finite number of milliseconds, 0 or more, got -1',
  });
  assert.throws(() => phiCrossing(-8, 1000, 100), { name: "RangeError" });
});

test("phi and phiCrossing reject what is not a number with a TypeError that describes it", () => {
  assert.throws(() => phi("5" as never, 1000, 100), {
    name: "TypeError",
    message: 'Argument "elapsed" must be a finite number of milliseconds, 0 or more, got "5"',
  });
  assert.throws(() => phiCrossing(8, 1000, undefined as never), {
    name: "TypeError",
    message:
      'Argument "stdDeviation" must be a finite number of milliseconds above 0, got undefined',
  });
  assert.throws(() => phiCrossing(null as never, 1000, 100), {
    name: "TypeError",
    message: 'Argument "threshold" must be a finite number above 0, got null',
  });
});

test("phiCrossing near the largest double: Infinity past any finite silence, else the crossing", () => {
  assert.equal(phiCrossing(8, 1e308, 1e308), Infinity);
  const early = phiCrossing(0.1, 1e308, 1e308);
  assert.ok(Number.isFinite(early) && early < 1e308, `${early}`);
  assert.ok(phi(early, 1e308, 1e308) >= 0.1);
});

test("phiCrossing is the silence at which phi reaches the threshold, to 0.1 ms", () => {
  for (const threshold of [0.5, 1, 2, 3, 8, 16]) {
    for (const [mean, sd] of [[1000, 100], [0, 100], [30_000, 4_000], [10, 0.5]]) {
      const at = phiCrossing(threshold, mean, sd);
      const what = `crossing of ${threshold} for ${mean} ± ${sd}: ${at}`;
      assert.ok(phi(at, mean, sd) >= threshold, what);
      assert.ok(phi(at - 0.1, mean, sd) < threshold, what);
    }
  }
});

test("phiCrossing of 8 is about 5.226 deviations past the mean", () => {
  // φ = 8 ⇔ e / (1 + e) = 10⁻⁸ ⇔ y (1.5976 + 0.070566 y²) = ln(10⁸ − 1) ≈ 18.420681, whose root
  // is y ≈ 5.225987; for φ = 1, ln 9 ≈ 2.197225 gives y ≈ 1.282215 (the normal 10% point).
  const cases: [number, number, number, number][] = [
    [8, 1000, 100, 1000 + 522.5987],
    [8, 0, 100, 522.5987],
    [8, 5000, 100, 5000 + 522.5987],
    [8, 1000, 200, 1000 + 1045.1973],
    [8, 1000, 250, 1000 + 1306.4967],
    [1, 1000, 100, 1000 + 128.2215],
  ];
  for (const [threshold, mean, sd, exact] of cases) {
    const at = phiCrossing(threshold, mean, sd);
    const what = `crossing of ${threshold} for ${mean} ± ${sd}: ${at}, exact ${exact}`;
    assert.ok(at >= exact - 1e-3 && at <= exact + 0.1 + 1e-3, what);
  }
});

test("a threshold below log10(2) is crossed before the mean, and at once when the mean is 0", () => {
  // φ = 0.1 ⇔ y (1.5976 + 0.070566 y²) = ln(10^0.1 − 1) ≈ −1.351215, so y ≈ −0.821308.
  const at = phiCrossing(0.1, 1000, 100);
  assert.ok(at >= 917.869 - 1e-3 && at <= 917.869 + 0.1 + 1e-3, `crossing at ${at}`);
  const atOnce = phiCrossing(0.1, 0, 100);
  assert.ok(atOnce > 0 && atOnce <= 0.1, `crossing at ${atOnce}`);
});
