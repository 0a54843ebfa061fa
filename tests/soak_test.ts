// Soak, on the runtime running this file: 1,000,000 track/close cycles through the monitor grow
// nothing (tracked entries, slots, pending timers, heap), and a few thousand connect/close cycles
// through this runtime's adapter, inside a private network namespace, leave no descriptor behind.
// scripts/soak.ts runs the same at 100,000 socket cycles per runtime (see RELIABILITY.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { netnsSkip, runtime } from "./_netns.ts";
import { soakCore, soakSockets } from "../scripts/soak.ts";

const CORE_CYCLES = 1_000_000;
const SOCKET_CYCLES = 3_000;

test(`${CORE_CYCLES} track/close cycles grow no entry, slot, timer or heap`, {
  timeout: 60_000,
}, (t) => {
  for (const r of soakCore(CORE_CYCLES)) {
    t.diagnostic(JSON.stringify(r));
    const what = `${r.monitor} monitor: ${JSON.stringify(r.problems)}`;
    assert.equal(r.stats.tracked, CORE_CYCLES, what);
    assert.equal(r.stats.closed + r.stats.dead, CORE_CYCLES, what);
    assert.deepEqual(
      r.stats.states,
      { connecting: 0, open: 0, idle: 0, probing: 0, suspect: 0 },
      what,
    );
    assert.equal(r.size.end, 0, what);
    assert.equal(r.pending.end, 0, `${what}: the timer stops once nothing is tracked`);
    assert.ok(r.pending.max <= 1, `${what}: one timer at most`);
    assert.ok(r.slots.secondHalf <= r.slots.firstHalf, `${what}: the store did not grow`);
    if (r.monitor === "plain") assert.equal(r.slots.firstHalf, 500, what); // the window, reused
    assert.ok(r.heapMB.delta <= 2, `${what}: heap grew ${r.heapMB.delta} MB`);
    assert.equal(r.callbacks.destroy, r.stats.dead + r.callbacks.drained, what);
    assert.ok(r.ok, what);
  }
});

test(`${SOCKET_CYCLES} connect/close cycles through the ${runtime} adapter leave no descriptor`, {
  // Decided here, so every runner reports the skip (tests/_skip.ts); in CI it runs, and fails when
  // namespaces do not work.
  skip: netnsSkip(),
  timeout: 60_000,
}, async (t) => {
  const r = await soakSockets(runtime, SOCKET_CYCLES, (line) => t.diagnostic(line));
  t.diagnostic(JSON.stringify(r));
  const what = JSON.stringify(r.problems);
  const total = SOCKET_CYCLES + r.warmup;
  assert.deepEqual(r.tuned, { server: total, client: total }, what);
  // Cycles take turns: the client closes ("c"), the server does ("s"), the client resets ("r").
  const c = Math.ceil(total / 3);
  const s = Math.floor((total + 1) / 3);
  const resets = Math.floor(total / 3);
  assert.deepEqual(r.ends.server, {
    "closed:local-close": s,
    "closed:peer-close": c,
    "dead:reset": resets,
  }, what);
  assert.deepEqual(
    r.ends.client,
    { "closed:local-close": c + resets, "closed:peer-close": s },
    what,
  );
  assert.deepEqual(
    [r.fds.warm.tcp, r.fds.mid.tcp, r.fds.end.tcp],
    [1, 1, 1],
    "only the listener's TCP descriptor is left",
  );
  // Unix sockets are the runtime's own (Deno opens some at any time), never the library's.
  assert.ok(
    r.fds.end.fds - r.fds.end.unix <= r.fds.mid.fds - r.fds.mid.unix,
    `descriptors ${JSON.stringify(r.fds)}`,
  );
  assert.ok(r.ok, what);
});
