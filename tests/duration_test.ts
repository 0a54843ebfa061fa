import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../mod.ts";

test("parseDuration reads numbers as milliseconds and strings with units", () => {
  assert.equal(parseDuration(250, "x"), 250);
  assert.equal(parseDuration(0, "x"), 0);
  assert.equal(parseDuration("500ms", "x"), 500);
  assert.equal(parseDuration("30s", "x"), 30_000);
  assert.equal(parseDuration("1m", "x"), 60_000);
  assert.equal(parseDuration("1m30s", "x"), 90_000);
  assert.equal(parseDuration("1.5s", "x"), 1_500);
  assert.equal(parseDuration("2h", "x"), 7_200_000);
  assert.equal(parseDuration("1d", "x"), 86_400_000);
  assert.equal(parseDuration(" 10s ", "x"), 10_000);
});

test("parseDuration rejects bad input with the option's name and what is allowed", () => {
  assert.throws(() => parseDuration("abc", "heartbeat.interval"), {
    name: "TypeError",
    message:
      'Option "heartbeat.interval" must be a duration like "30s", "1m30s" or "500ms", got "abc"',
  });
  assert.throws(() => parseDuration("30", "idle"), {
    name: "TypeError",
    message: 'Option "idle" must be a duration like "30s", "1m30s" or "500ms", got "30"',
  });
  assert.throws(() => parseDuration("", "idle"), {
    name: "TypeError",
    message: 'Option "idle" must be a duration like "30s", "1m30s" or "500ms", got an empty string',
  });
  assert.throws(() => parseDuration(-1, "idle"), {
    name: "RangeError",
    message: 'Option "idle" must be a finite number of milliseconds, 0 or more, got -1',
  });
  assert.throws(() => parseDuration(Number.NaN, "idle"), { name: "RangeError" });
  assert.throws(() => parseDuration(Infinity, "idle"), { name: "RangeError" });
  assert.throws(() => parseDuration({}, "idle"), {
    name: "TypeError",
    message: 'Option "idle" must be a number of milliseconds or a string like "30s", got an object',
  });
  assert.throws(() => parseDuration(null, "idle"), { name: "TypeError" });
  assert.throws(() => parseDuration("5 s", "idle"), { name: "TypeError" });
  assert.throws(() => parseDuration("-5s", "idle"), { name: "TypeError" });
});

test("parseDuration reads bare numbers in a string only when told their unit", () => {
  assert.equal(parseDuration("30", "idle", "s"), 30_000);
  assert.equal(parseDuration("30", "idle", "ms"), 30);
});

test("formatDuration prints seconds and milliseconds", () => {
  assert.equal(formatDuration(7_200_000), "7200 s");
  assert.equal(formatDuration(2_500), "2.5 s");
  assert.equal(formatDuration(300), "300 ms");
  assert.equal(formatDuration(Infinity), "Infinity");
});
