// WebSocket liveness on every runtime: Bun.serve (watchWebSocket), Deno.serve (upgradeWebSocket)
// and node:http + ws (watchWebSocketServer). The fast part checks arguments and the mapping of
// events onto the monitor with the runtime's real objects; the slow part is one black-box scenario
// suite, run inside a private network namespace (tests/_netns.ts), that drives this runtime's
// server fixture (tests/fixtures/ws_server_<runtime>.ts) from a raw WebSocket client of our own
// (tests/fixtures/ws_client.ts: plain TCP, handshake, masked frames) and cuts cables with
// nftables:
//
//   (a) an idle client behind a cut cable is dead within the keepalive bound;
//   (b) a client the server keeps pushing to, cut, is dead within the user-timeout bound;
//   (c) a hung client (TCP healthy, pings unanswered) is dead within the heartbeat's bound, and a
//       cut one is dead as soon, its TCP connection freed by the kernel within the user timeout;
//   (d) a healthy client outlives three bounds;
//   (e) of many connections, exactly the half behind a cut is dead, and no other.
//
// Each bound comes from the code (the fixture prints `monitor.bound()`) plus TOLERANCE_MS. Beside
// each watched server the runtime's own mechanism runs on the same scenarios (Bun's idleTimeout and
// sendPings, Deno's idleTimeout, the `ws` README's isAlive sweep), and what it achieves is
// recorded: `scripts/websocket_table.ts` runs this file on every runtime and prints the table the
// README quotes (LIVENESS_WS_RESULTS names the JSON-lines file results are appended to,
// LIVENESS_WS_CONNECTIONS the connections of (e), LIVENESS_WS_NATIVE_WAIT_MS how long to wait for
// the runtime's own verdicts past ours).
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { appendFileSync } from "node:fs";
import process from "node:process";
import { LivenessMonitor, type Transition } from "../mod.ts";
import type { BunWebSocket } from "../adapters/bun.ts";
import { USER_TIMEOUT_SLACK_MS } from "../src/bound.ts";
import { type JsonLine, type Netns, netnsSkip, runtime, withNetns } from "./_netns.ts";
import {
  after,
  gone,
  type Server,
  startClients as startClientsOf,
  startServer as startServerOf,
  TOLERANCE_MS,
  within,
} from "./_scenario.ts";
import { onlyOn } from "./_skip.ts";

const skip = netnsSkip();
const SERVER = new URL(`./fixtures/ws_server_${runtime}.ts`, import.meta.url);
const CLIENT = new URL("./fixtures/ws_client.ts", import.meta.url);

/**
 * For (e), where hundreds of deaths are printed, piped and parsed in one burst while as many pings
 * are answered each second: 400 ms more than one death's tolerance. Measured with 1,000
 * connections (`scripts/websocket_table.ts`): the last of 500 deaths came 0.16 s (Bun) to 0.56 s
 * (Node) after the first, and still 0.4 s or more before the bound.
 */
const MANY_TOLERANCE_MS = TOLERANCE_MS + 400;
/** Connections in (e): 200 by default to fit CI's time, 1,000 for the full run of the table. */
const CONNECTIONS = Number(process.env.LIVENESS_WS_CONNECTIONS ?? 200);
/** How long to wait for the runtime's own verdict past ours (0: take what came meanwhile). */
const NATIVE_WAIT_MS = Number(process.env.LIVENESS_WS_NATIVE_WAIT_MS ?? 0);
const RESULTS = process.env.LIVENESS_WS_RESULTS;

const KEEPALIVE = { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" };
const HEARTBEAT = { interval: "1s", timeout: "1s" };

/** The runtime's own mechanism, as the native fixture sets it (for the table). */
const NATIVE_SETTING: Record<string, string> = {
  bun: "idleTimeout 8 s (Bun's shortest) + sendPings",
  deno: "idleTimeout 1 s",
  node: "isAlive sweep every 1 s",
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One measurement, appended to LIVENESS_WS_RESULTS for the table. */
function record(result: Record<string, unknown>): void {
  if (RESULTS !== undefined) {
    appendFileSync(RESULTS, `${JSON.stringify({ runtime, ...result })}\n`);
  }
}

// ---- fixtures --------------------------------------------------------------------------------

const startServer = (ns: Netns, config: Record<string, unknown>) =>
  startServerOf(ns, SERVER, config);
const startClients = (ns: Netns, groups: { port: number; tag: string; count: number }[]) =>
  startClientsOf(ns, CLIENT, groups, 60_000);

/** Both servers of a scenario: the watched one and the runtime's own, with the same clients. */
async function startBoth(
  ns: Netns,
  config: Record<string, unknown>,
): Promise<{ watched: Server; native: Server }> {
  const [watched, native] = await Promise.all([
    startServer(ns, { mode: "liveness", ...config }),
    startServer(ns, { mode: "native", listeners: config.listeners }),
  ]);
  return { watched, native };
}

/** What the runtime's own mechanism said of `tag`, waiting up to NATIVE_WAIT_MS more for it. */
async function nativeVerdict(
  native: Server,
  tag: string,
  since: number,
): Promise<{ detectedMs: number | null; reason: unknown; waitedMs: number }> {
  const found = native.child.lines.find(gone(tag));
  if (found !== undefined) {
    return { detectedMs: after(native.child, found, since), reason: found.reason, waitedMs: 0 };
  }
  if (NATIVE_WAIT_MS > 0) {
    try {
      const line = await native.child.next(gone(tag), NATIVE_WAIT_MS);
      return { detectedMs: after(native.child, line, since), reason: line.reason, waitedMs: 0 };
    } catch {
      // Not within the wait.
    }
  }
  return {
    detectedMs: null,
    reason: null,
    waitedMs: Math.round(performance.now() - since),
  };
}

/** The reason a kernel time-out is told as: Bun's WebSockets do not say why they ended. */
function timeoutReason(kind: "keepalive-timeout" | "user-timeout"): string {
  return runtime === "bun" ? "error" : kind;
}

/** The server side's TCP connections on `port` that the kernel still holds (not TIME-WAIT). */
async function held(ns: Netns, port: number): Promise<string[]> {
  const out = await ns.exec("ss", ["-Htan", "(", "sport", "=", `:${port}`, ")"]);
  return out.split("\n").filter((line) =>
    line.trim() !== "" && !/^(LISTEN|TIME-WAIT)\s/.test(line)
  );
}

/** Waits until the kernel holds no connection on `port`; milliseconds since `since`, or null. */
async function freed(ns: Netns, port: number, since: number, limitMs: number) {
  for (;;) {
    if ((await held(ns, port)).length === 0) return Math.round(performance.now() - since);
    if (performance.now() - since > limitMs) return null;
    await sleep(100);
  }
}

// ---- arguments and events, with the runtime's real objects -------------------------------

function recorder() {
  const transitions: string[] = [];
  const errors: unknown[] = [];
  return {
    transitions,
    errors,
    onTransition: (t: Transition<unknown>) =>
      void transitions.push(`${t.from}>${t.to} ${t.reason}`),
    onError: (error: unknown) => void errors.push(error),
  };
}

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const onBun = onlyOn("bun");
const onDeno = onlyOn("deno");
const onNode = onlyOn("node");

test("Bun: bad arguments are TypeErrors naming what is wrong", { skip: onBun }, async () => {
  const { watchWebSocket, connectionId } = await import("../adapters/bun.ts");
  const monitor = new LivenessMonitor<BunWebSocket>({});
  const watch = watchWebSocket as unknown as (...args: unknown[]) => unknown;
  try {
    assert.throws(() => watch({}, {}), /Argument "monitor" must be a LivenessMonitor/);
    assert.throws(() => watch(monitor), /Argument "handler" must be a WebSocket handler object/);
    assert.throws(() => watch(monitor, { open: 1 }), /Argument "handler.open" must be a function/);
    assert.throws(() => watch(monitor, {}, { isPonk() {} }), /Unknown option "isPonk"/);
    assert.throws(() => watch(monitor, {}, { isPong: true }), /Option "isPong" must be a function/);
    assert.throws(() => connectionId(42 as never), TypeError);
    const handler = watchWebSocket(monitor, {});
    assert.deepEqual([handler.idleTimeout, handler.sendPings], [0, false]);
    assert.equal(watchWebSocket(monitor, handler), handler, "wrapped once");
    const kept = watchWebSocket(monitor, { idleTimeout: 30, sendPings: true });
    assert.deepEqual([kept.idleTimeout, kept.sendPings], [30, true]);
    const other = new LivenessMonitor<BunWebSocket>({});
    assert.throws(() => watchWebSocket(other, handler), /another monitor/);
    other.close();
  } finally {
    monitor.close();
  }
  assert.throws(() => watch(monitor, {}), /must be an open LivenessMonitor/);
});

test("Bun: open, pong, a throwing hook and close reach the monitor", { skip: onBun }, async () => {
  const bun = await import("../adapters/bun.ts");
  const seen = recorder();
  const monitor = new LivenessMonitor<import("../adapters/bun.ts").BunWebSocket>({
    heartbeat: { interval: "100ms", timeout: "1s", send: bun.pingWebSocket },
    resolution: 20,
    onTransition: seen.onTransition,
    onError: seen.onError,
  });
  let serverSide: import("../adapters/bun.ts").BunWebSocket | undefined;
  let opened = 0;
  const Bun = (globalThis as unknown as {
    Bun: {
      serve(o: object): { port: number; stop(force?: boolean): void };
    };
  }).Bun;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request: Request, s: { upgrade(r: Request): boolean }) =>
      s.upgrade(request) ? undefined : new Response(null, { status: 400 }),
    websocket: bun.watchWebSocket(monitor, {
      open(ws) {
        if (++opened === 1) throw new Error("the user's bug: Bun closes this WebSocket");
        serverSide = ws;
      },
      error() {},
    }),
  });
  const first = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  let client = first;
  try {
    await until("the first close", () => seen.transitions.length === 1);
    assert.deepEqual(seen.transitions, ["open>closed local-close"]);
    assert.equal(monitor.size, 0, "nothing leaked");
    client = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    await until("the upgrade", () => serverSide !== undefined);
    assert.equal(bun.connectionState(serverSide!), "open");
    const id = bun.connectionId(serverSide!)!;
    await until("an answered ping", () => seen.transitions.includes("probing>open ack"));
    assert.ok(monitor.stats().heartbeatRtt.count > 0, "the round trip is measured");
    client.close(1000);
    await until("the close", () => monitor.size === 0);
    assert.equal(monitor.state(id), undefined);
    assert.equal(seen.transitions.at(-1), "open>closed peer-close");
    assert.deepEqual(seen.errors, []);
  } finally {
    server.stop(true);
    monitor.close();
  }
});

test("Deno: bad arguments are TypeErrors naming what is wrong", { skip: onDeno }, async () => {
  const { upgradeWebSocket, connectionId } = await import("../adapters/deno.ts");
  const monitor = new LivenessMonitor<WebSocket>({});
  const upgrade = upgradeWebSocket as unknown as (...args: unknown[]) => unknown;
  const request = new Request("http://x/", { headers: { upgrade: "websocket" } });
  try {
    assert.throws(() => upgrade(null, request), /Argument "monitor" must be a LivenessMonitor/);
    assert.throws(() => upgrade(monitor, "http://x/"), /Argument "request" must be a Request/);
    assert.throws(() => upgrade(monitor, request, { idleTimeot: 1 }), /Unknown option/);
    assert.throws(() => upgrade(monitor, request, { idleTimeout: -1 }), /"idleTimeout"/);
    assert.throws(() => connectionId({} as never), TypeError);
    assert.equal(monitor.size, 0, "nothing tracked");
  } finally {
    monitor.close();
  }
});

test("Deno: one death told three times is one death; its cause is read", {
  skip: onDeno,
}, async () => {
  const deno = await import("../adapters/deno.ts");
  const seen = recorder();
  const monitor = new LivenessMonitor<WebSocket>({
    keepalive: { idle: "30s", interval: "5s", count: 4, userTimeout: "50s" },
    onTransition: seen.onTransition,
    onError: seen.onError,
  });
  let socket: WebSocket | undefined;
  const Deno = (globalThis as unknown as {
    Deno: {
      serve(o: object, h: (r: Request) => Response): { shutdown(): Promise<void> };
    };
  }).Deno;
  let port = 0;
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (addr: { port: number }) => void (port = addr.port),
  }, (request) => {
    const upgraded = deno.upgradeWebSocket(monitor, request, { isPong: (m) => m === "pong" });
    socket = upgraded.socket;
    assert.equal(deno.connectionState(socket), "connecting");
    return upgraded.response;
  });
  await until("listening", () => port !== 0);
  let client = new WebSocket(`ws://127.0.0.1:${port}/`);
  try {
    await until("open", () => socket !== undefined && deno.connectionState(socket) === "open");
    client.close(1000); // the peer's close frame: an orderly close, the peer's
    await until("the close", () => monitor.size === 0);
    assert.deepEqual(seen.transitions.splice(0), [
      "connecting>open connected",
      "open>closed peer-close",
    ]);
    socket = undefined;
    client = new WebSocket(`ws://127.0.0.1:${port}/`);
    await until("open", () => socket !== undefined && deno.connectionState(socket) === "open");
    const id = deno.connectionId(socket!)!;
    client.send("pong");
    await until("the pong", () => monitor.info(id)?.lastReceived !== undefined);
    socket!.send("data"); // sent, never proof of life
    // What Deno dispatches when the kernel times a connection out: error, then close twice.
    socket!.dispatchEvent(
      Object.assign(new Event("error"), { message: "Connection timed out (os error 110)" }),
    );
    socket!.dispatchEvent(new CloseEvent("close", { code: 1001, wasClean: false }));
    socket!.dispatchEvent(new CloseEvent("close", { code: 1005, wasClean: true }));
    assert.deepEqual(seen.transitions, ["connecting>open connected", "open>dead user-timeout"]);
    assert.equal(monitor.size, 0);
    assert.deepEqual(seen.errors, []);
  } finally {
    client.close();
    await server.shutdown();
    monitor.close();
  }
});

test("Node: bad arguments are TypeErrors naming what is wrong", { skip: onNode }, async () => {
  const node = await import("../adapters/node.ts");
  const monitor = new LivenessMonitor({});
  const watchServer = node.watchWebSocketServer as unknown as (...args: unknown[]) => unknown;
  const watchOne = node.watchWebSocket as unknown as (...args: unknown[]) => unknown;
  const { WebSocketServer } = await import("ws");
  const wss = new WebSocketServer({ noServer: true });
  try {
    assert.throws(
      () => watchServer("monitor", wss),
      /Argument "monitor" must be a LivenessMonitor/,
    );
    assert.throws(() => watchServer(monitor, {}), /Argument "wss" must be a WebSocketServer/);
    assert.throws(() => watchServer(monitor, wss, { ffi: 1 }), /Option "ffi" must be a boolean/);
    assert.throws(() => watchServer(monitor, wss, { socket: {} }), /Unknown option "socket"/);
    assert.throws(() => watchOne(monitor, {}), /Argument "ws" must be a WebSocket/);
    assert.throws(() => watchOne(monitor, wss), /Argument "ws" must be a WebSocket/);
  } finally {
    wss.close();
    monitor.close();
  }
});

test("Node: ws connections are tracked and tuned, with noServer too; pongs ack", {
  skip: onNode,
}, async () => {
  const node = await import("../adapters/node.ts");
  const { WebSocket, WebSocketServer } = await import("ws");
  const { createServer } = await import("node:http");
  const seen = recorder();
  const monitor = new LivenessMonitor<InstanceType<typeof WebSocket>>({
    keepalive: { idle: "30s", interval: "5s", count: 4, userTimeout: "50s" },
    heartbeat: { interval: "100ms", timeout: "1s", send: node.pingWebSocket },
    resolution: 20,
    onTransition: seen.onTransition,
    onError: seen.onError,
  });
  const wss = new WebSocketServer({ noServer: true });
  const unwatch = node.watchWebSocketServer(monitor, wss);
  const server = createServer();
  server.on("upgrade", (request, socket, head) => {
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
  });
  const ids: (number | undefined)[] = [];
  wss.on("connection", (ws) => {
    ids.push(node.connectionId(ws)); // watched before the user's listeners run
    const report = node.tuningReport(ws)!;
    assert.equal(report.bound.keepaliveMs, 50_000);
    assert.equal(report.userTimeout.status, "applied");
    assert.equal(report.idle.value, 30_000);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  try {
    await until("the connection", () => ids.length === 1);
    assert.equal(typeof ids[0], "number");
    await until("an answered ping", () => seen.transitions.includes("probing>open ack"));
    assert.ok(monitor.stats().heartbeatRtt.count > 0);
    client.close(1000);
    await until("the close", () => monitor.size === 0);
    assert.equal(
      seen.transitions.at(-1)?.endsWith("closed peer-close"),
      true,
      seen.transitions.at(-1),
    );
    assert.deepEqual(seen.errors, []);
  } finally {
    unwatch();
    client.terminate();
    wss.close();
    server.close();
    monitor.close();
  }
});

test("Node: a read is seen before 'message' runs; no 'message' listener of ours without isPong", {
  skip: onNode,
}, async () => {
  const node = await import("../adapters/node.ts");
  const { WebSocket, WebSocketServer } = await import("ws");
  const seen = recorder();
  // A heartbeat that sends nothing: only data the client sends answers it (ackOnData).
  const monitor = new LivenessMonitor<InstanceType<typeof WebSocket>>({
    heartbeat: { interval: "100ms", timeout: "10s", send: () => {} },
    resolution: 20,
    onTransition: seen.onTransition,
    onError: seen.onError,
  });
  const plain = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  const pongs = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  node.watchWebSocketServer(monitor, plain);
  node.watchWebSocketServer(monitor, pongs, { isPong: (message) => String(message) === "pong" });
  // Per server: the `'message'` listeners a WebSocket has when the application first sees it, and
  // the state its `'message'` listener finds.
  const listeners: number[] = [];
  const states: (string | undefined)[][] = [[], []];
  const accepted: InstanceType<typeof WebSocket>[] = [];
  for (const [i, wss] of [plain, pongs].entries()) {
    wss.on("connection", (ws) => {
      listeners[i] = ws.listenerCount("message");
      accepted[i] = ws;
      ws.on("message", () => void states[i].push(node.connectionState(ws)));
    });
  }
  await Promise.all([plain, pongs].map((wss) => once(wss, "listening")));
  const url = (wss: typeof plain) => `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
  const clients = [new WebSocket(url(plain)), new WebSocket(url(pongs))];
  try {
    await until("both connections", () => accepted[0] !== undefined && accepted[1] !== undefined);
    assert.deepEqual(listeners, [0, 1], "a 'message' listener of ours only with isPong");
    for (const [i, message] of ["hello", "pong"].entries()) {
      await until("a ping owed", () => node.connectionState(accepted[i]) === "probing");
      clients[i].send(message);
      await until("the message", () => states[i].length === 1);
      assert.deepEqual(states[i], ["open"], `${message}: the ping answered before 'message' ran`);
    }
    assert.equal(seen.transitions.filter((t) => t === "probing>open ack").length >= 2, true);
    assert.deepEqual(seen.errors, []);
  } finally {
    for (const client of clients) client.terminate();
    plain.close();
    pongs.close();
    monitor.close();
  }
});

test("Node: a TCP socket watchServer watches too keeps its own read hook", {
  skip: onNode,
}, async () => {
  const node = await import("../adapters/node.ts");
  const { WebSocket, WebSocketServer } = await import("ws");
  const { createServer } = await import("node:http");
  type Socket = import("node:net").Socket;
  const seen = recorder();
  // Heartbeats that send nothing: only data the client sends answers them (ackOnData).
  const options = {
    heartbeat: { interval: "100ms", timeout: "10s", send: () => {} },
    resolution: 20,
    onTransition: seen.onTransition,
    onError: seen.onError,
  };
  const sockets = new LivenessMonitor<Socket>(options);
  const webSockets = new LivenessMonitor<InstanceType<typeof WebSocket>>(options);
  const server = createServer();
  const wss = new WebSocketServer({ server });
  node.watchServer(sockets, server);
  node.watchWebSocketServer(webSockets, wss);
  let accepted: [InstanceType<typeof WebSocket>, Socket] | undefined;
  const states: (string | undefined)[] = [];
  wss.on("connection", (ws, request) => {
    const socket = request.socket as Socket;
    accepted = [ws, socket];
    ws.on("message", () => {
      states.push(node.connectionState(ws), node.connectionState(socket));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  try {
    await until("the connection", () => accepted !== undefined);
    const [ws, socket] = accepted!;
    await until(
      "pings owed",
      () => node.connectionState(ws) === "probing" && node.connectionState(socket) === "probing",
    );
    client.send("hello");
    await until("the message", () => states.length === 2);
    assert.deepEqual(states, ["open", "open"], "both answered before 'message' ran");
    assert.deepEqual(seen.errors, []);
  } finally {
    client.terminate();
    wss.close();
    server.close();
    sockets.close();
    webSockets.close();
  }
});

// ---- the scenarios ----------------------------------------------------------------------------

test("(a) an idle client behind a cut cable is dead within the keepalive bound", {
  skip,
  timeout: 60_000 + 3 * NATIVE_WAIT_MS,
}, async () => {
  await withNetns(async (ns) => {
    const { watched, native } = await startBoth(ns, { keepalive: KEEPALIVE });
    const bound = (watched.ready.bound as JsonLine).idleMs as number;
    assert.equal(bound, 3_000, "idle 2 s, then the first probe at or after the 3 s user timeout");
    // Bun and Deno: what tuneServer read back from the listener; Node: each socket's own.
    const report = (watched.ready.tuning as JsonLine[])[0];
    if (report !== undefined) {
      assert.equal((report.userTimeout as JsonLine).status, "applied", JSON.stringify(report));
      assert.equal((report.bound as JsonLine).keepaliveMs, 3_000);
    }
    const clients = await startClients(ns, [
      { port: watched.ports[0], tag: "a", count: 1 },
      { port: native.ports[0], tag: "n", count: 1 },
    ]);
    await sleep(500);
    await ns.cut(watched.ports[0]);
    const cut = performance.now();
    await ns.cut(native.ports[0]);
    const nativeCut = performance.now();
    const dead = await watched.child.next(gone("a0"), bound + 10_000);
    assert.equal(dead.how, "dead");
    assert.equal(dead.reason, timeoutReason("keepalive-timeout"));
    const detectedMs = after(watched.child, dead, cut);
    assert.ok(detectedMs >= 2_000, `${detectedMs} ms: before the keepalive idle time`);
    within("idle cut", detectedMs, bound);
    const own = await nativeVerdict(native, "n0", nativeCut);
    record({ scenario: "a", boundMs: bound, detectedMs, reason: dead.reason, native: own });
    clients.command("exit");
  }, { timeoutMs: 50_000 + NATIVE_WAIT_MS });
});

test("(b) a client the server pushes to, cut, is dead within the user-timeout bound", {
  skip,
  timeout: 60_000 + 3 * NATIVE_WAIT_MS,
}, async () => {
  await withNetns(async (ns) => {
    const { watched, native } = await startBoth(ns, { keepalive: KEEPALIVE });
    const bound = (watched.ready.bound as JsonLine).busyMs as number;
    assert.equal(bound, 3_000 + USER_TIMEOUT_SLACK_MS, "the user timeout and the kernel's slack");
    const clients = await startClients(ns, [
      { port: watched.ports[0], tag: "b", count: 1 },
      { port: native.ports[0], tag: "n", count: 1 },
    ]);
    watched.child.command("push b");
    native.child.command("push n");
    await sleep(500);
    await ns.cut(watched.ports[0]);
    const cut = performance.now();
    await ns.cut(native.ports[0]);
    const nativeCut = performance.now();
    const dead = await watched.child.next(gone("b0"), bound + 10_000);
    assert.equal(dead.how, "dead");
    assert.equal(dead.reason, timeoutReason("user-timeout"));
    const detectedMs = after(watched.child, dead, cut);
    assert.ok(detectedMs >= 3_000 - 200, `${detectedMs} ms: before the user timeout`);
    within("pushing cut", detectedMs, bound);
    const own = await nativeVerdict(native, "n0", nativeCut);
    record({ scenario: "b", boundMs: bound, detectedMs, reason: dead.reason, native: own });
    clients.command("exit");
  }, { timeoutMs: 50_000 + NATIVE_WAIT_MS });
});

test("(c, d) a hung client dies by heartbeat, a cut one too and is freed; a healthy one lives", {
  skip,
  timeout: 90_000 + 3 * NATIVE_WAIT_MS,
}, async () => {
  await withNetns(async (ns) => {
    // Listener 0: a healthy client and a hung one; listener 1: one to cut.
    const { watched, native } = await startBoth(ns, {
      keepalive: KEEPALIVE,
      heartbeat: HEARTBEAT,
      resolution: 50,
      listeners: 2,
    });
    const bound = (watched.ready.bound as JsonLine).idleMs as number;
    assert.equal(bound, 2_150, "1 s + 1 s + three ticks of 50 ms");
    const clients = await startClients(ns, [
      { port: watched.ports[0], tag: "k", count: 1 },
      { port: watched.ports[0], tag: "h", count: 1 },
      { port: watched.ports[1], tag: "c", count: 1 },
      { port: native.ports[0], tag: "nk", count: 1 },
      { port: native.ports[0], tag: "nh", count: 1 },
      { port: native.ports[1], tag: "nc", count: 1 },
    ]);
    await sleep(1_500); // pings answered first: no false positive
    clients.command("hang h");
    clients.command("hang nh");
    const hang = performance.now();
    await ns.cut(watched.ports[1]);
    const cut = performance.now();
    await ns.cut(native.ports[1]);
    const nativeCut = performance.now();

    const hung = await watched.child.next(gone("h0"), bound + 10_000);
    assert.deepEqual([hung.how, hung.reason], ["dead", "heartbeat-timeout"]);
    const hungMs = after(watched.child, hung, hang);
    within("hung client", hungMs, bound);
    const dead = await watched.child.next(gone("c0"), bound + 10_000);
    assert.deepEqual([dead.how, dead.reason], ["dead", "heartbeat-timeout"]);
    const cutMs = after(watched.child, dead, cut);
    within("cut client (heartbeat)", cutMs, bound);
    // Closed by the adapter, the dead connection must not linger in the kernel: Bun and Node
    // abort it, Deno's close() queues a close frame that the user timeout gives up on.
    const deadAt = watched.child.receivedAt(dead);
    const freedBound = 3_000 + USER_TIMEOUT_SLACK_MS;
    const freedMs = await freed(ns, watched.ports[1], deadAt, freedBound + 5_000);
    assert.notEqual(freedMs, null, `still held: ${(await held(ns, watched.ports[1])).join("; ")}`);
    within("cut client freed after its death", freedMs!, freedBound);

    // The healthy clients (ours and the native server's) outlive three bounds from the hang.
    await sleep(Math.max(0, hang + 3 * bound - performance.now()));
    assert.equal(watched.child.lines.find(gone("k0")), undefined, "the healthy client died");
    const nativeHealthy = native.child.lines.find(gone("nk0"));
    const ownHung = await nativeVerdict(native, "nh0", hang);
    const ownCut = await nativeVerdict(native, "nc0", nativeCut);
    let nativeFreedMs: number | null = null;
    const freedWaitedMs = freedBound + NATIVE_WAIT_MS;
    if (ownCut.detectedMs !== null) {
      const verdict = nativeCut + ownCut.detectedMs;
      nativeFreedMs = await freed(ns, native.ports[1], verdict, freedWaitedMs);
    }
    record({
      scenario: "c",
      boundMs: bound,
      detectedMs: hungMs,
      reason: hung.reason,
      native: ownHung,
    });
    record({
      scenario: "c-cut",
      boundMs: bound,
      detectedMs: cutMs,
      reason: dead.reason,
      freedBoundMs: freedBound,
      freedMs,
      native: { ...ownCut, freedMs: nativeFreedMs, freedWaitedMs },
    });
    record({
      scenario: "d",
      boundMs: bound,
      aliveMs: Math.round(performance.now() - hang),
      falsePositive: false,
      native: { falsePositive: nativeHealthy !== undefined, reason: nativeHealthy?.reason },
    });
    clients.command("exit");
  }, { timeoutMs: 80_000 + 3 * NATIVE_WAIT_MS });
});

test(`(e) of ${CONNECTIONS} WebSockets exactly the half behind a cut is dead, and no other`, {
  skip,
  timeout: 120_000 + 3 * NATIVE_WAIT_MS,
}, async () => {
  await withNetns(async (ns) => {
    const half = CONNECTIONS / 2;
    const { watched, native } = await startBoth(ns, {
      keepalive: KEEPALIVE,
      heartbeat: HEARTBEAT,
      resolution: 50,
      listeners: 2,
    });
    const bound = (watched.ready.bound as JsonLine).idleMs as number;
    const clients = await startClients(ns, [
      { port: watched.ports[0], tag: "l", count: half },
      { port: watched.ports[1], tag: "x", count: half },
      { port: native.ports[0], tag: "nl", count: half },
      { port: native.ports[1], tag: "nx", count: half },
    ]);
    await sleep(1_500);
    await ns.cut(watched.ports[1]);
    const cut = performance.now();
    await ns.cut(native.ports[1]);
    const nativeCut = performance.now();
    const deaths: JsonLine[] = [];
    for (let i = 0; i < half; i++) {
      deaths.push(await watched.child.next((l) => l.event === "gone", bound + 10_000));
    }
    const last = Math.max(...deaths.map((line) => after(watched.child, line, cut)));
    const first = Math.min(...deaths.map((line) => after(watched.child, line, cut)));
    assert.deepEqual(
      deaths.filter((line) => !String(line.tag).startsWith("x") || line.how !== "dead"),
      [],
      "only the cut half dies",
    );
    within(`${half} cut of ${CONNECTIONS} (the last)`, last, bound, MANY_TOLERANCE_MS);
    // Then a full bound more: nobody else dies.
    await sleep(bound + TOLERANCE_MS);
    const all = watched.child.lines.filter((line) => line.event === "gone");
    assert.equal(all.length, half, "no death beyond the cut half");
    await sleep(NATIVE_WAIT_MS);
    const nativeGone = native.child.lines.filter((line) => line.event === "gone");
    const nativeCutGone = nativeGone.filter((line) => String(line.tag).startsWith("nx"));
    record({
      scenario: "e",
      connections: CONNECTIONS,
      boundMs: bound,
      detectedMs: last,
      firstMs: first,
      dead: deaths.length,
      falsePositives: all.length - half,
      native: {
        dead: nativeCutGone.length,
        falsePositives: nativeGone.length - nativeCutGone.length,
        detectedMs: nativeCutGone.length === 0 ? null : Math.max(
          ...nativeCutGone.map((line) => after(native.child, line, nativeCut)),
        ),
        waitedMs: Math.round(performance.now() - nativeCut),
      },
    });
    clients.command("exit");
  }, { timeoutMs: 110_000 + NATIVE_WAIT_MS });
});

record({ scenario: "setting", native: NATIVE_SETTING[runtime] });
