// The ownership rule, the same on every adapter (RELIABILITY.md, "Ownership"): a closed monitor,
// an argument that is not a LivenessMonitor, a closed or foreign socket, a socket watched by
// another monitor are each refused with the same TypeError before anything is opened, tracked or
// attached; watching a socket again with its own monitor returns the watch it has. Over real
// loopback sockets, each runtime's part under its own runner (the others are declared skipped).
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import { cpSync, rmSync } from "node:fs";
import { type AddressInfo, createServer, type Server, Socket } from "node:net";
import process from "node:process";
import { Duplex } from "node:stream";
import { LivenessMonitor, type MonitorOptions } from "../mod.ts";
import * as node from "../adapters/node.ts";
import * as deno from "../adapters/deno.ts";
import * as bun from "../adapters/bun.ts";
import { onlyOn, runtime } from "./_skip.ts";

interface DenoApi {
  listen(options: { hostname: string; port: number }): DenoListener;
  connect(options: { hostname: string; port: number }): Promise<deno.DenoTcpConn>;
}
interface DenoListener {
  readonly addr: { readonly port: number };
  accept(): Promise<deno.DenoTcpConn>;
  close(): void;
}
interface BunApi {
  listen(options: { hostname: string; port: number; socket: bun.SocketHandler }): {
    readonly port: number;
    stop(closeActive?: boolean): void;
  };
  connect(options: { hostname: string; port: number; socket: bun.SocketHandler }): Promise<
    BunSocket
  >;
}
interface BunSocket extends bun.BunSocket {
  reload(options: { socket: bun.SocketHandler }): void;
}

const denoApi = (globalThis as { Deno?: DenoApi }).Deno;
const bunApi = (globalThis as { Bun?: BunApi }).Bun;
const HOST = "127.0.0.1";

const NOT_A_MONITOR = 'Argument "monitor" must be a LivenessMonitor, got an object';
const CLOSED_MONITOR = 'Argument "monitor" must be an open LivenessMonitor, got a closed one';
const OTHER_MONITOR = (argument: string) =>
  `Argument "${argument}" is already watched by another monitor`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Asserts `fn` throws a TypeError with exactly `message`. */
function refuses(fn: () => unknown, message: string): void {
  assert.throws(fn, (error: Error) => {
    assert.equal(error.constructor, TypeError, `${error.name}: ${error.message}`);
    assert.equal(error.message, message);
    return true;
  });
}

/** A monitor closed when the test ends, and one already closed. */
function monitors<C>(t: TestContext, options: MonitorOptions<C> = {}) {
  const open = new LivenessMonitor<C>({ resolution: 10, ...options });
  const other = new LivenessMonitor<C>({ resolution: 10, idleTimeout: "500ms" });
  const closed = new LivenessMonitor<C>();
  closed.close();
  t.after(() => {
    open.close();
    other.close();
  });
  return { open, other, closed };
}

/**
 * Looks like a monitor to a quick glance (every method, a keepalive object) but is none: the kind
 * that once left a Node socket half-watched.
 */
function lookalike(): never {
  const nothing = () => undefined;
  return {
    keepalive: {},
    policy: {},
    track: () => 1,
    received: nothing,
    sent: nothing,
    ended: nothing,
    failed: nothing,
    closed: nothing,
    keepaliveProbes: nothing,
    state: nothing,
  } as never;
}

// ---- every runtime -----------------------------------------------------------------------------

test("an adapter used on another runtime says which one to use, in one wording", () => {
  const here = runtime;
  const title = { node: "Node.js", deno: "Deno", bun: "Bun" }[here];
  const guard = (adapter: string, runtime: string) =>
    `The ${adapter} adapter runs only on ${runtime}: on ${title} use "socket-liveness/${here}"`;
  const monitor = new LivenessMonitor();
  const any = monitor as never;
  try {
    // The Node adapter runs on Deno's and Bun's node:net too (tests/node_adapter_test.ts).
    assert.equal(node.connectionState(new Socket()), undefined, "lookups work anywhere");
    if (here !== "deno") {
      assert.throws(() => deno.watchConn(any, any), { message: guard("Deno", "Deno") });
      assert.throws(() => deno.listen(any, { port: 0 }), { message: guard("Deno", "Deno") });
    }
    if (here !== "bun") {
      assert.throws(() => bun.watchHandler(any, {}), { message: guard("Bun", "Bun") });
      assert.throws(() => bun.connect(any, any), { message: guard("Bun", "Bun") });
      assert.equal(bun.liveness, bun.watchHandler, "liveness is watchHandler's first name");
    }
  } finally {
    monitor.close();
  }
});

// ---- Node --------------------------------------------------------------------------------------

/** A listening server whose accepted sockets are kept, closed with everything else by `t`. */
async function nodeServer(t: TestContext, setup: (server: Server) => void = () => {}) {
  const accepted: Socket[] = [];
  const server = createServer((socket) => {
    socket.on("error", () => {});
    accepted.push(socket);
  });
  setup(server);
  server.listen(0, HOST);
  await once(server, "listening");
  t.after(() => {
    for (const socket of accepted) socket.destroy();
    server.close();
  });
  return { server, accepted, port: (server.address() as AddressInfo).port };
}

async function nodeClient(t: TestContext, port: number): Promise<Socket> {
  const client = new Socket();
  t.after(() => void client.destroy());
  client.on("error", () => {});
  client.connect(port, HOST);
  await once(client, "connect");
  return client;
}

const tcpHandles = (): number =>
  process.getActiveResourcesInfo().filter((name) => name === "TCPSocketWrap").length;

const adapterListeners = (socket: Socket) =>
  ["end", "close", "connect"].map((event) => socket.listenerCount(event));

test("node: a closed monitor or a lookalike is refused before a socket is opened", {
  skip: onlyOn("node"),
}, async (t) => {
  const { open, closed } = monitors<Socket>(t);
  const { server, accepted, port } = await nodeServer(t);
  const before = tcpHandles();
  refuses(() => node.connect(closed, { port, host: HOST }), CLOSED_MONITOR);
  refuses(() => node.connect(lookalike(), { port, host: HOST }), NOT_A_MONITOR);
  refuses(() => node.watchServer(closed, server), CLOSED_MONITOR);
  refuses(() => node.watchServer(lookalike(), server), NOT_A_MONITOR);
  assert.equal(tcpHandles(), before, "no socket was opened");
  assert.equal(server.listenerCount("connection"), 1, "only the test's own listener");
  await sleep(50);
  assert.equal(accepted.length, 0, "nothing connected");
  assert.equal(open.size, 0);
});

test("node: a socket refused for its monitor is left untouched, and closes quietly", {
  skip: onlyOn("node"),
}, async (t) => {
  const { closed } = monitors<Socket>(t);
  const { port } = await nodeServer(t);
  const socket = await nodeClient(t, port);
  const listeners = adapterListeners(socket);
  refuses(() => node.watchSocket(lookalike(), socket), NOT_A_MONITOR);
  refuses(() => node.watchSocket(closed, socket), CLOSED_MONITOR);
  assert.deepEqual(adapterListeners(socket), listeners, "no listener attached");
  assert.equal(Object.hasOwn(socket, "push"), false, "push is Node's own");
  assert.equal(node.connectionId(socket), undefined);
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => void uncaught.push(error);
  process.on("uncaughtException", onUncaught);
  t.after(() => void process.off("uncaughtException", onUncaught));
  socket.destroy();
  await once(socket, "close");
  await sleep(10);
  assert.deepEqual(uncaught, []);
});

test("node: a closed or foreign socket is refused, nothing tracked", {
  skip: onlyOn("node"),
}, async (t) => {
  const { open } = monitors<Socket>(t);
  const { port } = await nodeServer(t);
  const socket = await nodeClient(t, port);
  socket.destroy();
  refuses(
    () => node.watchSocket(open, socket),
    'Argument "socket" must be an open net.Socket, got a closed one',
  );
  refuses(
    () => node.watchSocket(open, new Duplex() as never),
    'Argument "socket" must be a net.Socket, got an object',
  );
  assert.equal(open.size, 0);
  assert.equal(open.stats().tracked, 0);
});

test("node: a socket is watched by one monitor; its own monitor gets the same id again", {
  skip: onlyOn("node"),
}, async (t) => {
  const { open: first, other: second } = monitors<Socket>(t, { idle: "200ms" });
  const { accepted, port } = await nodeServer(t);
  const socket = await nodeClient(t, port);
  const id = node.watchSocket(first, socket);
  const listeners = adapterListeners(socket);
  assert.equal(node.watchSocket(first, socket), id, "watching again is a no-op");
  assert.deepEqual(adapterListeners(socket), listeners, "nothing attached twice");
  refuses(() => node.watchSocket(second, socket), OTHER_MONITOR("socket"));
  assert.deepEqual(adapterListeners(socket), listeners);
  assert.deepEqual([first.size, second.size, second.stats().tracked], [1, 0, 0]);
  assert.equal(node.connectionId(socket), id);
  assert.equal(node.connectionState(socket), "open");
  assert.equal(node.tuningReport(socket)?.keepalive.status, "applied");
  // The first monitor keeps seeing the traffic; the second never closes the socket under it.
  await until(() => accepted.length === 1, "accepted");
  await sleep(600); // past the second monitor's idle timeout
  assert.equal(first.state(id), "idle");
  accepted[0].write("hello");
  await until(() => first.state(id) === "open", "the first monitor sees the data");
  assert.equal(socket.destroyed, false);
  socket.destroy();
  await once(socket, "close");
  assert.ok([undefined, "closed"].includes(node.connectionState(socket)), "closed");
  assert.equal(node.connectionId(socket), id, "the lookup still names it");
});

test("node: two copies of the library agree on who watches a socket", {
  skip: onlyOn("node"),
}, async (t) => {
  // A second copy of the library's files (an npm and a JSR install side by side), inside the
  // project so that its imports of koffi resolve.
  const root = new URL("../", import.meta.url);
  const copy = new URL(`.tmp/copy-${process.pid}-${Date.now()}/`, root);
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  for (const part of ["mod.ts", "src", "adapters"]) {
    cpSync(new URL(part, root), new URL(part, copy), { recursive: true });
  }
  const other = await import(new URL("adapters/node.ts", copy).href) as typeof node;
  const otherMod = await import(new URL("mod.ts", copy).href) as { LivenessMonitor: never };
  assert.notEqual(other.watchSocket, node.watchSocket, "a copy, not the same module");
  const otherMonitor = new (otherMod.LivenessMonitor as unknown as typeof LivenessMonitor<Socket>)({
    idleTimeout: "10s",
  });
  t.after(() => otherMonitor.close());
  const { open: mine } = monitors<Socket>(t, { idleTimeout: "10s" });
  const { port } = await nodeServer(t);
  const socket = await nodeClient(t, port);
  const id = other.watchSocket(otherMonitor, socket);
  assert.equal(node.connectionId(socket), id, "this copy sees the other's watch");
  assert.equal(node.connectionState(socket), "open");
  refuses(() => node.watchSocket(mine, socket), OTHER_MONITOR("socket"));
  assert.equal(mine.size, 0);
  socket.destroy();
  await once(socket, "close");
});

test("node: an object that takes no property is watched all the same", {
  skip: onlyOn("node"),
}, async (t) => {
  const { open: first, other: second } = monitors<node.NodeWebSocket>(t, { idleTimeout: "10s" });
  const { port } = await nodeServer(t);
  const socket = await nodeClient(t, port);
  // A WebSocket of the `ws` shape that refuses new properties (sealed): the watch is kept for it in
  // the process-wide registry instead.
  const emitter = new EventEmitter();
  const ws = Object.seal(Object.assign(emitter, {
    readyState: 1,
    ping: () => {},
    close: () => {},
    terminate: () => socket.destroy(),
  }));
  const id = node.watchWebSocket(first, ws, { socket });
  assert.equal(node.connectionId(ws), id);
  assert.equal(node.watchWebSocket(first, ws, { socket }), id, "watching again is a no-op");
  refuses(() => node.watchWebSocket(second, ws, { socket }), OTHER_MONITOR("ws"));
  assert.equal(node.connectionState(ws), "open");
  socket.destroy();
  await once(socket, "close");
});

test("node: a server watched by two monitors: the second warns and leaves its sockets alone", {
  skip: onlyOn("node"),
}, async (t) => {
  const { open: first, other: second } = monitors<Socket>(t);
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning.message);
  process.on("warning", onWarning);
  t.after(() => void process.off("warning", onWarning));
  const { accepted, port } = await nodeServer(t, (server) => {
    node.watchServer(first, server);
    node.watchServer(second, server); // prepended: runs first, and wins
  });
  await nodeClient(t, port);
  await until(() => accepted.length === 1, "accepted");
  const [socket] = accepted;
  await until(() => warnings.length > 0, "a warning");
  assert.equal(node.connectionId(socket), node.watchSocket(second, socket));
  assert.equal(second.size, 1);
  assert.equal(first.size, 0);
  assert.deepEqual(warnings, [`A connection is not watched: ${OTHER_MONITOR("socket")}`]);
});

// ---- Deno --------------------------------------------------------------------------------------

async function denoPair(t: TestContext) {
  const listener = denoApi!.listen({ hostname: HOST, port: 0 });
  const [client, accepted] = await Promise.all([
    denoApi!.connect({ hostname: HOST, port: listener.addr.port }),
    listener.accept(),
  ]);
  listener.close();
  t.after(() => {
    for (const conn of [client, accepted]) {
      try {
        conn.close();
      } catch {
        // closed by the test
      }
    }
  });
  return { client, accepted };
}

test("deno: a closed monitor or a lookalike is refused before anything listens or connects", {
  skip: onlyOn("deno"),
}, async (t) => {
  const { open, closed } = monitors<deno.WatchedConn>(t);
  const listener = denoApi!.listen({ hostname: HOST, port: 0 });
  t.after(() => listener.close());
  const port = listener.addr.port;
  for (const monitor of [closed, lookalike()]) {
    const message = monitor === closed ? CLOSED_MONITOR : NOT_A_MONITOR;
    await assert.rejects(deno.connect(monitor, { hostname: HOST, port }), { message });
    refuses(() => deno.listen(monitor, { hostname: HOST, port: 0 }), message);
  }
  const accepted = listener.accept();
  const nothing = Symbol("nothing");
  assert.equal(await Promise.race([accepted, sleep(100).then(() => nothing)]), nothing);
  // A port the refused listen() would have taken is free.
  const free = denoApi!.listen({ hostname: HOST, port: 0 });
  const freePort = free.addr.port;
  free.close();
  refuses(() => deno.listen(closed, { hostname: HOST, port: freePort }), CLOSED_MONITOR);
  denoApi!.listen({ hostname: HOST, port: freePort }).close();
  // Unblock the pending accept, then close what it gives.
  (await denoApi!.connect({ hostname: HOST, port })).close();
  (await accepted).close();
  assert.equal(open.size, 0);
});

test("deno: a conn refused for its monitor, or closed, or foreign, is not tracked", {
  skip: onlyOn("deno"),
}, async (t) => {
  const { open, closed } = monitors<deno.WatchedConn>(t);
  const { client, accepted } = await denoPair(t);
  refuses(() => deno.watchConn(lookalike(), client), NOT_A_MONITOR);
  refuses(() => deno.watchConn(closed, client), CLOSED_MONITOR);
  assert.equal(deno.connectionId(client), undefined);
  accepted.close();
  refuses(
    () => deno.watchConn(open, accepted),
    'Argument "conn" must be an open Deno.TcpConn, got a closed one',
  );
  refuses(
    () => deno.watchConn(open, new Socket() as never),
    'Argument "conn" must be a Deno.TcpConn, got an object',
  );
  assert.equal(open.size, 0);
  assert.equal(open.stats().tracked, 0);
});

test("deno: a conn is watched by one monitor; its own monitor gets the same WatchedConn again", {
  skip: onlyOn("deno"),
}, async (t) => {
  const { open: first, other: second } = monitors<deno.WatchedConn>(t, { idle: "200ms" });
  const { client, accepted } = await denoPair(t);
  const watched = deno.watchConn(first, accepted, { ffi: false });
  assert.equal(deno.watchConn(first, accepted), watched, "watching the conn again: the same");
  assert.equal(deno.watchConn(first, watched), watched, "watching the WatchedConn: the same");
  refuses(() => deno.watchConn(second, accepted), OTHER_MONITOR("conn"));
  refuses(() => deno.watchConn(second, watched), OTHER_MONITOR("conn"));
  assert.deepEqual([first.size, second.size, second.stats().tracked], [1, 0, 0]);
  for (const conn of [accepted, watched]) {
    assert.equal(deno.connectionId(conn), watched.id);
    assert.equal(deno.tuningReport(conn), watched.report);
    assert.equal(deno.connectionState(conn), "open");
  }
  // Past the second monitor's idle timeout, traffic still flows and reaches the first.
  await sleep(600);
  assert.equal(first.state(watched.id), "idle");
  await client.write(new TextEncoder().encode("hello"));
  assert.equal(await watched.read(new Uint8Array(16)), 5);
  assert.equal(first.state(watched.id), "open");
  watched.close();
  assert.ok([undefined, "closed"].includes(deno.connectionState(accepted)), "closed");
  assert.equal(deno.connectionId(accepted), watched.id, "the lookup still names it");
});

// ---- Bun ---------------------------------------------------------------------------------------

test("bun: a closed monitor, a lookalike or another monitor's handler is refused at once", {
  skip: onlyOn("bun"),
}, (t) => {
  const { open, other, closed } = monitors<bun.BunSocket>(t);
  refuses(() => bun.watchHandler(closed, {}), CLOSED_MONITOR);
  refuses(() => bun.watchHandler(lookalike(), {}), NOT_A_MONITOR);
  const options = { hostname: HOST, port: 1, socket: {} };
  refuses(() => bun.connect(closed, options), CLOSED_MONITOR);
  refuses(() => bun.connect(lookalike(), options), NOT_A_MONITOR);
  const handler = bun.watchHandler(open, { data() {} });
  assert.equal(bun.watchHandler(open, handler), handler, "its own monitor: the same handler");
  refuses(() => bun.watchHandler(other, handler), OTHER_MONITOR("handler"));
});

test("bun: a socket seen again by a handler of its monitor is watched once", {
  skip: onlyOn("bun"),
}, async (t) => {
  const { open } = monitors<bun.BunSocket>(t, { idle: "200ms" });
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning.message);
  process.on("warning", onWarning);
  t.after(() => void process.off("warning", onWarning));
  let server: bun.BunSocket | undefined;
  const listener = bunApi!.listen({
    hostname: HOST,
    port: 0,
    socket: { open: (socket) => void (server = socket), data() {} },
  });
  t.after(() => listener.stop(true));
  // One handler per connect, as README does, with another of the same monitor inside it.
  const inner = bun.watchHandler(open, { data() {} });
  const client = await bunApi!.connect({
    hostname: HOST,
    port: listener.port,
    socket: bun.watchHandler(open, { ...inner }),
  });
  t.after(() => client.terminate());
  await until(() => server !== undefined, "accepted");
  assert.deepEqual([open.size, open.stats().tracked], [1, 1]);
  const id = bun.connectionId(client)!;
  assert.equal(bun.connectionState(client), "open");
  // Handed to yet another handler of the same monitor: its data still counts.
  client.reload({ socket: bun.watchHandler(open, { data() {} }) });
  await until(() => open.state(id) === "idle", "reader idle");
  server!.write("hello");
  await until(() => open.state(id) === "open", "data after reload");
  assert.deepEqual(warnings, []);
  assert.equal(bun.connectionId(client), id);
});

test("bun: a socket another monitor's handler opens is left to that monitor", {
  skip: onlyOn("bun"),
}, async (t) => {
  const { open: first, other: second } = monitors<bun.BunSocket>(t);
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning.message);
  process.on("warning", onWarning);
  t.after(() => void process.off("warning", onWarning));
  const listener = bunApi!.listen({ hostname: HOST, port: 0, socket: { data() {} } });
  t.after(() => listener.stop(true));
  // The first monitor's handler inside the second's: the second's open comes first, and owns it.
  const client = await bunApi!.connect({
    hostname: HOST,
    port: listener.port,
    socket: bun.watchHandler(second, { ...bun.watchHandler(first, { data() {} }) }),
  });
  t.after(() => client.terminate());
  await until(() => warnings.length > 0, "a warning");
  assert.deepEqual(warnings, [`A connection is not watched: ${OTHER_MONITOR("socket")}`]);
  assert.deepEqual([first.size, first.stats().tracked, second.size], [0, 0, 1]);
  // Handed to a handler of the first monitor: it is still the second's, and the first stays out.
  client.reload({ socket: bun.watchHandler(first, { data() {} }) });
  await sleep(20);
  assert.equal(first.stats().tracked, 0);
  assert.equal(second.state(bun.connectionId(client)!), "open");
  assert.equal(bun.connectionState(client), "open");
});
