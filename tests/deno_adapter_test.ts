// The Deno adapter over real loopback sockets. Runs under `deno test -A`; under Node and Bun only
// the "outside Deno" test runs and the rest skip.
//
// Every test closes what it opens in `finally`, so a failed assertion leaves nothing open; each
// monitor's `onError` reports (a callback or driver that threw, which the monitor swallows) are
// collected and must be none when the test ends.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { LivenessMonitor, type MonitorOptions, type Transition } from "../mod.ts";
import {
  connect,
  connectionId,
  connectionState,
  type DenoTcpConn,
  listen,
  watchConn,
  type WatchedConn,
  type WatchedListener,
} from "../adapters/deno.ts";
import { loadDenoBackend } from "../adapters/_ffi_deno.ts";
import { findDenoFd, releaseDenoFd } from "../adapters/_deno_fd.ts";
import { platformOptions, type SupportedOption } from "../src/_platform.ts";
import { onlyOn } from "./_skip.ts";

interface DenoApi {
  readonly build: { readonly os: string };
  execPath(): string;
  listen(options: { hostname: string; port: number }): { close(): void };
  connect(options: { hostname: string; port: number }): Promise<DenoTcpConn>;
  dlopen(path: string, symbols: typeof LIBC): {
    symbols: { connect(fd: number, address: Uint8Array, length: number): number };
    close(): void;
  };
}
const LIBC = { connect: { parameters: ["i32", "buffer", "u32"], result: "i32" } } as const;
const deno = (globalThis as unknown as { Deno?: DenoApi }).Deno;
const onDeno = onlyOn("deno");
const withFfi = onDeno || (deno!.build.os === "linux" ? false : "Linux only");

const HOST = "127.0.0.1";
const PING = new TextEncoder().encode("PING\n");
const PONG = new TextEncoder().encode("PONG\n");
const KEEPALIVE = { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * A monitor that records its transitions and the ids whose peer ended. When the test ends, passed or
 * failed, the monitor is closed and what it reported to `onError` must be nothing.
 */
function recorder(t: TestContext, options: MonitorOptions<WatchedConn> = {}) {
  const transitions: Transition<WatchedConn>[] = [];
  const ends: number[] = [];
  const errors: string[] = [];
  const monitor = new LivenessMonitor<WatchedConn>({
    resolution: 10,
    ...options,
    onTransition: (t) => transitions.push(t),
    onEnd: (_, id) => ends.push(id),
    onError: (error, callback) => errors.push(`${callback}: ${(error as Error)?.stack ?? error}`),
  });
  t.after(() => {
    monitor.close();
    assert.deepEqual(errors, [], "the monitor reported no error to onError");
  });
  const of = (conn: WatchedConn): string[] =>
    transitions.filter((t) => t.id === conn.id).map((t) => `${t.from}->${t.to} ${t.reason}`);
  return { monitor, transitions, ends, of };
}

/** A watched accepted conn and a watched outgoing conn, both on `monitor`. */
async function watchedPair(monitor: LivenessMonitor<WatchedConn>, ffi?: boolean) {
  const server = listen(monitor, { hostname: HOST, port: 0, ffi });
  try {
    const [client, accepted] = await Promise.all([
      connect(monitor, { hostname: HOST, port: server.addr.port, ffi }),
      server.accept(),
    ]);
    return { client, accepted };
  } finally {
    server.close();
  }
}

/** A watched accepted conn whose peer is a plain Deno conn this test drives by hand. */
async function rawPeer(monitor: LivenessMonitor<WatchedConn>) {
  const server = listen(monitor, { hostname: HOST, port: 0 });
  try {
    const [peer, accepted] = await Promise.all([
      deno!.connect({ hostname: HOST, port: server.addr.port }),
      server.accept(),
    ]);
    return { peer, accepted };
  } finally {
    server.close();
  }
}

async function readAll(conn: DenoTcpConn): Promise<string> {
  const buffer = new Uint8Array(1024);
  let text = "";
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

function quietly(close: () => void): void {
  try {
    close();
  } catch {
    // Already closed.
  }
}

function kernelKeepalive(conn: DenoTcpConn): Record<string, number> {
  const loaded = loadDenoBackend();
  if (!loaded.ok) assert.fail(loaded.reason);
  const fd = findDenoFd(loaded.backend, conn) ?? assert.fail("no descriptor for the conn");
  const table = platformOptions("linux")!;
  const get = (entry: unknown): number => {
    const { level, option } = entry as SupportedOption;
    return loaded.backend.getInt(fd, level, option);
  };
  return {
    keepalive: get(table.keepAlive),
    idle: get(table.keepIdle),
    interval: get(table.keepInterval),
    count: get(table.keepCount),
    userTimeout: get(table.userTimeout),
  };
}

/** Resets a plain Deno conn: connect(AF_UNSPEC) makes Linux send a bare RST (see deno_peer.ts). */
function reset(conn: DenoTcpConn): void {
  const loaded = loadDenoBackend();
  if (!loaded.ok) assert.fail(loaded.reason);
  const fd = findDenoFd(loaded.backend, conn) ?? assert.fail("no descriptor for the peer");
  const libc = deno!.dlopen("libc.so.6", LIBC);
  try {
    assert.equal(libc.symbols.connect(fd, new Uint8Array(16), 16), 0);
  } finally {
    libc.close();
  }
  releaseDenoFd(loaded.backend, conn);
}

test("outside Deno: every entry point says it runs only on Deno", {
  skip: deno === undefined ? false : "outside Deno only",
}, async () => {
  const monitor = new LivenessMonitor<WatchedConn>();
  try {
    const onlyDeno = { name: "Error", message: /runs only on Deno/ };
    assert.throws(() => watchConn(monitor, {} as DenoTcpConn), onlyDeno);
    assert.throws(() => listen(monitor, { port: 0 }), onlyDeno);
    await assert.rejects(connect(monitor, { port: 1 }), onlyDeno);
  } finally {
    monitor.close();
  }
});

test("accepted and outgoing conns are tracked, and FFI sets and reads back every control", {
  skip: withFfi,
}, async (t) => {
  const { monitor, of } = recorder(t, { keepalive: KEEPALIVE });
  const { client, accepted } = await watchedPair(monitor);
  try {
    assert.notEqual(client.id, accepted.id);
    await new Promise((resolve) => setTimeout(resolve, 20)); // the first accepted one's read-back
    // The accepted conn inherited from the listener listen() tuned; read back as the first one.
    for (const [conn, inherited] of [[client, false], [accepted, true]] as const) {
      assert.equal(monitor.state(conn.id), "open");
      const { report } = conn;
      assert.deepEqual(
        { keepalive: report.keepalive, backend: report.backend, unavailable: report.unavailable },
        {
          keepalive: {
            status: "applied",
            asked: true,
            value: true,
            verified: true,
            via: inherited ? "listener" : "native",
          },
          backend: "deno-ffi",
          unavailable: undefined,
        },
      );
      for (
        const [control, value] of [
          ["idle", 2000],
          ["interval", 1000],
          ["count", 3],
          ["userTimeout", 3000],
        ] as const
      ) {
        assert.deepEqual(report[control], {
          status: "applied",
          asked: value,
          value,
          verified: true,
          via: inherited ? "listener" : "setsockopt",
        }, control);
      }
      // With a 3 s user timeout Linux gives up at the first probe at or after 3 s.
      assert.equal(report.bound.keepaliveMs, 3_000);
      assert.deepEqual(report.bound.warnings, []);
      assert.deepEqual(kernelKeepalive(conn.conn), {
        keepalive: 1,
        idle: 2,
        interval: 1,
        count: 3,
        userTimeout: 3000,
      });
    }
    // Data both ways is observed, and each side closing is a local close.
    assert.equal(await client.write(PING), PING.length);
    assert.equal(await accepted.read(new Uint8Array(16)), PING.length);
  } finally {
    client.close();
    accepted.close();
    monitor.close();
  }
  assert.deepEqual(of(client), ["connecting->open connected", "open->closed local-close"]);
  assert.deepEqual(of(accepted), ["open->closed local-close"]);
});

test("ffi: false sets SO_KEEPALIVE only, says what is missing, and accepts without throwing", {
  skip: withFfi,
}, async (t) => {
  const { monitor } = recorder(t, { keepalive: KEEPALIVE });
  const server = listen(monitor, { hostname: HOST, port: 0, ffi: false });
  const clients: DenoTcpConn[] = [];
  const accepted: WatchedConn[] = [];
  try {
    for (let i = 0; i < 10; i++) {
      const [client, conn] = await Promise.all([
        deno!.connect({ hostname: HOST, port: server.addr.port }),
        server.accept(),
      ]);
      clients.push(client);
      accepted.push(conn);
    }
    for (const { report, conn } of accepted) {
      assert.deepEqual(report.keepalive, {
        status: "applied",
        asked: true,
        value: true,
        verified: false,
        via: "native",
      });
      for (
        const [control, asked] of [
          ["idle", 2000],
          ["interval", 1000],
          ["count", 3],
          ["userTimeout", 3000],
        ] as const
      ) {
        assert.deepEqual(report[control], {
          status: "unsupported",
          asked,
          value: undefined,
          verified: false,
          via: undefined,
          note: "setsockopt is off (the ffi option is false)",
        }, control);
      }
      assert.equal(report.backend, undefined);
      assert.equal(report.unavailable, "setsockopt is off (the ffi option is false)");
      // The system's 7200 s idle, 75 s interval and 9 probes: never silent about it.
      assert.equal(report.bound.keepaliveMs, 7_875_000);
      assert.ok(report.bound.warnings.some((w) => w.includes("7200 s")), "warns of 7200 s");
      // What the kernel holds: SO_KEEPALIVE on, everything else the system's.
      assert.deepEqual(kernelKeepalive(conn), {
        keepalive: 1,
        idle: 7200,
        interval: 75,
        count: 9,
        userTimeout: 0,
      });
    }
  } finally {
    server.close();
    const loaded = loadDenoBackend();
    for (const conn of accepted) {
      conn.close();
      if (loaded.ok) releaseDenoFd(loaded.backend, conn.conn);
    }
    for (const client of clients) client.close();
    monitor.close();
  }
});

test("without --allow-ffi the report says Deno needs it, and keepalive itself is on", {
  skip: onDeno,
}, async () => {
  const fixture = fileURLToPath(new URL("./fixtures/deno_peer.ts", import.meta.url));
  const config = JSON.stringify({ keepalive: KEEPALIVE });
  const child = spawn(deno!.execPath(), ["run", "--allow-net", "--no-prompt", fixture, config], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk);
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk);
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  try {
    // The ready line: the client's transitions (connecting -> open) may come before it.
    const readyLine = (): string | undefined =>
      stdout.split("\n").find((line) => line.includes('"event":"ready"'));
    await until(
      () => readyLine() !== undefined || child.exitCode !== null,
      "the ready line",
      15_000,
    );
    const ready = JSON.parse(readyLine() ?? stdout.split("\n")[0]);
    assert.equal(ready.event, "ready", stderr);
    for (const side of ["server", "client"]) {
      const report = ready[side];
      assert.equal(report.keepalive.status, "applied", side);
      assert.equal(report.keepalive.via, "native", side);
      for (const control of ["idle", "interval", "count", "userTimeout"]) {
        assert.equal(report[control].status, "unsupported", `${side} ${control}`);
        assert.equal(report[control].note, "Deno needs --allow-ffi", `${side} ${control}`);
      }
      assert.equal(report.unavailable, "Deno needs --allow-ffi");
      assert.equal(report.bound.keepaliveMs, 7_875_000);
      assert.ok(report.bound.warnings.some((w: string) => w.includes("7200 s")));
    }
    child.stdin.write("exit\n");
    assert.equal(await exited, 0, stderr);
  } finally {
    child.kill();
  }
});

test("a peer's RST kills the conn with reason reset; later errors change nothing", {
  skip: withFfi,
}, async (t) => {
  const { monitor, transitions, of } = recorder(t);
  const { peer, accepted } = await rawPeer(monitor);
  try {
    const reading = accepted.read(new Uint8Array(64));
    reset(peer);
    await assert.rejects(reading, { name: "ConnectionReset" });
    assert.deepEqual(of(accepted), ["open->dead reset"]);
    assert.equal((transitions[0].error as Error).name, "ConnectionReset");
    // The adapter closed it: the conn underneath is gone, reads end, writes fail, close is a no-op.
    await assert.rejects(accepted.conn.read(new Uint8Array(64)), { name: "BadResource" });
    assert.equal(await accepted.read(new Uint8Array(64)), null);
    await assert.rejects(accepted.write(PING), { name: "BadResource" });
    accepted.close();
    accepted[Symbol.dispose]();
    assert.equal(transitions.length, 1);
  } finally {
    quietly(() => peer.close());
    monitor.close();
  }
});

test("a peer's FIN is an end, not a death; the close after it is the peer's", {
  skip: onDeno,
}, async (t) => {
  const { monitor, ends, of } = recorder(t);
  const { peer, accepted } = await rawPeer(monitor);
  try {
    await peer.closeWrite();
    assert.equal(await accepted.read(new Uint8Array(64)), null);
    assert.deepEqual(ends, [accepted.id]);
    assert.equal(monitor.state(accepted.id), "open");
    assert.deepEqual(of(accepted), []);
    await accepted.write(PONG); // the other direction still works after a half-close
    accepted.close();
    assert.equal(await readAll(peer), "PONG\n");
    assert.deepEqual(of(accepted), ["open->closed peer-close"]);
  } finally {
    quietly(() => peer.close());
    monitor.close();
  }
});

test("a local close is recorded once; the pending read fails as Deno's own does", {
  skip: onDeno,
}, async (t) => {
  const { monitor, transitions, of } = recorder(t);
  const { peer, accepted } = await rawPeer(monitor);
  try {
    const reading = accepted.read(new Uint8Array(64));
    accepted.close();
    await assert.rejects(reading, { name: "Interrupted" });
    assert.throws(() => accepted.close(), { name: "BadResource" });
    accepted[Symbol.dispose]();
    await assert.rejects(accepted.write(PING), { name: "BadResource" });
    assert.deepEqual(of(accepted), ["open->closed local-close"]);
    assert.equal(transitions.length, 1);
    assert.equal(await readAll(peer), "");
  } finally {
    quietly(() => peer.close());
    monitor.close();
  }
});

test("a hung peer dies of heartbeat-timeout in time, and the adapter really closes it", {
  skip: onDeno,
}, async (t) => {
  const { monitor, transitions, of } = recorder(t, {
    heartbeat: {
      interval: "300ms",
      timeout: "300ms",
      send: (c) => void c.write(PING).catch(() => {}),
    },
  });
  const { peer, accepted } = await rawPeer(monitor);
  const start = performance.now();
  try {
    // The peer's kernel ACKs everything, but the peer never reads nor answers.
    const reading = accepted.read(new Uint8Array(64));
    await until(() => transitions.some((t) => t.to === "dead"), "the death");
    const elapsed = performance.now() - start;
    assert.deepEqual(of(accepted), ["open->probing ping-sent", "probing->dead heartbeat-timeout"]);
    // interval + timeout, plus up to three ticks and scheduling slack.
    assert.ok(elapsed >= 600 && elapsed < 600 + 30 + 500, `dead after ${elapsed} ms`);
    assert.equal(await reading, null, "a read pending at the death ends quietly");
    await assert.rejects(accepted.conn.read(new Uint8Array(64)), { name: "BadResource" });
    assert.equal(await readAll(peer), "PING\n", "the peer got the ping, then FIN");
    assert.equal(await accepted.read(new Uint8Array(64)), null);
    await assert.rejects(accepted.write(PING), { name: "BadResource" });
    accepted.close();
    assert.equal(transitions.length, 2);
  } finally {
    quietly(() => peer.close());
    monitor.close();
  }
});

test("a healthy peer that answers pings stays open over several periods", {
  skip: onDeno,
}, async (t) => {
  const { monitor, of } = recorder(t, {
    heartbeat: {
      interval: "200ms",
      timeout: "200ms",
      send: (c) => void c.write(PING).catch(() => {}),
    },
  });
  const { peer, accepted } = await rawPeer(monitor);
  const answering = (async () => {
    const buffer = new Uint8Array(64);
    while (await peer.read(buffer) !== null) await peer.write(PONG);
  })();
  const serving = (async () => {
    const buffer = new Uint8Array(64);
    while (await accepted.read(buffer) !== null);
  })();
  try {
    await sleep(1_500);
    const seen = of(accepted);
    assert.ok(!seen.some((t) => t.includes("dead")), seen.join(", "));
    assert.ok(seen.filter((t) => t === "probing->open ack").length >= 4, seen.join(", "));
    assert.notEqual(monitor.state(accepted.id), "dead");
  } finally {
    accepted.close();
    await serving.catch(() => {}); // Interrupted by the close
    await answering;
    peer.close();
    monitor.close();
  }
});

test("readable and writable streams are observed like read() and write()", {
  skip: onDeno,
}, async (t) => {
  const { monitor, ends, of } = recorder(t, { idle: "100ms" });
  const { client, accepted } = await watchedPair(monitor);
  try {
    const reader = accepted.readable.getReader();
    const writer = client.writable.getWriter();
    await until(() => monitor.state(accepted.id) === "idle", "reader idle");
    const sentBefore = monitor.info(client.id)!.lastSent;
    await writer.write(new TextEncoder().encode("hello"));
    const { value } = await reader.read();
    assert.equal(new TextDecoder().decode(value), "hello");
    assert.deepEqual(of(accepted), ["open->idle reader-idle", "idle->open activity"]);
    assert.ok(monitor.info(client.id)!.lastSent > sentBefore, "the write counted as sent");
    await writer.close(); // closes the conn, as Deno's own writable does
    assert.equal(of(client).at(-1), "idle->closed local-close");
    assert.equal((await reader.read()).done, true);
    assert.deepEqual(ends, [accepted.id]);
    assert.equal(of(accepted).at(-1), "open->closed peer-close", "closed at EOF, as Deno's is");
  } finally {
    client[Symbol.dispose]();
    accepted[Symbol.dispose]();
    monitor.close();
  }
});

test("bad arguments are TypeErrors naming the argument", { skip: onDeno }, async (t) => {
  const { monitor } = recorder(t);
  const { peer, accepted } = await rawPeer(monitor);
  try {
    const bad = (pattern: RegExp) => ({ name: "TypeError", message: pattern });
    const notMonitor = {} as LivenessMonitor<WatchedConn>;
    assert.throws(() => watchConn(notMonitor, peer), bad(/^Argument "monitor" must be/));
    assert.throws(() => watchConn(monitor, {} as DenoTcpConn), bad(/^Argument "conn" must be/));
    // Its own WatchedConn is the conn it watches already: the same one back (tests/ownership_test.ts).
    assert.equal(watchConn(monitor, accepted), accepted);
    assert.throws(
      () => watchConn(monitor, peer, { ffi: "yes" as unknown as boolean }),
      bad(/^Option "ffi" must be a boolean/),
    );
    assert.throws(() => listen(notMonitor, { port: 0 }), bad(/^Argument "monitor"/));
    assert.throws(() => listen(monitor, null as never), bad(/^Argument "options" must be/));
    await assert.rejects(connect(monitor, 5 as never), bad(/^Argument "options" must be/));
    assert.equal(monitor.size, 1, "nothing was tracked by the failed calls");
    const watched = watchConn(monitor, peer, { ffi: false });
    assert.equal(monitor.state(watched.id), "open");
    assert.equal(watched.conn, peer);
    assert.deepEqual(watched.localAddr, peer.localAddr);
    watched.close();
  } finally {
    accepted.close();
    quietly(() => peer.close());
    monitor.close();
  }
});

test("a listener whose monitor is closed hands its conns on unwatched, and keeps accepting", {
  skip: onDeno,
}, async (t) => {
  const { monitor } = recorder(t, { keepalive: KEEPALIVE });
  const server: WatchedListener = listen(monitor, { hostname: HOST, port: 0 });
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning.message);
  process.on("warning", onWarning);
  const peers: DenoTcpConn[] = [];
  const seen: WatchedConn[] = [];
  try {
    monitor.close();
    peers.push(await deno!.connect({ hostname: HOST, port: server.addr.port }));
    const accepted = await server.accept();
    seen.push(accepted);
    assert.equal(accepted.id, 0);
    assert.equal(connectionId(accepted), undefined);
    assert.equal(connectionId(accepted.conn), undefined);
    assert.equal(connectionState(accepted), undefined);
    // The listener's tuning is what the conn inherited: its report says what is in force.
    assert.equal(accepted.report.keepalive.status, "applied");
    assert.deepEqual(kernelKeepalive(accepted.conn), {
      keepalive: 1,
      idle: 2,
      interval: 1,
      count: 3,
      userTimeout: 3_000,
    });
    // It works as a conn: a round trip through it.
    await peers[0].write(PING);
    const buffer = new Uint8Array(16);
    const n = await accepted.read(buffer);
    assert.deepEqual(buffer.subarray(0, n ?? 0), PING);
    await accepted.write(PONG);
    assert.equal(await peers[0].read(buffer), PONG.byteLength);
    // An iterating loop goes on too: the listener is not closed under it.
    peers.push(await deno!.connect({ hostname: HOST, port: server.addr.port }));
    for await (const conn of server) {
      seen.push(conn);
      break;
    }
    assert.equal(seen[1].id, 0);
    await until(() => warnings.length === 2, "a warning per conn");
    assert.deepEqual(warnings, [
      "A connection is not watched: Cannot track a connection: the monitor is closed",
      "A connection is not watched: Cannot track a connection: the monitor is closed",
    ]);
  } finally {
    process.off("warning", onWarning);
    quietly(() => server.close());
    for (const conn of seen) quietly(() => conn.close());
    for (const peer of peers) quietly(() => peer.close());
  }
});

test("a loop waiting on a listener ends, without an error, when the listener is closed", {
  skip: onDeno,
}, async (t) => {
  const { monitor } = recorder(t);
  const server: WatchedListener = listen(monitor, { hostname: HOST, port: 0 });
  const peer = await deno!.connect({ hostname: HOST, port: server.addr.port });
  const seen: WatchedConn[] = [];
  try {
    const loop = (async () => {
      for await (const conn of server) seen.push(conn);
      return "ended";
    })();
    await until(() => seen.length === 1, "the first conn");
    server.close(); // the loop waits on the next accept: Deno ends it (BadResource or Interrupted)
    assert.equal(await loop, "ended");
    assert.equal(seen[0].id > 0, true);
    assert.equal(monitor.state(seen[0].id), "open");
  } finally {
    quietly(() => server.close());
    for (const conn of seen) quietly(() => conn.close());
    quietly(() => peer.close());
    monitor.close();
  }
});

test("a listener iterates watched conns and ends when closed", { skip: onDeno }, async (t) => {
  const { monitor } = recorder(t);
  const server: WatchedListener = listen(monitor, { hostname: HOST, port: 0 });
  const peers: DenoTcpConn[] = [];
  const seen: WatchedConn[] = [];
  try {
    peers.push(
      ...await Promise.all(
        [1, 2].map(() => deno!.connect({ hostname: HOST, port: server.addr.port })),
      ),
    );
    for await (const conn of server) {
      seen.push(conn);
      if (seen.length === 2) break;
    }
    assert.equal(monitor.size, 2);
    server[Symbol.dispose]();
    await assert.rejects(server.accept());
  } finally {
    quietly(() => server.close());
    for (const conn of seen) quietly(() => conn.close());
    for (const peer of peers) quietly(() => peer.close());
    monitor.close();
  }
});
