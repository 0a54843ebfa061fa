// The kernel's verdict at a connection's end (src/_kernel_end.ts), on views shaped like the ones
// measured through real cuts and stalls (tests/lifecycle_test.ts): a keepalive death has probes
// out, a busy cut retransmissions, a stall neither and a closed window; an orderly end is no verdict.
import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyError, STALLED_ERROR_NAME } from "../mod.ts";
import {
  deathError,
  type EndView,
  endViewOf,
  kernelEnd,
  lookStalled,
  lostTimeout,
  windowLook,
  windowLookOf,
  windowStalled,
} from "../src/_kernel_end.ts";
import { TCP_INFO_FIELDS } from "../src/tcp_info.ts";

const CLOSE = 7;
const ESTABLISHED = 1;
const U = 3_000;

// As read at the error on Linux 6.18 (keepalive 2s:1s:3, user timeout 3 s).
const quietCut: EndView = {
  state: CLOSE,
  retransmits: 0,
  probes: 1,
  sndWnd: 65_536,
  lastAckRecvMs: 3_040,
};
const busyCut: EndView = {
  state: CLOSE,
  retransmits: 4,
  probes: 0,
  sndWnd: 71_680,
  lastAckRecvMs: 3_540,
};
const stall: EndView = { state: CLOSE, retransmits: 0, probes: 0, sndWnd: 0, lastAckRecvMs: 1_736 };

test("the verdict: time-outs by probes, by retransmissions, and a stall", () => {
  assert.deepEqual(kernelEnd(quietCut, U), { timedOut: true, stalled: false });
  assert.deepEqual(kernelEnd(busyCut, U), { timedOut: true, stalled: false });
  assert.deepEqual(kernelEnd(stall, U), { timedOut: true, stalled: true });
});

test("no verdict for an open connection, or an end with nothing unanswered", () => {
  assert.equal(kernelEnd({ ...busyCut, state: ESTABLISHED }, U), undefined);
  // A FIN exchange (TIME_WAIT leaves the socket CLOSE) or a reset: the runtime's report stands.
  const orderly = { state: CLOSE, retransmits: 0, probes: 0, sndWnd: 65_536, lastAckRecvMs: 2 };
  assert.equal(kernelEnd(orderly, U), undefined);
});

test("a stall needs a closed window, answered probes and a user timeout", () => {
  assert.equal(windowStalled(stall, U), true);
  assert.equal(windowStalled(stall, 0), false, "no user timeout: Linux never times a stall out");
  assert.equal(windowStalled({ ...stall, sndWnd: 1 }, U), false);
  assert.equal(windowStalled({ ...stall, sndWnd: undefined }, U), false, "a kernel without it");
  assert.equal(windowStalled({ ...stall, probes: 1 }, U), false, "the last probe unanswered");
  assert.equal(windowStalled({ ...stall, lastAckRecvMs: U }, U), false, "silent for the timeout");
  assert.equal(windowStalled({ ...stall, retransmits: 2 }, U), false, "data retransmitted");
  // A peer that stopped reading and then vanished: its last ACK is older than the user timeout.
  assert.deepEqual(kernelEnd({ ...stall, probes: 2, lastAckRecvMs: 3_200 }, U), {
    timedOut: true,
    stalled: false,
  });
});

test("the view comes from the raw bytes at the fields' offsets", () => {
  const bytes = new Uint8Array(280);
  const view = new DataView(bytes.buffer);
  const at = (name: string): number => TCP_INFO_FIELDS.find((f) => f.name === name)!.offset;
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  bytes[at("tcpi_state")] = CLOSE;
  bytes[at("tcpi_retransmits")] = 4;
  bytes[at("tcpi_probes")] = 0;
  view.setUint32(at("tcpi_last_ack_recv"), 3_540, little);
  view.setUint32(at("tcpi_snd_wnd"), 71_680, little);
  assert.deepEqual(endViewOf(bytes), busyCut);
  const look = { at: 0, closed: true, lastAckAt: 0 };
  assert.equal(windowLookOf(bytes, 10_000, look), look, "updated in place");
  assert.deepEqual(look, { at: 10_000, closed: false, lastAckAt: 6_460 });
  assert.equal(endViewOf(bytes.subarray(0, 200))?.sndWnd, undefined, "an older kernel's struct");
  assert.equal(endViewOf(bytes.subarray(0, 40)), undefined);
});

test("a look taken before the end decides for a runtime that closes the descriptor first", () => {
  const before = { ...stall, state: ESTABLISHED, lastAckRecvMs: 200 };
  const look = windowLook(before, 10_000);
  assert.deepEqual(look, { at: 10_000, closed: true, lastAckAt: 9_800 });
  assert.equal(lookStalled(look, 10_900, U, 2_000), true);
  assert.equal(lookStalled(look, 12_500, U, 2_000), false, "too old a look");
  assert.equal(lookStalled(look, 10_900, 0, 2_000), false, "no user timeout");
  assert.equal(
    lookStalled(windowLook({ ...before, sndWnd: 512 }, 10_000), 10_900, U, 2_000),
    false,
  );
  assert.equal(lookStalled(undefined, 10_900, U, 2_000), false);
});

test("a stall's error is classified stalled and keeps the runtime's as its cause", () => {
  const timeout = Object.assign(new Error("read ETIMEDOUT"), { code: "ETIMEDOUT" });
  assert.equal(deathError(timeout, false, U), timeout);
  const stalled = deathError(timeout, true, U) as Error;
  assert.equal(stalled.name, STALLED_ERROR_NAME);
  assert.equal(stalled.cause, timeout);
  assert.match(stalled.message, /receive window stayed closed past the user timeout \(3000 ms\)/);
  // Whatever the monitor knows of data in flight: a stall is a stall.
  assert.equal(classifyError(stalled, { userTimeout: true, dataInFlight: true }), "stalled");
  assert.equal(classifyError({ name: "StalledError" }), "stalled", "by name, across copies");
  const lost = lostTimeout();
  assert.equal(classifyError(lost, { userTimeout: true, dataInFlight: true }), "user-timeout");
  assert.equal(classifyError(lost), "keepalive-timeout");
});
