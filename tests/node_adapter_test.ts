// The Node adapter over real loopback sockets, on every runtime's `node:net`: Node's, and Deno's and
// Bun's (Express, Fastify and the like run there on it). Linux with FFI for the setsockopt parts
// (koffi on Node, `--allow-ffi` on Deno, bun:ffi): a machine without it skips them, except in CI,
// where they must run (tests/_skip.ts).
//
// Every test hands what it opens to `cleanup(t)`, which closes it when the test ends, passed or
// failed: a failed assertion must not leave a server open that keeps the runner waiting. What the
// monitor reports to `onError` (a callback or driver that threw, which the monitor swallows) is
// collected and must be empty when the test ends.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, createServer, type Server, Socket } from "node:net";
import type { Buffer } from "node:buffer";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  type ConnectionId,
  LivenessMonitor,
  type MonitorOptions,
  type Transition,
} from "../mod.ts";
import { platformOptions, type SupportedOption } from "../src/_platform.ts";
import { connect, connectionId, tuningReport, watchServer, watchSocket } from "../adapters/node.ts";
import { loadNodeBackend, nodeSocketFd } from "../adapters/_ffi_node.ts";
import { loadDenoBackend } from "../adapters/_ffi_deno.ts";
import { loadBunBackend } from "../adapters/_ffi_bun.ts";
import { mustRun, runtime } from "./_skip.ts";

const onNode = runtime === "node";
const backend = runtime === "deno"
  ? loadDenoBackend()
  : runtime === "bun"
  ? loadBunBackend()
  : loadNodeBackend();
const BACKEND_NAME = { node: "koffi", deno: "deno-ffi", bun: "bun-ffi" }[runtime];
// Without FFI these skip; CI must have it, so there they run and fail on `requireBackend()`.
const ffiOnly = mustRun(backend.ok ? false : `setsockopt unavailable: ${backend.reason}`);
// Node ≥ 24.19 sets interval and count itself; older Node, and Bun, leave them to setsockopt.
const nodeSetsAll = Socket.prototype.setKeepAlive.length >= 4;
// What setKeepAlive(true, idle) sets besides the idle time: Node and Bun interval 1 s and count 10.
const sideEffects = runtime !== "deno";
// Only Node's own handle can be made to report another descriptor.
const nodeOnly = onNode ? false : "Node's handles only";

const KEEPALIVE = { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" };

/** Fails the test when the setsockopt backend did not load (in CI, where FFI tests must run). */
function requireBackend(): void {
  assert.ok(backend.ok, `setsockopt unavailable: ${backend.ok ? "" : backend.reason}`);
}

/** A socket's descriptor: its handle's, or the one whose endpoints both match (Deno). */
function fdOf(socket: Socket): number {
  assert.ok(backend.ok);
  const fd = nodeSocketFd(socket);
  if (fd !== undefined) return fd;
  for (let candidate = 0; candidate < 65_536; candidate++) {
    const local = backend.backend.localAddress(candidate);
    const remote = backend.backend.remoteAddress(candidate);
    if (
      local?.port === socket.localPort && remote?.port === socket.remotePort &&
      remote?.address.endsWith(socket.remoteAddress!)
    ) return candidate;
  }
  return assert.fail("no descriptor");
}

type Defer = (close: () => unknown) => void;

/**
 * What a test opens, closed when it ends, passed or failed, last opened first: the returned
 * function takes each closer. A closer that throws fails the test after the others have run.
 */
function cleanup(t: TestContext): Defer {
  const closers: (() => unknown)[] = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
  });
  return (close) => void closers.push(close);
}

/** A server whose connections and listening socket the test's cleanup closes. */
function openServer(defer: Defer, options: { allowHalfOpen?: boolean } = {}): Server {
  const server = createServer(options);
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  defer(async () => {
    for (const socket of sockets) socket.destroy();
    if (server.listening) await new Promise((resolve) => server.close(resolve));
  });
  return server;
}

/** Keepalive controls as the kernel holds them, read independently of the adapter. */
function kernelKeepalive(socket: Socket): Record<string, number> {
  assert.ok(backend.ok);
  const fd = fdOf(socket);
  const table = platformOptions("linux")!;
  const get = (entry: (typeof table)["keepIdle"]): number => {
    const option = entry as SupportedOption;
    return backend.backend.getInt(fd, option.level, option.option);
  };
  return {
    keepalive: get(table.keepAlive),
    idle: get(table.keepIdle),
    interval: get(table.keepInterval),
    count: get(table.keepCount),
    userTimeout: get(table.userTimeout),
  };
}

/**
 * A monitor whose transitions and ends are recorded and can be awaited, and whose `onError` reports
 * are collected: the monitor swallows what a callback throws (an `assert.fail` there would fail
 * nothing), so the test's cleanup closes the monitor and then asserts that none came.
 */
class Recorder {
  readonly transitions: Transition<Socket>[] = [];
  readonly ends: ConnectionId[] = [];
  /** `callback: error` for each report to onError. */
  readonly errors: string[] = [];
  readonly monitor: LivenessMonitor<Socket>;
  #wake = new Set<() => void>();

  constructor(defer: Defer, options: MonitorOptions<Socket> = {}) {
    // Registered first, so it runs last: after every socket the test opened is closed.
    defer(() => {
      this.monitor.close();
      assert.deepEqual(this.errors, [], "the monitor reported no error to onError");
    });
    this.monitor = new LivenessMonitor<Socket>({
      resolution: 10,
      onError: (error, callback) => {
        this.errors.push(`${callback}: ${(error as Error)?.stack ?? String(error)}`);
      },
      ...options,
      onTransition: (t) => {
        this.transitions.push(t);
        for (const wake of this.#wake) wake();
      },
      onEnd: (_socket, id) => {
        this.ends.push(id);
        for (const wake of this.#wake) wake();
      },
    });
  }

  /** Resolves with the first recorded transition that matches, waiting at most `ms`. */
  next(match: (t: Transition<Socket>) => boolean, ms = 5_000): Promise<Transition<Socket>> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.transitions.find(match);
        if (found === undefined) return;
        this.#wake.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.#wake.delete(check);
        reject(new Error(`No matching transition in ${ms} ms; saw ${this.describe()}`));
      }, ms);
      this.#wake.add(check);
      check();
    });
  }

  describe(): string {
    return JSON.stringify(
      this.transitions.map(({ from, to, reason }) => `${from}->${to}:${reason}`),
    );
  }
}

interface Pair {
  server: Server;
  accepted: Socket;
  client: Socket;
  close(): Promise<void>;
}

/**
 * A loopback connection: the server's `setup` runs first, the client is a plain net.Socket. All of
 * it is closed by the test's cleanup too; `close()` closes it earlier, and may be called again.
 */
async function openPair(
  defer: Defer,
  setup: (server: Server) => void,
  serverOptions: { allowHalfOpen?: boolean } = {},
): Promise<Pair> {
  const server = openServer(defer, serverOptions);
  setup(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const accepted = once(server, "connection");
  const client = new Socket();
  defer(() => client.destroy());
  client.connect((server.address() as AddressInfo).port, "127.0.0.1");
  client.on("error", () => {});
  await once(client, "connect");
  const [socket] = (await accepted) as [Socket];
  return {
    server,
    accepted: socket,
    client,
    async close(): Promise<void> {
      client.destroy();
      socket.destroy();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Answers every `PING` line with `PONG` until `hang()`. */
function answerPings(socket: Socket): { hang(): void } {
  let hung = false;
  socket.setEncoding("utf8");
  socket.on("data", (data: string) => {
    if (!hung && data.includes("PING\n")) socket.write("PONG\n");
  });
  return { hang: () => void (hung = true) };
}

test("accepted and outgoing connections are tracked and tuned", async (t) => {
  const defer = cleanup(t);
  const recorder = new Recorder(defer, { keepalive: KEEPALIVE });
  const { monitor } = recorder;
  const server = openServer(defer);
  server.on("connection", (socket) => socket.on("error", () => {}));
  let seenInListener: ConnectionId | undefined;
  server.on("connection", (socket) => seenInListener = connectionId(socket));
  const unwatch = watchServer(monitor, server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const accepted = once(server, "connection");
  let reportInListener: unknown;
  const client = connect(
    monitor,
    { port: (server.address() as AddressInfo).port, host: "127.0.0.1" },
    () => reportInListener = tuningReport(client),
  );
  defer(() => client.destroy());
  client.on("error", () => {});
  assert.equal(tuningReport(client), undefined, "not tuned before it connects");
  await once(client, "connect");
  const [socket] = (await accepted) as [Socket];
  const serverId = connectionId(socket);
  const clientId = connectionId(client);
  assert.ok(serverId !== undefined && clientId !== undefined && serverId !== clientId);
  assert.equal(seenInListener, serverId, "watched before the server's own listeners run");
  assert.equal(reportInListener, tuningReport(client), "tuned before connectListener runs");
  assert.equal(monitor.state(serverId), "open");
  assert.equal(monitor.state(clientId), "open");
  assert.equal(monitor.size, 2);
  assert.equal(watchSocket(monitor, socket), serverId, "watching again returns the same id");
  const other = new LivenessMonitor<Socket>();
  defer(() => other.close());
  assert.throws(() => watchSocket(other, socket), {
    name: "TypeError",
    message: /"socket" is already watched by another monitor/,
  });
  other.close();
  // Nothing switches the user's streams into flowing mode.
  assert.equal(socket.listenerCount("data"), 0);
  assert.equal(socket.readableFlowing, null);
  assert.equal(client.readableFlowing, null);
  unwatch();
  client.destroy();
  await recorder.next((t) => t.id === serverId && t.to === "closed");
  await recorder.next((t) => t.id === clientId && t.to === "closed");
});

test("with FFI the report reads back idle 2 s, interval 1 s, count 3, user timeout 3 s", {
  skip: ffiOnly,
}, async (t) => {
  const defer = cleanup(t);
  requireBackend();
  const { monitor } = new Recorder(defer, { keepalive: KEEPALIVE });
  const pair = await openPair(defer, (server) => watchServer(monitor, server));
  const client = connect(monitor, { port: pair.client.remotePort!, host: "127.0.0.1" });
  defer(() => client.destroy());
  await once(client, "connect");
  // A moment for the first accepted connection's read-back.
  await new Promise((resolve) => setTimeout(resolve, 20));
  for (const [socket, accepted] of [[pair.accepted, true], [client, false]] as const) {
    const report = tuningReport(socket)!;
    assert.equal(report.backend, BACKEND_NAME);
    assert.equal(report.unavailable, undefined);
    const expect = { keepalive: true, idle: 2000, interval: 1000, count: 3, userTimeout: 3000 };
    for (const [control, value] of Object.entries(expect)) {
      const entry = report[control as keyof typeof expect];
      assert.equal(entry.status, "applied", `${control}: ${JSON.stringify(entry)}`);
      assert.equal(entry.value, value, control);
      assert.equal(entry.verified, true, control);
      // Accepted from the listener watchServer tuned: inherited, and read back as the first one.
      if (accepted) assert.equal(entry.via, "listener", control);
    }
    if (!accepted) {
      assert.equal(report.userTimeout.via, "setsockopt");
      assert.equal(report.idle.via, "native");
      if (nodeSetsAll) {
        assert.equal(report.interval.via, "native");
        assert.equal(report.count.via, "native");
      }
    }
    assert.deepEqual(kernelKeepalive(socket), {
      keepalive: 1,
      idle: 2,
      interval: 1,
      count: 3,
      userTimeout: 3000,
    });
    assert.equal(report.bound.idleMs, 3000, "user timeout 3 s cuts keepalive's 5 s short");
  }
});

test("with ffi: false the report says what Node's own API could not set", async (t) => {
  const defer = cleanup(t);
  const { monitor } = new Recorder(defer, { keepalive: KEEPALIVE });
  const pair = await openPair(defer, (server) => watchServer(monitor, server, { ffi: false }));
  const report = tuningReport(pair.accepted)!;
  const why = "setsockopt is off (the ffi option is false)";
  assert.equal(report.backend, undefined);
  assert.equal(report.unavailable, why);
  assert.deepEqual(report.userTimeout, {
    status: "unsupported",
    asked: 3000,
    value: undefined,
    verified: false,
    via: undefined,
    note: why,
  });
  assert.equal(report.idle.status, "applied");
  assert.equal(report.idle.via, "native");
  assert.equal(report.idle.verified, false);
  if (nodeSetsAll) {
    assert.equal(report.interval.status, "applied");
    assert.equal(report.count.status, "applied");
    assert.equal(report.bound.idleMs, 5000, "2 s + 3 × 1 s");
  } else if (sideEffects) {
    // Fixed at 1 s and 10 along with the idle time: the interval as asked, the count not.
    assert.equal(report.interval.status, "applied");
    assert.equal(report.count.status, "adjusted");
    assert.equal(report.count.value, 10);
  } else {
    assert.equal(report.interval.status, "unsupported");
    assert.equal(report.count.status, "unsupported");
  }
  if (backend.ok) {
    // What the runtime claims it set is what the kernel holds; the user timeout stayed at 0.
    assert.deepEqual(kernelKeepalive(pair.accepted), {
      keepalive: 1,
      idle: 2,
      interval: sideEffects ? 1 : 75,
      count: nodeSetsAll ? 3 : sideEffects ? 10 : 9,
      userTimeout: 0,
    });
  }
  await pair.close();
  monitor.close();
});

test("a descriptor that is not the socket's is never tuned", {
  skip: nodeOnly || ffiOnly,
}, async (t) => {
  const defer = cleanup(t);
  requireBackend();
  const { monitor } = new Recorder(defer, { keepalive: KEEPALIVE });
  const mine = await openPair(defer, () => {});
  const other = await openPair(defer, () => {});
  const before = kernelKeepalive(other.accepted);
  // Make the first socket's handle report the other's descriptor.
  const handle = (mine.accepted as unknown as { _handle: object })._handle;
  Object.defineProperty(handle, "fd", { value: nodeSocketFd(other.accepted), configurable: true });
  defer(() => delete (handle as { fd?: number }).fd);
  watchSocket(monitor, mine.accepted);
  const report = tuningReport(mine.accepted)!;
  assert.match(report.unavailable!, /^descriptor \d+ is .*, not this socket's /);
  assert.equal(report.userTimeout.status, "unsupported");
  assert.deepEqual(kernelKeepalive(other.accepted), before);
  delete (handle as { fd?: number }).fd;
  await mine.close();
  await other.close();
  monitor.close();
});

test("an IPC socket is watched, and its report says keepalive does not apply", {
  skip: process.platform === "win32" && "Unix sockets only",
}, async (t) => {
  const defer = cleanup(t);
  const recorder = new Recorder(defer, { keepalive: KEEPALIVE });
  const path = join(tmpdir(), `liveness-${process.pid}.sock`);
  const server = openServer(defer);
  server.on("connection", (socket) => socket.end());
  watchServer(recorder.monitor, server);
  server.listen(path);
  await once(server, "listening");
  const client = connect(recorder.monitor, { path });
  defer(() => client.destroy());
  await once(client, "connect");
  const report = tuningReport(client)!;
  assert.equal(report.keepalive.status, "unsupported");
  assert.equal(report.unavailable, "not a connected TCP socket");
  client.resume();
  await recorder.next((t) => t.id === connectionId(client) && t.to === "closed");
  server.close();
  await once(server, "close");
  recorder.monitor.close();
});

test("a peer's RST makes the connection dead with reason reset", async (t) => {
  const defer = cleanup(t);
  const recorder = new Recorder(defer);
  const pair = await openPair(defer, (server) => watchServer(recorder.monitor, server));
  pair.accepted.on("error", () => {});
  pair.accepted.resume();
  const id = connectionId(pair.accepted);
  // Bun's node:net closes in the same tick (and `once` would reject on the error).
  const closed = new Promise((resolve) => pair.accepted.once("close", resolve));
  pair.client.resetAndDestroy();
  const death = await recorder.next((t) => t.id === id && t.to === "dead");
  assert.equal(death.reason, "reset");
  assert.equal((death.error as { code?: string }).code, "ECONNRESET");
  await closed;
  assert.equal(recorder.transitions.length, 1, recorder.describe());
  await pair.close();
  recorder.monitor.close();
});

test("a peer's FIN is an end, not a death; the close after it is the peer's", async (t) => {
  const defer = cleanup(t);
  const recorder = new Recorder(defer, {
    heartbeat: { interval: 100, timeout: 100, send: (socket) => void socket.write("PING\n") },
  });
  const pair = await openPair(defer, (server) => watchServer(recorder.monitor, server), {
    allowHalfOpen: true,
  });
  const id = connectionId(pair.accepted)!;
  pair.accepted.resume();
  pair.client.resume();
  pair.client.end();
  await once(pair.accepted, "end");
  assert.deepEqual(recorder.ends, [id]);
  // Half-open: no ping can be answered now, and none is sent.
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.equal(recorder.monitor.state(id), "open");
  assert.deepEqual(recorder.transitions, []);
  pair.accepted.end();
  const closed = await recorder.next((t) => t.id === id);
  assert.equal(closed.to, "closed");
  assert.equal(closed.reason, "peer-close", "the peer ended its side first");
  await pair.close();
  recorder.monitor.close();
});

test("a peer's FIN is seen on a socket the application never reads", async (t) => {
  const defer = cleanup(t);
  const recorder = new Recorder(defer, { idleTimeout: "10s" });
  const pair = await openPair(defer, (server) => watchServer(recorder.monitor, server), {
    allowHalfOpen: true,
  });
  const id = connectionId(pair.accepted)!;
  // Nothing reads the accepted socket, so Node never emits its 'end': the FIN is seen all the same.
  pair.client.end("unread");
  for (let waited = 0; !recorder.ends.includes(id); waited += 10) {
    assert.ok(waited < 5_000, "the peer's FIN is seen within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(recorder.monitor.info(id)?.ended, true);
  assert.equal(pair.accepted.readableEnded, false, "'end' was not emitted");
  pair.accepted.resume(); // read to the end, so that Node can close it
  pair.accepted.end();
  const closed = await recorder.next((t) => t.id === id);
  assert.equal(closed.reason, "peer-close", "the peer ended its side first");
  await pair.close();
  recorder.monitor.close();
});

test("a local close is closed, and an error after it changes nothing", async (t) => {
  const defer = cleanup(t);
  const recorder = new Recorder(defer);
  const pair = await openPair(defer, (server) => watchServer(recorder.monitor, server));
  const id = connectionId(pair.accepted)!;
  pair.accepted.on("error", () => {});
  pair.accepted.destroy();
  await once(pair.accepted, "close");
  assert.deepEqual(recorder.transitions.map((t) => [t.id, t.to, t.reason]), [
    [id, "closed", "local-close"],
  ]);
  pair.accepted.emit("error", Object.assign(new Error("late"), { code: "ECONNRESET" }));
  pair.accepted.emit("close", false);
  assert.equal(recorder.transitions.length, 1, recorder.describe());
  assert.equal(recorder.monitor.state(id), undefined);
  await pair.close();
  recorder.monitor.close();
});

test("a hung peer is dead by heartbeat timeout and its socket is destroyed", async (t) => {
  const defer = cleanup(t);
  const interval = 300;
  const timeout = 300;
  const recorder = new Recorder(defer, {
    heartbeat: { interval, timeout, send: (socket) => void socket.write("PING\n") },
  });
  let lastAck = 0;
  const pair = await openPair(defer, (server) => {
    watchServer(recorder.monitor, server);
    server.on("connection", (socket) => {
      // No 'error' listener on purpose: the adapter must destroy without emitting one.
      socket.setEncoding("utf8");
      socket.on("data", (data: string) => {
        if (!data.includes("PONG\n")) return;
        lastAck = performance.now();
        recorder.monitor.acked(connectionId(socket)!);
      });
    });
  });
  const id = connectionId(pair.accepted)!;
  const peer = answerPings(pair.client);
  await recorder.next((t) => t.reason === "ack", 2_000);
  peer.hang();
  const death = await recorder.next((t) => t.to === "dead", 5_000);
  const took = performance.now() - lastAck;
  assert.equal(death.id, id);
  assert.equal(death.reason, "heartbeat-timeout");
  // A ping one interval after the last answer, then its timeout, plus three ticks and scheduling.
  const bound = interval + timeout + 3 * 100 + 150;
  assert.ok(took >= interval + timeout, `dead ${took.toFixed(0)} ms after the last answer`);
  assert.ok(took <= bound, `dead ${took.toFixed(0)} ms after the last answer, over ${bound} ms`);
  assert.equal(pair.accepted.destroyed, true, "the adapter destroyed the socket");
  await once(pair.client, "end"); // the peer sees the close
  // An error after death is ignored.
  pair.accepted.on("error", () => {});
  pair.accepted.emit("error", new Error("late"));
  assert.equal(recorder.transitions.filter((t) => t.to === "dead").length, 1);
  await pair.close();
  recorder.monitor.close();
});

test("a healthy peer that answers pings stays open", async (t) => {
  const defer = cleanup(t);
  const recorder = new Recorder(defer, {
    heartbeat: { interval: 150, timeout: 150, send: (socket) => void socket.write("PING\n") },
  });
  let acks = 0;
  const pair = await openPair(defer, (server) => {
    watchServer(recorder.monitor, server);
    server.on("connection", (socket) => {
      socket.on("data", (data: Buffer) => {
        if (!data.includes("PONG\n")) return;
        acks++;
        recorder.monitor.acked(connectionId(socket)!);
      });
    });
  });
  const id = connectionId(pair.accepted)!;
  answerPings(pair.client);
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal(recorder.monitor.state(id), "open");
  assert.ok(acks >= 3, `${acks} pings answered`);
  assert.ok(recorder.transitions.every((t) => t.to === "probing" || t.to === "open"));
  await pair.close();
  recorder.monitor.close();
});

test("bytes the user has not read keep a connection alive; silence kills it", async (t) => {
  const defer = cleanup(t);
  const idleTimeout = 300;
  const recorder = new Recorder(defer, { idleTimeout });
  // The server never reads nor listens for errors: Node still pushes what arrives into the buffer.
  const pair = await openPair(
    defer,
    (server) => watchServer(recorder.monitor, server, { ffi: false }),
  );
  const id = connectionId(pair.accepted)!;
  const writer = setInterval(() => pair.client.write("x"), 50);
  defer(() => clearInterval(writer));
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  clearInterval(writer);
  const quietSince = performance.now();
  assert.equal(recorder.monitor.state(id), "open", recorder.describe());
  assert.ok(pair.accepted.bytesRead > 0);
  assert.equal(pair.accepted.readableFlowing, null);
  const death = await recorder.next((t) => t.to === "dead", 3_000);
  const took = performance.now() - quietSince;
  assert.equal(death.reason, "idle-timeout");
  // Reads are seen as they come: the timeout, two ticks, and scheduling.
  // (A loaded machine runs timers late: inputs carry the last tick's time, so allow one tick early.)
  assert.ok(took >= idleTimeout - 100, `dead ${took.toFixed(0)} ms after the last byte: too early`);
  assert.ok(took <= idleTimeout + 2 * 100 + 500, `dead ${took.toFixed(0)} ms after the last byte`);
  await once(pair.client, "end");
  await pair.close();
  recorder.monitor.close();
});

test("an idle connection is open again when bytes arrive", async (t) => {
  const defer = cleanup(t);
  const recorder = new Recorder(defer, { idle: 200 });
  const pair = await openPair(defer, (server) => watchServer(recorder.monitor, server));
  const id = connectionId(pair.accepted)!;
  await recorder.next((t) => t.id === id && t.to === "idle", 1_000);
  const wrote = performance.now();
  pair.client.write("x");
  const back = await recorder.next((t) => t.id === id && t.from === "idle", 1_000);
  assert.equal(back.to, "open");
  assert.equal(back.reason, "activity");
  const took = performance.now() - wrote;
  assert.ok(took <= 100, `seen ${took.toFixed(0)} ms after the write: reads are seen at once`);
  await pair.close();
  recorder.monitor.close();
});

test("bytes written count as activity too", async (t) => {
  const defer = cleanup(t);
  const recorder = new Recorder(defer, { idleTimeout: 300 });
  const pair = await openPair(defer, (server) => watchServer(recorder.monitor, server));
  const id = connectionId(pair.accepted)!;
  pair.client.resume();
  const writer = setInterval(() => pair.accepted.write("x"), 50);
  defer(() => clearInterval(writer));
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  clearInterval(writer);
  assert.equal(recorder.monitor.state(id), "open", recorder.describe());
  await pair.close();
  recorder.monitor.close();
});

test("the accept path never throws: without FFI, and after the monitor is closed", async (t) => {
  const defer = cleanup(t);
  const { monitor } = new Recorder(defer, { keepalive: KEEPALIVE });
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning.message);
  process.on("warning", onWarning);
  defer(() => process.off("warning", onWarning));
  const first = await openPair(defer, (server) => watchServer(monitor, server, { ffi: false }));
  assert.ok(tuningReport(first.accepted) !== undefined);
  // Watched while the monitor was open (a closed one is refused at once), accepting once closed.
  const second = await openPair(defer, (server) => {
    watchServer(monitor, server, { ffi: false });
    monitor.close();
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(connectionId(second.accepted), undefined);
  assert.deepEqual(warnings, [
    "A connection is not watched: Cannot track a connection: the monitor is closed",
  ]);
  process.off("warning", onWarning);
  await first.close();
  await second.close();
});

test("bad arguments are TypeErrors naming the argument", (t) => {
  const defer = cleanup(t);
  const monitor = new LivenessMonitor<Socket>();
  defer(() => monitor.close());
  const socket = new Socket();
  defer(() => socket.destroy());
  const bad = (fn: () => unknown, name: string): void =>
    void assert.throws(fn, { name: "TypeError", message: new RegExp(`"${name}"`) });
  const any = (value: unknown) => value as never;
  bad(() => watchSocket(any(null), socket), "monitor");
  bad(() => watchSocket(any({ track() {} }), socket), "monitor");
  bad(() => watchSocket(monitor, any({})), "socket");
  bad(() => watchSocket(monitor, socket, any({ ffi: "no" })), "ffi");
  bad(() => watchSocket(monitor, socket, any({ fii: false })), "fii");
  bad(() => watchSocket(monitor, socket, any(false)), "options");
  bad(() => watchServer(monitor, any(socket)), "server");
  bad(() => watchServer(any(undefined), any(null)), "monitor");
  bad(() => connect(monitor, any(null)), "options");
  bad(() => connect(monitor, { port: 1, host: "127.0.0.1" }, any("cb")), "connectListener");
  bad(() => tuningReport(any({})), "socket");
  bad(() => connectionId(any(1)), "socket");
  socket.destroy();
  bad(() => watchSocket(monitor, socket), "socket");
  assert.equal(monitor.size, 0);
  monitor.close();
});

test("connect(): connecting until established, then open; a refused connect never was open", async (t) => {
  const defer = cleanup(t);
  const recorder = new Recorder(defer);
  const server = createServer((socket) => socket.end());
  defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  const client = connect(recorder.monitor, { host: "127.0.0.1", port });
  defer(() => client.destroy());
  assert.equal(recorder.monitor.state(connectionId(client)!), "connecting");
  const opened = await recorder.next((t) => t.context === client);
  assert.deepEqual([opened.from, opened.to, opened.reason], ["connecting", "open", "connected"]);
  assert.equal(tuningReport(client)?.keepalive.status, "applied");
  // A port nobody listens on: refused before it was ever open.
  const closedPort = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const refused = connect(recorder.monitor, { host: "127.0.0.1", port: closedPort });
  refused.on("error", () => {});
  const death = await recorder.next((t) => t.context === refused);
  assert.deepEqual([death.from, death.to, death.reason], ["connecting", "dead", "refused"]);
  assert.equal(recorder.monitor.stats().deaths.refused, 1);
});
