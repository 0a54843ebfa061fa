// Real cable cuts, resets, half-closes and hung peers, through this runtime's adapter: the peer
// fixture of tests/fixtures/PROTOCOL.md runs inside a private network namespace, and a cut is an
// nftables drop rule there. Every runtime's runner runs this file with its own fixture.
//
// Each detection must come within the bound the library documents for it (`report.bound`, as the
// fixture prints it) plus DETECTION_TOLERANCE_MS, counted from the moment the cut (or the hang) is in force.
import { test } from "node:test";
import assert from "node:assert/strict";
import { after, type JsonLine, netnsSkip, withinBound, withNetns } from "./_netns.ts";
import { type Peer, sleep, startPeer, transition } from "./_peer.ts";

const skip = netnsSkip();

function deaths(peer: Peer): JsonLine[] {
  return peer.child.lines.filter((line) =>
    line.event === "error" ||
    (line.event === "transition" && (line.to === "dead" || line.to === "closed"))
  );
}

test("the tuning report reads back what was applied", { skip, timeout: 60_000 }, async () => {
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
        // An accepted connection inherits its listener's values, read back on the listener (and
        // sampled on connections: tests/tune_server_test.ts); a client's are read back on it.
        const inherited = side === "server" && report[control].via === "listener";
        assert.ok(report[control].verified === true || inherited, `${side} ${control} read back`);
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
  skip,
  timeout: 60_000,
}, async () => {
  await withNetns(async (ns) => {
    const peer = await startPeer(ns, { keepalive: "2s:1s:3", watchKernel: true });
    const bound = Number((peer.ready.bound as JsonLine).idleMs);
    assert.equal(bound, 5_000);
    await sleep(2_500); // answered probes first: no false positive
    assert.deepEqual(deaths(peer), []);
    const cutStarted = performance.now();
    await ns.cut(peer.port);
    const cutDone = performance.now();
    const server = await peer.child.next(transition("server", "dead"), bound + 10_000);
    const client = await peer.child.next(transition("client", "dead"), 10_000);
    assert.equal(server.reason, "keepalive-timeout");
    assert.equal(client.reason, "keepalive-timeout");
    // With watchKernel the server shows the kernel's unanswered probes (TCP_INFO) before the end.
    const serverLines = peer.child.lines.filter(transition("server"));
    assert.deepEqual(
      serverLines.slice(-2).map((line) => `${line.from} -> ${line.to} (${line.reason})`),
      ["open -> probing (keepalive-probe)", "probing -> dead (keepalive-timeout)"],
    );
    // Probes go out `interval` apart, `count` of them, after the last answered one.
    const first = Math.min(
      after(peer.child, server, cutStarted),
      after(peer.child, client, cutStarted),
    );
    assert.ok(first >= 3_000 - 200, `detected ${first} ms after the cut: too early`);
    withinBound("idle cut (server)", after(peer.child, server, cutDone), bound);
    withinBound("idle cut (client)", after(peer.child, client, cutDone), bound);
  }, { timeoutMs: 50_000 });
});

test("a cut with data in flight is declared dead for user-timeout within the bound", {
  skip,
  timeout: 60_000,
}, async () => {
  await withNetns(async (ns) => {
    const peer = await startPeer(ns, {
      keepalive: { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" },
    });
    // The user timeout plus the second the kernel's retransmission timer may take to notice.
    const bound = Number((peer.ready.bound as JsonLine).busyMs);
    assert.equal(bound, 4_000);
    peer.child.command("busy");
    await sleep(500);
    const cutStarted = performance.now();
    await ns.cut(peer.port);
    const cutDone = performance.now();
    const server = await peer.child.next(transition("server", "dead"), 15_000);
    assert.equal(server.reason, "user-timeout");
    const detected = after(peer.child, server, cutStarted);
    assert.ok(detected >= 3_000 - 200, `detected ${detected} ms after the cut: too early`);
    withinBound("busy cut", after(peer.child, server, cutDone), bound);
  }, { timeoutMs: 50_000 });
});

test("a peer's reset is reset; a peer's FIN is an end, not a death", {
  skip,
  timeout: 60_000,
}, async () => {
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
    assert.equal(closed.reason, "peer-close", "the peer's FIN came before the server's close");
    fin.child.command("exit");
  });
});

test("a hung peer (healthy TCP, no answers) dies for heartbeat-timeout; a healthy one never does", {
  skip,
  timeout: 60_000,
}, async () => {
  await withNetns(async (ns) => {
    const config = {
      keepalive: "2s:1s:3",
      heartbeat: { interval: "1s", timeout: "1s" },
      resolution: 50,
    };
    const healthy = await startPeer(ns, config);
    const hung = await startPeer(ns, config);
    const bound = Number((hung.ready.bound as JsonLine).idleMs);
    assert.equal(bound, 2_150, "1 s + 1 s + three ticks of 50 ms");
    await sleep(2_500);
    hung.child.command("hang");
    const hangAt = performance.now();
    const dead = await hung.child.next(transition("server", "dead"), bound + 10_000);
    assert.equal(dead.reason, "heartbeat-timeout");
    withinBound("hung peer", after(hung.child, dead, hangAt), bound);
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

test("a healthy idle connection outlives several keepalive bounds", {
  skip,
  timeout: 60_000,
}, async () => {
  await withNetns(async (ns) => {
    const peer = await startPeer(ns, { keepalive: "2s:1s:3" });
    await sleep(12_000);
    assert.deepEqual(deaths(peer), []);
    assert.ok(!peer.child.lines.some(transition("server")), "no transition at all");
    peer.child.command("exit");
  }, { timeoutMs: 50_000 });
});
