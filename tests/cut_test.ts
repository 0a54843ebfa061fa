// Real cable cuts, resets, half-closes and hung peers, through this runtime's adapter: the peer
// fixture of tests/fixtures/PROTOCOL.md runs inside a private network namespace, and a cut is an
// nftables drop rule there. Every runtime's runner runs this file with its own fixture.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  type JsonLine,
  type Netns,
  netnsAvailable,
  type NetnsChild,
  runtime,
  scriptCommand,
  withNetns,
} from "./_netns.ts";

// The Node 20 leg runs a bundle of this file against the built package, with its own fixture.
const FIXTURE = process.env.LIVENESS_PEER_FIXTURE ??
  new URL(`./fixtures/${runtime}_peer.ts`, import.meta.url);
// Scheduling slack on a shared 2-core machine running four runtimes at once.
const MARGIN = 1_500;

function skipWithoutNetns(t: TestContext): boolean {
  const netns = netnsAvailable();
  if (!netns.ok) t.skip(netns.reason);
  return !netns.ok;
}

interface Peer {
  child: NetnsChild;
  ready: JsonLine;
  port: number;
}

async function startPeer(ns: Netns, config: Record<string, unknown>): Promise<Peer> {
  const { cmd, args } = scriptCommand(FIXTURE, [JSON.stringify(config)]);
  const child = ns.spawn(cmd, args);
  const ready = await child.next(
    (line) => line.event === "ready" || line.event === "error",
    15_000,
  );
  assert.equal(ready.event, "ready", String(ready.message));
  return { child, ready, port: Number(ready.port) };
}

const transition = (side: string, to?: string) => (line: JsonLine): boolean =>
  line.event === "transition" && line.side === side && (to === undefined || line.to === to);

function deaths(peer: Peer): JsonLine[] {
  return peer.child.lines.filter((line) =>
    line.event === "error" ||
    (line.event === "transition" && (line.to === "dead" || line.to === "closed"))
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The fixture's clock now, from the line it prints for a command we know it answers. */
function now(): number {
  return performance.now();
}

test("the tuning report reads back what was applied", { timeout: 60_000 }, async (t) => {
  if (skipWithoutNetns(t)) return;
  await withNetns(async (ns) => {
    const peer = await startPeer(ns, {
      keepalive: { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" },
    });
    for (const side of ["server", "client"]) {
      const report = peer.ready[side] as Record<string, Record<string, unknown>>;
      assert.deepEqual(
        [
          report.keepalive.value,
          report.idle.value,
          report.interval.value,
          report.count.value,
          report.userTimeout.value,
        ],
        [true, 2000, 1000, 3, 3000],
        `${side}: ${JSON.stringify(report)}`,
      );
      for (const control of ["keepalive", "idle", "interval", "count", "userTimeout"]) {
        assert.equal(report[control].status, "applied", `${side} ${control}`);
        assert.equal(report[control].verified, true, `${side} ${control} read back`);
      }
    }
    const bound = peer.ready.bound as Record<string, unknown>;
    assert.equal(bound.idleMs, 3_000);
    assert.equal(bound.busyMs, 4_000);
    peer.child.command("exit");
    await peer.child.exited;
  });
});

test("an idle cut is declared dead for keepalive-timeout within the bound, on both sides", {
  timeout: 60_000,
}, async (t) => {
  if (skipWithoutNetns(t)) return;
  await withNetns(async (ns) => {
    const peer = await startPeer(ns, { keepalive: "2s:1s:3", watchKernel: true });
    const bound = Number((peer.ready.bound as JsonLine).idleMs);
    assert.equal(bound, 5_000);
    await sleep(2_500); // answered probes first: no false positive
    assert.deepEqual(deaths(peer), []);
    const cutAt = now();
    await ns.cut(peer.port);
    const server = await peer.child.next(transition("server", "dead"), bound + 10_000);
    const client = await peer.child.next(transition("client", "dead"), 10_000);
    const detected = now() - cutAt;
    assert.equal(server.reason, "keepalive-timeout");
    assert.equal(client.reason, "keepalive-timeout");
    // With watchKernel the server shows the kernel's unanswered probes (TCP_INFO) before the end.
    const serverLines = peer.child.lines.filter(transition("server"));
    assert.deepEqual(
      serverLines.slice(-2).map((line) => `${line.from} -> ${line.to} (${line.reason})`),
      ["open -> probing (keepalive-probe)", "probing -> dead (keepalive-timeout)"],
    );
    // Probes go out `interval` apart, `count` of them, after the last answered one.
    assert.ok(detected >= 3_000 - 200, `detected ${detected} ms after the cut: too early`);
    assert.ok(detected <= bound + MARGIN, `detected ${detected} ms after the cut; bound ${bound}`);
    t.diagnostic(
      `${runtime}: idle cut detected ${Math.round(detected)} ms after the cut (bound ${bound} ms)`,
    );
  }, { timeoutMs: 50_000 });
});

test("a cut with data in flight is declared dead for user-timeout within the bound", {
  timeout: 60_000,
}, async (t) => {
  if (skipWithoutNetns(t)) return;
  await withNetns(async (ns) => {
    const peer = await startPeer(ns, {
      keepalive: { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" },
    });
    peer.child.command("busy");
    await sleep(500);
    const cutAt = now();
    await ns.cut(peer.port);
    const server = await peer.child.next(transition("server", "dead"), 15_000);
    const detected = now() - cutAt;
    assert.equal(server.reason, "user-timeout");
    assert.ok(detected >= 3_000 - 200, `detected ${detected} ms after the cut: too early`);
    assert.ok(
      detected <= 4_000 + MARGIN,
      `detected ${detected} ms after the cut; user timeout 3000`,
    );
    t.diagnostic(
      `${runtime}: busy cut detected ${
        Math.round(detected)
      } ms after the cut (user timeout 3000 ms)`,
    );
  }, { timeoutMs: 50_000 });
});

test(
  "a peer's reset is reset; a peer's FIN is an end, not a death",
  { timeout: 60_000 },
  async (t) => {
    if (skipWithoutNetns(t)) return;
    await withNetns(async (ns) => {
      const reset = await startPeer(ns, { keepalive: "2s:1s:3" });
      reset.child.command("rst");
      const dead = await reset.child.next(transition("server", "dead"), 5_000);
      assert.equal(dead.reason, "reset");
      reset.child.command("exit");

      const fin = await startPeer(ns, { keepalive: "2s:1s:3" });
      fin.child.command("fin");
      await fin.child.next((line) => line.event === "end" && line.side === "server", 5_000);
      await sleep(1_000);
      assert.deepEqual(deaths(fin).filter((line) => line.side === "server"), []);
      fin.child.command("close");
      const closed = await fin.child.next(transition("server", "closed"), 5_000);
      assert.equal(closed.reason, "local-close");
      fin.child.command("exit");
    });
  },
);

test("a hung peer (healthy TCP, no answers) dies for heartbeat-timeout; a healthy one never does", {
  timeout: 60_000,
}, async (t) => {
  if (skipWithoutNetns(t)) return;
  await withNetns(async (ns) => {
    const config = {
      keepalive: "2s:1s:3",
      heartbeat: { interval: "1s", timeout: "1s" },
      resolution: 50,
    };
    const healthy = await startPeer(ns, config);
    const hung = await startPeer(ns, config);
    const bound = Number((hung.ready.bound as JsonLine).idleMs);
    await sleep(2_500);
    hung.child.command("hang");
    const hangAt = now();
    const dead = await hung.child.next(transition("server", "dead"), bound + 10_000);
    const detected = now() - hangAt;
    assert.equal(dead.reason, "heartbeat-timeout");
    assert.ok(detected <= bound + MARGIN, `detected ${detected} ms after the hang; bound ${bound}`);
    t.diagnostic(
      `${runtime}: hung peer detected ${Math.round(detected)} ms after it hung (bound ${bound} ms)`,
    );
    // Keepalive alone would never have noticed: the hung side's kernel answers its probes.
    // Its only news is the server's own close: Bun's adapter aborts with RST (reset), Node's and
    // Deno's close with FIN, which a client that stopped reading does not see.
    assert.deepEqual(
      deaths(hung).filter((line) => line.side === "client" && line.reason !== "reset"),
      [],
    );
    // Over several bounds the healthy pinging peer stays alive, its pings answered.
    await sleep(3 * bound);
    assert.deepEqual(deaths(healthy), []);
    const acks = healthy.child.lines.filter((line) => line.event === "ack").length;
    assert.ok(acks >= 4, `${acks} answered pings`);
    healthy.child.command("exit");
    hung.child.command("exit");
  }, { timeoutMs: 50_000 });
});

test(
  "a healthy idle connection outlives several keepalive bounds",
  { timeout: 60_000 },
  async (t) => {
    if (skipWithoutNetns(t)) return;
    await withNetns(async (ns) => {
      const peer = await startPeer(ns, { keepalive: "2s:1s:3" });
      await sleep(12_000);
      assert.deepEqual(deaths(peer), []);
      assert.ok(!peer.child.lines.some(transition("server")), "no transition at all");
      peer.child.command("exit");
    }, { timeoutMs: 50_000 });
  },
);
