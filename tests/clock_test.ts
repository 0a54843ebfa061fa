import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { LivenessMonitor, ManualClock, systemClock } from "../mod.ts";
import { scriptCommand } from "./_netns.ts";

test("the monitor's runtime timer never keeps the process alive", () => {
  const { cmd, args } = scriptCommand(new URL("./fixtures/unref_timer.ts", import.meta.url));
  const started = performance.now();
  const child = spawnSync(cmd, args, { encoding: "utf8", timeout: 20_000 });
  const elapsed = performance.now() - started;
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout.trim()), { tracked: 2 });
  // An unref'd timer lets the process end with its work; a ref'd one would hold it for 10 minutes.
  assert.ok(elapsed < 15_000, `the child took ${elapsed} ms`);
});

test("the system clock is monotonic epoch milliseconds and its timers fire", async () => {
  const a = systemClock.now();
  assert.ok(Math.abs(a - Date.now()) < 60_000);
  // The clock's timers are unref'd: a ref'd one keeps this test's event loop alive meanwhile.
  const keepAlive = setTimeout(() => {}, 10_000);
  const fired = await new Promise<number>((resolve) => {
    systemClock.setTimeout(() => resolve(systemClock.now()), 20);
  });
  clearTimeout(keepAlive);
  assert.ok(fired - a >= 15, `fired after ${fired - a} ms`);
  let cancelled = true;
  const handle = systemClock.setTimeout(() => (cancelled = false), 10);
  systemClock.clearTimeout(handle);
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.equal(cancelled, true);
});

test("a monitor on the system clock really fires its deadlines", async () => {
  const seen: string[] = [];
  const monitor = new LivenessMonitor<string>({
    resolution: 10,
    idleTimeout: 50,
    onTransition: (t) => seen.push(`${t.context} ${t.to} ${t.reason}`),
  });
  const started = performance.now();
  monitor.track("a");
  while (seen.length === 0 && performance.now() - started < 5_000) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepEqual(seen, ["a dead idle-timeout"]);
  assert.ok(performance.now() - started >= 50);
  monitor.close();
});

test("ManualClock runs timers in order and each sees its own due time", () => {
  const clock = new ManualClock(1_000);
  const order: string[] = [];
  clock.setTimeout(() => order.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => {
    order.push(`a@${clock.now()}`);
    clock.setTimeout(() => order.push(`c@${clock.now()}`), 5);
  }, 10);
  const dropped = clock.setTimeout(() => order.push("never"), 15);
  clock.clearTimeout(dropped);
  clock.advance(100);
  assert.deepEqual(order, ["a@1010", "c@1015", "b@1020"]);
  assert.equal(clock.now(), 1_100);
  assert.equal(clock.pending, 0);
});
