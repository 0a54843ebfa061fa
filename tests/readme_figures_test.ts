// Every figure README.md quotes from the code is computed here from the code and must appear in
// README as written, so a change to the code that moves a figure fails until README says it too.
// (Measured figures — detection times from cut tests — are the cut tests' to check.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { detectionBound, formatDuration, LINUX_DEFAULTS, LivenessMonitor } from "../mod.ts";
import { USER_TIMEOUT_SLACK_MS } from "../src/bound.ts";
import { MIN_BARE_USER_TIMEOUT_MS } from "../src/keepalive.ts";
import { SAMPLE_EVERY, SAMPLE_EVERY_MOST } from "../src/_inherit.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8")
  // Markdown wraps lines and pads tables: compare with white space folded.
  .replace(/\s+/g, " ");

function quotes(text: string): void {
  assert.ok(readme.includes(text), `README quotes: ${text}`);
}

test("the runtime table's bounds are what detectionBound() computes for its settings", () => {
  const idle = detectionBound({ keepalive: "2s:1s:3" }).idleMs;
  quotes(`idle cut → \`dead\` (bound ${formatDuration(idle)})`);
  quotes('with `keepalive: "2s:1s:3"` and `userTimeout: "3s"`');
});

test("the hung peer's bound is monitor.bound() for the options README names", () => {
  const monitor = new LivenessMonitor({
    heartbeat: { interval: "1s", timeout: "1s", send: () => {} },
  });
  const bound = monitor.bound();
  monitor.close();
  assert.equal(bound.idleBy, "heartbeat");
  quotes('`heartbeat: { interval: "1s", timeout: "1s" }`');
  quotes(`(bound ${formatDuration(bound.idleMs)} from its last answer with the default 100 ms`);
});

test("the keepalive-versus-heartbeat table's rules are the code's", () => {
  quotes(`the user timeout + up to ${formatDuration(USER_TIMEOUT_SLACK_MS)}`);
  quotes(`(without it: ~${formatDuration(LINUX_DEFAULTS.retransmitGiveUpMs)} of retransmissions)`);
  // interval + timeout + 3 ticks; the timeout + 2 ticks (bound.ts): checked on one resolution.
  const heartbeat = detectionBound({
    keepalive: "off",
    heartbeat: { interval: "1s", timeout: "500ms" },
    resolution: 100,
  });
  assert.equal(heartbeat.idleMs, 1_000 + 500 + 3 * 100);
  quotes("`interval + timeout + 3 ticks`");
  const idle = detectionBound({ keepalive: "off", idleTimeout: "1s", resolution: 100 });
  assert.equal(idle.idleMs, 1_000 + 2 * 100);
  quotes("the timeout + 2 ticks");
  quotes(`Linux's keepalive waits ${formatDuration(LINUX_DEFAULTS.idleMs)} before its first probe`);
});

test("the limits README states are the ones the checks enforce", () => {
  quotes(`a user timeout below ${MIN_BARE_USER_TIMEOUT_MS}) is refused`);
});

test("how often a listener's connections are read back is what the kit samples", () => {
  quotes(
    `then one in ${SAMPLE_EVERY} — ever fewer while they agree, down to one in ${SAMPLE_EVERY_MOST}`,
  );
});
