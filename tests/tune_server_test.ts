// Listener tuning over real loopback sockets, on every runtime: `tuneServer` of the Node adapter on
// each runtime's `node:net`, of the Deno adapter (`Deno.serve`, `Deno.listen`, `listen()`) and of the
// Bun adapter (`Bun.serve`, `Bun.listen`, `watchHandler`). What the kernel holds is read with
// getsockopt on the descriptors themselves, found by their endpoints, independently of the adapter.
//
// Linux with FFI (koffi on Node, --allow-ffi on Deno, bun:ffi): without it these skip, except in
// CI, where they must run (tests/_skip.ts). Every test closes what it opens when it ends.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { readdirSync } from "node:fs";
import { type AddressInfo, connect as netConnect, createServer, type Socket } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { LivenessMonitor, type TuningReport } from "../mod.ts";
import type { SockoptBackend } from "../src/_sockopt.ts";
import {
  connectionId,
  tuneServer as tuneNodeServer,
  tuningReport,
  watchServer,
  watchWebSocketServer,
} from "../adapters/node.ts";
import {
  type DenoTcpConn,
  listen,
  tuneServer as tuneDenoServer,
  type WatchedConn,
} from "../adapters/deno.ts";
import {
  type BunSocket,
  type SocketHandler,
  tuneServer as tuneBunServer,
  tuningReport as bunReport,
  watchHandler,
} from "../adapters/bun.ts";
import { loadNodeBackend } from "../adapters/_ffi_node.ts";
import { loadDenoBackend } from "../adapters/_ffi_deno.ts";
import { loadBunBackend } from "../adapters/_ffi_bun.ts";
import { mustRun, onlyOn, runtime, type RuntimeName } from "./_skip.ts";

const loaded = runtime === "deno"
  ? loadDenoBackend()
  : runtime === "bun"
  ? loadBunBackend()
  : loadNodeBackend();
const BACKEND = { node: "koffi", deno: "deno-ffi", bun: "bun-ffi" }[runtime];
const linux = process.platform === "linux" ? false : "Linux only";
const withFfi = linux || mustRun(loaded.ok ? false : `setsockopt unavailable: ${loaded.reason}`);
/** A test of one runtime's listener tuning: on that runtime, with FFI (or without, for the second). */
const only = (wanted: RuntimeName): string | false => onlyOn(wanted) || withFfi;
const onlyOnNoFfi = (wanted: RuntimeName): string | false => onlyOn(wanted) || linux;

const HOST = "127.0.0.1";
// Values no runtime or system sets by itself: idle 7 s, interval 3 s, count 4, user timeout 9 s.
const KEEPALIVE = { idle: "7s", interval: "3s", count: 4, userTimeout: "9s" };
const TUNED = [1, 7, 3, 4, 9000];
const FFI_OFF = "setsockopt is off (the ffi option is false)";
const CONTROLS = ["keepalive", "idle", "interval", "count", "userTimeout"] as const;

interface Deno {
  serve(
    options: { hostname: string; port: number; onListen(): void },
    handler: () => Response,
  ): {
    readonly addr: { transport: string; hostname: string; port: number };
    shutdown(): Promise<void>;
  };
  listen(options: { hostname: string; port: number }): {
    readonly addr: { transport: string; hostname: string; port: number };
    accept(): Promise<DenoTcpConn>;
    close(): void;
  };
  connect(options: { hostname: string; port: number }): Promise<DenoTcpConn>;
}
interface Bun {
  serve(options: { hostname: string; port: number; fetch(): Response }): {
    readonly port: number;
    stop(force?: boolean): void;
  };
  listen(options: {
    hostname: string;
    port: number;
    socket: SocketHandler<BunSocket>;
  }): { readonly port: number; stop(force?: boolean): void };
}
const deno = (globalThis as unknown as { Deno: Deno }).Deno;
const bun = (globalThis as unknown as { Bun: Bun }).Bun;

function backend(): SockoptBackend {
  assert.ok(loaded.ok, `setsockopt unavailable: ${loaded.ok ? "" : loaded.reason}`);
  return loaded.backend;
}

/** SO_KEEPALIVE, TCP_KEEPIDLE (s), TCP_KEEPINTVL (s), TCP_KEEPCNT, TCP_USER_TIMEOUT (ms). */
function held(fd: number): number[] {
  const b = backend();
  return [[1, 9], [6, 4], [6, 5], [6, 6], [6, 18]].map(([level, option]) =>
    b.getInt(fd, level, option)
  );
}

/** The descriptors of the connections a listener on `port` accepted, read from /proc/self/fd. */
function acceptedOn(port: number): number[] {
  const b = backend();
  return readdirSync("/proc/self/fd").map(Number).filter((fd) =>
    b.localAddress(fd)?.port === port && b.remoteAddress(fd) !== undefined
  );
}

/** The descriptor of the accepted end of the connection whose client end has port `client`. */
function acceptedFd(port: number, client: number): number {
  const fd = acceptedOn(port).find((fd) => backend().remoteAddress(fd)?.port === client);
  return fd ?? assert.fail(`no accepted connection from port ${client} on port ${port}`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, done: () => boolean, ms = 3_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() > deadline) assert.fail(`waited ${ms} ms for ${what}`);
    await sleep(5);
  }
}

/** A monitor whose warnings are collected, closed when the test ends. */
function monitorFor<C = unknown>(t: TestContext): {
  monitor: LivenessMonitor<C>;
  warnings: string[];
} {
  const warnings: string[] = [];
  const monitor = new LivenessMonitor<C>({
    keepalive: KEEPALIVE,
    onWarning: (text) => void warnings.push(text),
  });
  t.after(() => monitor.close());
  return { monitor, warnings };
}

/** Every control applied, read back from the listener. */
function assertTuned(report: TuningReport): void {
  assert.equal(report.backend, BACKEND);
  assert.equal(report.unavailable, undefined);
  for (const control of CONTROLS) {
    assert.equal(report[control].status, "applied", `${control}: ${JSON.stringify(report)}`);
    assert.equal(report[control].verified, true, control);
  }
  // The user timeout (9 s) ends it at the first probe at or after it: 7 s + 3 s.
  assert.equal(report.bound.idleMs, 10_000);
}

/** A node:net server on 127.0.0.1 whose sockets and listener the test's end closes. */
async function nodeServer(
  t: TestContext,
  setup: (server: ReturnType<typeof createServer>) => void = () => {},
): Promise<{ server: ReturnType<typeof createServer>; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    socket.on("error", () => {});
    sockets.push(socket);
  });
  setup(server);
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    if (server.listening) await new Promise((resolve) => server.close(resolve));
  });
  server.listen(0, HOST);
  await once(server, "listening");
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

/** A node:net client, destroyed when the test ends; resolves once connected. */
async function nodeClient(t: TestContext, port: number): Promise<Socket> {
  const client = netConnect(port, HOST);
  client.on("error", () => {});
  t.after(() => void client.destroy());
  await once(client, "connect");
  return client;
}

// ---- the Node adapter, on every runtime's node:net ---------------------------------------------

test("node:net: tuneServer tunes the listener, and what it accepts afterwards holds its values", {
  skip: withFfi,
}, async (t) => {
  const { monitor, warnings } = monitorFor(t);
  const { server, port, sockets } = await nodeServer(t);
  const report = tuneNodeServer(monitor, server);
  assertTuned(report);
  assert.deepEqual(report.address, { address: HOST, port, family: "IPv4" });
  assert.deepEqual(report.earlier, { accepted: 0, queued: 0, failed: 0 });
  assert.equal(tuneNodeServer(monitor, server), report, "tuned once: the same report again");
  const other = new LivenessMonitor();
  t.after(() => other.close());
  assert.throws(() => tuneNodeServer(other, server), {
    name: "TypeError",
    message: /"server" is already tuned by another monitor/,
  });
  const clients = await Promise.all([1, 2, 3].map(() => nodeClient(t, port)));
  await until("3 accepted", () => sockets.length === 3);
  for (const client of clients) assert.deepEqual(held(acceptedFd(port, client.localPort!)), TUNED);
  assert.deepEqual(warnings, []);
});

test("node:net: connections accepted before the listener was tuned are tuned one by one", {
  skip: withFfi,
}, async (t) => {
  const { monitor } = monitorFor(t);
  const { server, port, sockets } = await nodeServer(t);
  const clients = [await nodeClient(t, port), await nodeClient(t, port)];
  await until("2 accepted", () => sockets.length === 2);
  const fds = clients.map((client) => acceptedFd(port, client.localPort!));
  for (const fd of fds) assert.notDeepEqual(held(fd), TUNED);
  const report = tuneNodeServer(monitor, server);
  assert.deepEqual(report.earlier, { accepted: 2, queued: 0, failed: 0 });
  for (const fd of fds) assert.deepEqual(held(fd), TUNED);
});

test("node:net: with ffi: false the report says why, and the monitor warns once with the cost", {
  skip: linux,
}, async (t) => {
  const { monitor, warnings } = monitorFor(t);
  const { server, port, sockets } = await nodeServer(t);
  const report = tuneNodeServer(monitor, server, { ffi: false });
  assert.equal(report.unavailable, FFI_OFF);
  assert.equal(report.address, undefined);
  for (const control of CONTROLS) {
    assert.equal(report[control].status, "unsupported", control);
    assert.equal(report[control].note, FFI_OFF, control);
  }
  tuneNodeServer(monitor, server, { ffi: false });
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(
    warnings[0],
    /^The listener on 127\.0\.0\.1:\d+ is not tuned \(setsockopt is off \(the ffi option is false\)\): .* a peer that vanishes goes unnoticed for 7875 s on a quiet connection, 924\.6 s with data in flight$/,
  );
  if (loaded.ok) {
    const client = await nodeClient(t, port);
    await until("1 accepted", () => sockets.length === 1);
    assert.notDeepEqual(held(acceptedFd(port, client.localPort!)), TUNED, "nothing was set");
  }
});

test("node:net: watchServer's connections get the listener's report, and the first is read back", {
  skip: withFfi,
}, async (t) => {
  const { monitor, warnings } = monitorFor<Socket>(t);
  const seen: TuningReport[] = [];
  const { port, sockets } = await nodeServer(t, (server) => {
    watchServer(monitor, server);
    server.on("connection", (socket) => seen.push(tuningReport(socket)!));
  });
  const clients = [await nodeClient(t, port), await nodeClient(t, port)];
  await until("2 accepted", () => sockets.length === 2);
  for (const report of seen) {
    for (const control of CONTROLS) {
      assert.equal(report[control].via, "listener", control);
      assert.equal(report[control].verified, false, `${control}: not read back on accept`);
    }
  }
  await sleep(30);
  const [first, second] = sockets.map((socket) => tuningReport(socket)!);
  assert.ok(CONTROLS.every((control) => first[control].verified), "the first is read back");
  assert.equal(second, seen[1], "the second keeps its derived report");
  assert.deepEqual(first.bound, second.bound);
  for (const client of clients) assert.deepEqual(held(acceptedFd(port, client.localPort!)), TUNED);
  assert.deepEqual(warnings, []);
});

test("node:net: a sample that finds its connection closed is taken ever later, not every 8", {
  skip: withFfi,
}, async (t) => {
  const { monitor, warnings } = monitorFor<Socket>(t);
  let closeAtOnce = true;
  const { port, sockets } = await nodeServer(t, (server) => {
    watchServer(monitor, server);
    server.on("connection", (socket) => closeAtOnce && socket.destroy());
  });
  // One at a time, each sample's moment passing before the next connection comes.
  const accept = async (): Promise<Socket> => {
    const count = sockets.length;
    await nodeClient(t, port);
    await until(`connection ${count + 1}`, () => sockets.length === count + 1);
    await sleep(2);
    return sockets[count];
  };
  // The samples of the 1st, 10th, 27th, 60th and 125th connections find them closed: after each
  // miss the next waits twice as many connections (8, 16, 32, 64, then 128).
  for (let n = 1; n <= 130; n++) await accept();
  closeAtOnce = false;
  const kept: Socket[] = [];
  for (let n = 131; n <= 254; n++) kept.push(await accept());
  const read = kept.flatMap((socket, i) => tuningReport(socket)!.idle.verified ? [131 + i] : []);
  // A sample every 8 connections after a miss would have read the 136th.
  assert.deepEqual(read, [254]);
  assert.deepEqual(warnings, []);
});

test("node:net: a read-back that disagrees is reported as held, warned, and ends inheriting", {
  skip: withFfi,
}, async (t) => {
  const { monitor, warnings } = monitorFor<Socket>(t);
  const { port, sockets } = await nodeServer(t, (server) => {
    watchServer(monitor, server);
    server.on("connection", (socket) => {
      // The application changes the first connection before its read-back.
      if (sockets.length === 1) {
        backend().setInt(acceptedFd(port, socket.remotePort!), 6, 4, 11);
      }
    });
  });
  const first = await nodeClient(t, port);
  await until("1 accepted", () => sockets.length === 1);
  await sleep(30);
  const report = tuningReport(sockets[0])!;
  assert.deepEqual(
    { status: report.idle.status, value: report.idle.value, verified: report.idle.verified },
    { status: "adjusted", value: 11_000, verified: true },
  );
  assert.equal(report.interval.via, "listener");
  assert.equal(report.interval.verified, true);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(
    warnings[0],
    /^A connection accepted on 127\.0\.0\.1:\d+ holds idle 11000 ms, not the listener's 7000 ms: .* from now on each connection this listener accepts is tuned on its own$/,
  );
  assert.equal(connectionId(sockets[0]) !== undefined, true);
  // The next one is tuned on its own, and holds the values.
  const second = await nodeClient(t, port);
  await until("2 accepted", () => sockets.length === 2);
  // Read back on accept, not a moment later: tuned on its own (what it inherited says so).
  const next = tuningReport(sockets[1])!;
  assert.ok(CONTROLS.every((control) => next[control].verified), JSON.stringify(next));
  assert.deepEqual(held(acceptedFd(port, second.localPort!)), TUNED);
  assert.deepEqual(held(acceptedFd(port, first.localPort!)), [1, 11, 3, 4, 9000]);
});

test("node:net: a connection from a listener another monitor tuned is tuned on its own", {
  skip: withFfi,
}, async (t) => {
  const { monitor: first } = monitorFor(t);
  const second = new LivenessMonitor<Socket>({ keepalive: { idle: "11s", userTimeout: "13s" } });
  t.after(() => second.close());
  const { server, port, sockets } = await nodeServer(t);
  tuneNodeServer(first, server);
  watchServer(second, server);
  const client = await nodeClient(t, port);
  await until("accepted", () => sockets.length === 1);
  const report = tuningReport(sockets[0])!;
  assert.ok(
    CONTROLS.every((control) => report[control].via !== "listener"),
    JSON.stringify(report),
  );
  // Its own monitor's idle and user timeout (interval and count it leaves to the runtime).
  const [keepalive, idle, , , userTimeout] = held(acceptedFd(port, client.localPort!));
  assert.deepEqual([keepalive, idle, userTimeout], [1, 11, 13_000]);
});

// ---- `ws` WebSockets on node:http, watched by watchWebSocketServer ------------------------------

type WebSocket = InstanceType<typeof import("ws").WebSocket>;

/** A node:http server with a `ws` WebSocketServer (noServer: `upgrade` decides), closed at the end. */
async function wsServer(t: TestContext, upgrade?: (go: () => void, request: number) => void) {
  const { WebSocketServer } = await import("ws");
  const { createServer: createHttpServer } = await import("node:http");
  const server = createHttpServer();
  const wss = new WebSocketServer({ noServer: true });
  const accepted: { ws: WebSocket; socket: Socket }[] = [];
  let requests = 0;
  server.on("upgrade", (request, socket, head) => {
    const go = () =>
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
    if (upgrade === undefined) go();
    else upgrade(go, requests++);
  });
  wss.on("connection", (ws, request) => {
    ws.on("error", () => {});
    accepted.push({ ws, socket: request.socket as Socket });
  });
  t.after(async () => {
    for (const { ws } of accepted) ws.terminate();
    wss.close();
    server.closeAllConnections();
    if (server.listening) await new Promise((resolve) => server.close(resolve));
  });
  server.listen(0, HOST);
  await once(server, "listening");
  return { server, wss, port: (server.address() as AddressInfo).port, accepted };
}

/** A `ws` client, terminated when the test ends. */
async function wsClient(t: TestContext, port: number) {
  const { WebSocket } = await import("ws");
  const client = new WebSocket(`ws://${HOST}:${port}/`);
  client.on("error", () => {});
  t.after(() => client.terminate());
  return client;
}

test("ws: watchWebSocketServer tunes the listener at the first WebSocket; the next inherit", {
  skip: only("node"),
}, async (t) => {
  const { monitor, warnings } = monitorFor<WebSocket>(t);
  const { server, wss, port, accepted } = await wsServer(t);
  watchWebSocketServer(monitor, wss);
  for (let i = 1; i <= 3; i++) {
    await once(await wsClient(t, port), "open");
    await until(`${i} accepted`, () => accepted.length === i);
  }
  const listener = tuneNodeServer(monitor, server);
  assertTuned(listener);
  assert.deepEqual(listener.earlier, { accepted: 1, queued: 0, failed: 0 });
  const [first, ...later] = accepted.map(({ ws }) => tuningReport(ws)!);
  // The first was accepted before: tuned on its own, and read back.
  assert.equal(first.userTimeout.via, "setsockopt", JSON.stringify(first));
  assert.ok(CONTROLS.every((control) => first[control].verified), JSON.stringify(first));
  for (const report of later) {
    for (const control of CONTROLS) assert.equal(report[control].via, "listener", control);
  }
  for (const { socket } of accepted) {
    assert.deepEqual(held(acceptedFd(port, socket.remotePort!)), TUNED);
  }
  assert.deepEqual(warnings, []);
});

test("ws: connections queued when the listener is tuned are tuned on their own", {
  skip: only("node"),
}, async (t) => {
  const { monitor, warnings } = monitorFor<WebSocket>(t);
  const early: Promise<unknown>[] = [];
  // Two connections accepted before, which upgrade first, ahead of those queued.
  const idle: Socket[] = [];
  const { server, wss, port, accepted } = await wsServer(t, (go, request) => {
    if (request !== 0) return go();
    for (const socket of idle) socket.write(UPGRADE);
    // Two more connect while this upgrade waits: the kernel queues them, as this process does not
    // accept them before the first WebSocket tunes the listener.
    for (let i = 0; i < 2; i++) early.push(wsClient(t, port).then((c) => once(c, "open")));
    setImmediate(() => {
      const until = performance.now() + 50;
      while (performance.now() < until); // the handshakes complete in the kernel meanwhile
      go();
    });
  });
  let connections = 0;
  server.on("connection", () => connections++);
  watchWebSocketServer(monitor, wss);
  for (let i = 0; i < 2; i++) idle.push(await nodeClient(t, port));
  await until("2 accepted", () => connections === 2);
  await once(await wsClient(t, port), "open");
  await Promise.all(early);
  await until("5 upgraded", () => accepted.length === 5);
  const listener = tuneNodeServer(monitor, server);
  assert.deepEqual(listener.earlier, { accepted: 3, queued: 2, failed: 0 });
  const queued = accepted.filter(({ socket }) =>
    !idle.some((c) => c.localPort === socket.remotePort)
  );
  assert.equal(queued.length, 3);
  for (const { ws } of queued) {
    const report = tuningReport(ws)!;
    assert.equal(report.userTimeout.via, "setsockopt", JSON.stringify(report));
  }
  for (const { socket } of accepted) {
    assert.deepEqual(held(acceptedFd(port, socket.remotePort!)), TUNED);
  }
  // Later ones inherit.
  for (let i = 0; i < 2; i++) await once(await wsClient(t, port), "open");
  await until("7 upgraded", () => accepted.length === 7);
  const last = tuningReport(accepted[6].ws)!;
  for (const control of CONTROLS) assert.equal(last[control].via, "listener", control);
  assert.deepEqual(held(acceptedFd(port, accepted[6].socket.remotePort!)), TUNED);
  assert.deepEqual(warnings, []);
});

test(
  "ws and node:net on one listener: a disagreement reads back the WebSockets given its report too",
  {
    skip: only("node"),
  },
  async (t) => {
    // One monitor for the server's sockets and its WebSockets: both take the listener's report.
    const { monitor, warnings } = monitorFor<Socket | WebSocket>(t);
    let change = false;
    const { server, wss, port, accepted } = await wsServer(t);
    watchServer(monitor as LivenessMonitor<Socket>, server);
    watchWebSocketServer(monitor as LivenessMonitor<WebSocket>, wss);
    const sockets: Socket[] = [];
    server.on("connection", (socket: Socket) => {
      sockets.push(socket);
      // From now on the application changes every connection: the next sample disagrees.
      if (change) backend().setInt(acceptedFd(port, socket.remotePort!), 6, 4, 11);
    });
    // The first connection is sampled, and agrees: those accepted after it wait for the next.
    await nodeClient(t, port);
    await until("the first sample", () => tuningReport(sockets[0])?.idle.verified === true);
    await once(await wsClient(t, port), "open");
    await until("1 upgraded", () => accepted.length === 1);
    const [{ ws, socket }] = accepted;
    assert.equal(tuningReport(ws)!.idle.verified, false, "a WebSocket after the sample: derived");
    backend().setInt(acceptedFd(port, socket.remotePort!), 6, 4, 11);
    change = true;
    const clients: Socket[] = [];
    while (warnings.length === 0) {
      assert.ok(clients.length < 4 * 64, "no sample within 256 connections");
      clients.push(await nodeClient(t, port));
      await sleep(clients.length % 16 === 0 ? 20 : 0);
    }
    await until("the read-back", () => tuningReport(ws)!.idle.verified);
    const report = tuningReport(ws)!;
    assert.deepEqual(
      { status: report.idle.status, value: report.idle.value },
      { status: "adjusted", value: 11_000 },
    );
    assert.equal(report.interval.via, "listener");
    assert.equal(report.interval.verified, true);
    assert.equal(warnings.length, 1, warnings.join("\n"));
  },
);

const UPGRADE = [
  "GET / HTTP/1.1",
  `Host: ${HOST}`,
  "Upgrade: websocket",
  "Connection: Upgrade",
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version: 13",
  "",
  "",
].join("\r\n");

// ---- the Deno adapter --------------------------------------------------------------------------

test("Deno: tuneServer tunes the listener of Deno.serve", { skip: only("deno") }, async (t) => {
  const { monitor, warnings } = monitorFor(t);
  const server = deno.serve({ hostname: HOST, port: 0, onListen() {} }, () => new Response("ok"));
  t.after(() => server.shutdown());
  const report = tuneDenoServer(monitor, server);
  assertTuned(report);
  assert.equal(report.address?.port, server.addr.port);
  const client = await deno.connect({ hostname: HOST, port: server.addr.port });
  t.after(() => client.close());
  await until("accepted", () => acceptedOn(server.addr.port).length === 1);
  assert.deepEqual(held(acceptedOn(server.addr.port)[0]), TUNED);
  assert.deepEqual(warnings, []);
});

test("Deno: conns queued before tuneServer are tuned once the application accepts them", {
  skip: only("deno"),
}, async (t) => {
  const { monitor } = monitorFor(t);
  const listener = deno.listen({ hostname: HOST, port: 0 });
  t.after(() => listener.close());
  const { port } = listener.addr;
  const clients = [
    await deno.connect({ hostname: HOST, port }),
    await deno.connect({ hostname: HOST, port }),
  ];
  t.after(() => clients.forEach((client) => client.close()));
  const report = tuneDenoServer(monitor, listener);
  assert.deepEqual(report.earlier, { accepted: 0, queued: 2, failed: 0 });
  const accepted = [await listener.accept(), await listener.accept()];
  t.after(() => accepted.forEach((conn) => conn.close()));
  const fds = clients.map((client) => acceptedFd(port, client.localAddr.port));
  await until("both tuned", () => fds.every((fd) => held(fd).join() === TUNED.join()), 2_000);
});

test("Deno: listen() tunes its listener; a read-back that disagrees is caught", {
  skip: only("deno"),
}, async (t) => {
  const { monitor, warnings } = monitorFor<WatchedConn>(t);
  const server = listen(monitor, { hostname: HOST, port: 0 });
  t.after(() => server.close());
  assertTuned(server.report);
  assert.equal(tuneDenoServer(monitor, server), server.report);
  const { port } = server.addr;
  const clients: DenoTcpConn[] = [];
  t.after(() => clients.forEach((client) => client.close()));
  clients.push(await deno.connect({ hostname: HOST, port }));
  const first = await server.accept();
  t.after(() => first.close());
  for (const control of CONTROLS) assert.equal(first.report[control].via, "listener", control);
  // Changed by the application before its read-back, which comes a moment after accept.
  backend().setInt(acceptedFd(port, clients[0].localAddr.port), 6, 4, 11);
  await sleep(30);
  assert.equal(first.report.idle.value, 11_000);
  assert.equal(first.report.idle.status, "adjusted");
  assert.equal(first.report.count.via, "listener");
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0], /holds idle 11000 ms, not the listener's 7000 ms/);
  clients.push(await deno.connect({ hostname: HOST, port }));
  const second = await server.accept();
  t.after(() => second.close());
  // Read back on accept, not a moment later: tuned on its own (what it inherited says so).
  assert.ok(CONTROLS.every((control) => second.report[control].verified), "tuned on its own");
  assert.deepEqual(held(acceptedFd(port, clients[1].localAddr.port)), TUNED);
});

test("Deno: a sample whose descriptor is not found cheaply reads the listener back instead", {
  skip: only("deno"),
}, async (t) => {
  const { monitor, warnings } = monitorFor<WatchedConn>(t);
  const server = listen(monitor, { hostname: HOST, port: 0 });
  t.after(() => server.close());
  const { port } = server.addr;
  const open: { close(): void }[] = [];
  t.after(() => open.forEach((conn) => conn.close()));
  const accept = async (): Promise<WatchedConn> => {
    open.push(await deno.connect({ hostname: HOST, port }));
    const conn = await server.accept();
    open.push(conn);
    return conn;
  };
  await accept(); // the first is read back
  await sleep(30);
  // Other code changes the listener. The next sample, 65 connections on (after one that agreed:
  // 129), is one whose descriptor lies past those the search knows: the listener is read instead.
  const b = backend();
  const listenerFd = readdirSync("/proc/self/fd").map(Number).find((fd) => {
    try {
      return b.getInt(fd, 1, 30) === 1 && b.localAddress(fd)?.port === port;
    } catch {
      return false;
    }
  })!;
  b.setInt(listenerFd, 6, 4, 12);
  for (let i = 0; i < 300 && warnings.length === 0; i++) {
    await accept();
    await sleep(0);
  }
  await sleep(30);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(
    warnings[0],
    /^The listener on 127\.0\.0\.1:\d+ now holds idle 12000 ms, not what it was tuned to 7000 ms: .* each connection it accepts is tuned on its own$/,
  );
  const next = await accept();
  assert.equal(next.report.idle.value, 7000, "tuned on its own");
  assert.ok(CONTROLS.every((control) => next.report[control].verified));
});

test("Deno: without FFI the report says why, and the monitor warns once", {
  skip: onlyOnNoFfi("deno"),
}, (t) => {
  const { monitor, warnings } = monitorFor(t);
  const server = deno.serve({ hostname: HOST, port: 0, onListen() {} }, () => new Response("ok"));
  t.after(() => server.shutdown());
  const report = tuneDenoServer(monitor, server, { ffi: false });
  assert.equal(report.unavailable, FFI_OFF);
  assert.equal(report.userTimeout.status, "unsupported");
  tuneDenoServer(monitor, server, { ffi: false });
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0], /is not tuned \(setsockopt is off/);
});

test("Deno: without --allow-ffi the report says Deno needs it, and the monitor warns once", {
  skip: onlyOnNoFfi("deno"),
}, () => {
  const fixture = fileURLToPath(new URL("./fixtures/deno_tune_server.ts", import.meta.url));
  const child = spawnSync(
    (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath(),
    ["run", "--allow-net", "--no-prompt", fixture],
    { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 30_000 },
  );
  assert.equal(child.status, 0, child.stderr);
  const { report, warnings } = JSON.parse(child.stdout);
  assert.equal(report.unavailable, "Deno needs --allow-ffi");
  for (const control of CONTROLS) {
    assert.equal(report[control].status, "unsupported", control);
    assert.equal(report[control].note, "Deno needs --allow-ffi", control);
  }
  assert.deepEqual(report.earlier, { accepted: 0, queued: 0, failed: 0 });
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(
    warnings[0],
    /^The listener on 127\.0\.0\.1:\d+ is not tuned \(Deno needs --allow-ffi\): .* unnoticed for 7875 s on a quiet connection, 924\.6 s with data in flight$/,
  );
});

// ---- the Bun adapter ---------------------------------------------------------------------------

test("Bun: tuneServer tunes the listener of Bun.serve", { skip: only("bun") }, async (t) => {
  const { monitor, warnings } = monitorFor(t);
  const server = bun.serve({ hostname: HOST, port: 0, fetch: () => new Response("ok") });
  t.after(() => server.stop(true));
  const report = tuneBunServer(monitor, server);
  assertTuned(report);
  assert.equal(report.address?.port, server.port);
  const client = await nodeClient(t, server.port);
  await until("accepted", () => acceptedOn(server.port).length === 1);
  assert.deepEqual(held(acceptedFd(server.port, client.localPort!)), TUNED);
  assert.deepEqual(warnings, []);
});

test("Bun: watchHandler tunes the listener at the first connection; a disagreement is caught", {
  skip: only("bun"),
}, async (t) => {
  const { monitor, warnings } = monitorFor<BunSocket>(t);
  const opened: BunSocket[] = [];
  const server = bun.listen({
    hostname: HOST,
    port: 0,
    socket: watchHandler(monitor, {
      open(socket) {
        opened.push(socket);
        // The first connection that inherits is changed before its read-back.
        if (opened.length === 2) backend().setInt(socket.fd!, 6, 4, 11);
      },
      data() {},
    }),
  });
  t.after(() => server.stop(true));
  const clients: Socket[] = [];
  const next = async (): Promise<TuningReport> => {
    clients.push(await nodeClient(t, server.port));
    await until("accepted", () => opened.length === clients.length);
    return bunReport(opened.at(-1)!)!;
  };
  // The first was accepted before the listener was tuned: tuned on its own.
  assert.notEqual((await next()).idle.via, "listener");
  assert.equal((await next()).idle.via, "listener");
  await sleep(30);
  const changed = bunReport(opened[1])!;
  assert.deepEqual([changed.idle.status, changed.idle.value], ["adjusted", 11_000]);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0], /holds idle 11000 ms, not the listener's 7000 ms/);
  assert.notEqual((await next()).idle.via, "listener", "tuned on its own after the warning");
  for (const [i, client] of clients.entries()) {
    const expected = i === 1 ? [1, 11, 3, 4, 9000] : TUNED;
    assert.deepEqual(held(acceptedFd(server.port, client.localPort!)), expected, `client ${i}`);
  }
});

test("Bun: with ffi: false the report says why, and the monitor warns once", {
  skip: onlyOnNoFfi("bun"),
}, (t) => {
  const { monitor, warnings } = monitorFor(t);
  const server = bun.listen({ hostname: HOST, port: 0, socket: { data() {} } });
  t.after(() => server.stop(true));
  const report = tuneBunServer(monitor, server, { ffi: false });
  assert.equal(report.unavailable, FFI_OFF);
  assert.equal(report.idle.status, "unsupported");
  tuneBunServer(monitor, server, { ffi: false });
  assert.equal(warnings.length, 1, warnings.join("\n"));
});
