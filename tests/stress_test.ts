// Load over real sockets, on the runtime running this file: 2,000 connections inside a private
// network namespace, keepalive 2s:1s:3 on every server socket, one monitor; the cable is cut for
// the half whose client ports lie in the upper range. Exactly that half must be declared dead
// within the bound and none of the other half, over three bounds. scripts/stress.ts runs the same
// scenario at 10,000 connections (see RELIABILITY.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { DETECTION_TOLERANCE_MS, netnsSkip, runtime } from "./_netns.ts";
import { runStress } from "../scripts/stress.ts";

const CONNECTIONS = 2_000;

test(
  `${CONNECTIONS} connections on ${runtime}: a cut half is dead within the bound, the rest lives`,
  {
    // Decided here, so every runner reports the skip (tests/_skip.ts); in CI it runs, and fails
    // when namespaces do not work.
    skip: netnsSkip(),
    timeout: 60_000,
  },
  async (t) => {
    const r = await runStress({
      runtime,
      connections: CONNECTIONS,
      keepalive: "2s:1s:3",
      bounds: 3,
      // Time to detect counts from the server's mark, before the cut: the bound counts from when
      // the cut was in force (`cutMs` later), plus what tests/_netns.ts allows.
      marginMs: DETECTION_TOLERANCE_MS,
      log: (line) => t.diagnostic(line),
    });
    t.diagnostic(JSON.stringify(r));
    const context = JSON.stringify(r.problems);
    assert.equal(r.held + r.cut, CONNECTIONS);
    assert.equal(
      r.answeredBeforeCut,
      CONNECTIONS,
      `every connection echoed before the cut ${context}`,
    );
    assert.equal(r.tuned, CONNECTIONS, `every server socket tuned and read back ${context}`);
    assert.equal(r.boundMs, 5_000);
    assert.equal(r.detected, r.cut, `every cut connection declared dead ${context}`);
    assert.equal(r.falsePositives, 0, `no held connection declared dead ${context}`);
    assert.deepEqual(r.reasons, { "keepalive-timeout": r.cut });
    assert.ok(
      r.timeToDetectMs.max! <= r.boundMs + r.cutMs + r.marginMs,
      `detected in time: ${r.timeToDetectMs.max} ms after the mark, bound ${r.boundMs} ms, cut in ` +
        `force after ${r.cutMs} ms ${context}`,
    );
    assert.ok(r.observedMs >= 3 * r.boundMs, `held half watched for ${r.observedMs} ms`);
    assert.equal(r.heldAnswered, r.held, `every held connection still echoes ${context}`);
    assert.equal(r.live, r.held, "the monitor tracks exactly the held half");
    assert.deepEqual(
      r.fds.serverTcp,
      {
        ready: 1,
        loaded: 1 + CONNECTIONS,
        afterCut: 1 + r.held,
        bye: 1,
      },
      "TCP descriptors: the listener, then one per connection, none left after closing",
    );
    assert.ok(r.ok, context);
  },
);
