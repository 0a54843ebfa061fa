// A watchdog for the property tests: a tick or an input that never ends would hang the test run,
// and a loop that makes no callback cannot be stopped from the thread it runs on. A worker thread
// waits for the test to report progress; after `ms` without any, it writes the last scenario the
// test reported to stderr and kills the process, so the run fails with the counterexample instead
// of hanging. Works on Node, Deno and Bun (node:worker_threads, Atomics.wait in the worker).

import { Worker } from "node:worker_threads";

const WORKER = `
const { workerData } = require("node:worker_threads");
const fs = require("node:fs");
const state = new Int32Array(workerData.shared, 0, 4);
for (;;) {
  const seen = Atomics.load(state, 0);
  if (Atomics.load(state, 1) !== 0) break;
  const result = Atomics.wait(state, 0, seen, workerData.ms);
  if (Atomics.load(state, 1) !== 0) break;
  if (result === "timed-out" && Atomics.load(state, 0) === seen) {
    const length = Atomics.load(state, 2);
    const bytes = new Uint8Array(workerData.shared, 16, length).slice();
    fs.writeSync(
      2,
      "\\nwatchdog: " + workerData.name + " made no progress for " + workerData.ms +
        " ms: a tick or an input that does not end. The scenario:\\n" +
        new TextDecoder().decode(bytes) + "\\n",
    );
    process.kill(process.pid, "SIGKILL");
  }
}
`;

/**
 * Runs `body` under a watchdog. `body` calls `progress` with a description of what it starts
 * (e.g. the scenario as JSON); if `ms` pass without a call, the process is killed after the last
 * description is written to stderr.
 *
 * @param name What runs, for the message.
 * @param ms How long without progress is a hang.
 * @param body The work.
 * @returns What `body` returns.
 */
export async function watched<T>(
  name: string,
  ms: number,
  body: (progress: (what: string) => void) => T,
): Promise<T> {
  const shared = new SharedArrayBuffer(16 + 65_536);
  const state = new Int32Array(shared, 0, 4);
  const bytes = new Uint8Array(shared, 16);
  const worker = new Worker(WORKER, { eval: true, workerData: { shared, ms, name } });
  worker.unref();
  const encoder = new TextEncoder();
  try {
    return body((what) => {
      Atomics.store(state, 2, encoder.encodeInto(what, bytes).written);
      Atomics.add(state, 0, 1);
    });
  } finally {
    Atomics.store(state, 1, 1);
    Atomics.add(state, 0, 1);
    Atomics.notify(state, 0);
    await worker.terminate();
  }
}
