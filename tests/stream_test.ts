// Streamed responses (Server-Sent Events) on every runtime: Bun.serve and Deno.serve
// (`watchStream(monitor, request, body)`, the wrapped body) and node:http
// (`watchStream(monitor, request, response)`). The fast part checks arguments and the mapping onto
// the monitor on loopback, with the runtime's real server and `fetch` as the client: chunks are
// sent, the end is told once and why (the producer finished, the client left), the heartbeat is
// written between events only, and a verdict of the monitor ends the stream. The slow part is a
// black-box scenario suite, run inside a private network namespace (tests/_netns.ts), that drives
// this runtime's server fixture (tests/fixtures/sse_server_<runtime>.ts) from a raw SSE client of
// our own (tests/fixtures/sse_client.ts) and cuts cables with nftables:
//
//   (f) a client cut mid-stream, the server writing events to it, is dead within the user-timeout
//       bound and its stream is ended; a client that closes is closed once (peer-close); a
//       healthy client keeps receiving;
//   (g) a quiet stream with a heartbeat, cut, is dead within the heartbeat's interval plus the
//       user-timeout bound, while a quiet stream without one, under a keepalive of 60 s, is not.
//
// Each bound comes from the code (the fixture prints `monitor.bound()`) plus TOLERANCE_MS. Times
// measured are appended to LIVENESS_SSE_RESULTS (a JSON-lines file) when it is set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import process from "node:process";
import { LivenessMonitor, type Transition } from "../mod.ts";
import { USER_TIMEOUT_SLACK_MS } from "../src/bound.ts";
import {
  type JsonLine,
  type Netns,
  type NetnsChild,
  netnsSkip,
  runtime,
  withNetns,
} from "./_netns.ts";
import {
  after,
  gone,
  type Server,
  startClients as startClientsOf,
  startServer as startServerOf,
  within,
} from "./_scenario.ts";

const skip = netnsSkip();
const SERVER = new URL(`./fixtures/sse_server_${runtime}.ts`, import.meta.url);
const CLIENT = new URL("./fixtures/sse_client.ts", import.meta.url);
const RESULTS = process.env.LIVENESS_SSE_RESULTS;

const KEEPALIVE = { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" };
const HEARTBEAT_MS = 1_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function record(result: Record<string, unknown>): void {
  if (RESULTS !== undefined) appendFileSync(RESULTS, `${JSON.stringify({ runtime, ...result })}\n`);
}

// ---- the runtime's server, for the fast part ---------------------------------------------------

interface Served {
  url: string;
  close(): Promise<void>;
}

/** A producer of SSE text the test drives: `write`, `end`, and how it was cancelled. */
interface Producer {
  body: ReadableStream<string>;
  write(text: string): void;
  end(): void;
  cancelled: unknown[];
}

function producer(): Producer {
  let controller!: ReadableStreamDefaultController<string>;
  const cancelled: unknown[] = [];
  const body = new ReadableStream<string>({
    start(c) {
      controller = c;
    },
    cancel(reason) {
      cancelled.push(reason);
    },
  });
  return {
    body,
    write: (text) => controller.enqueue(text),
    end: () => controller.close(),
    cancelled,
  };
}

/**
 * Serves streams on 127.0.0.1 with this runtime's own server: `open(tag)` is called per request
 * with a `write`/`end` pair, and `watch` wraps (Bun, Deno) or watches (Node) the response.
 */
async function serve(
  watch: (request: unknown, target: unknown, tag: string) => unknown,
  streams: Map<string, Producer>,
): Promise<Served> {
  if (runtime === "node") {
    const { createServer } = await import("node:http");
    const server = createServer((request, response) => {
      const tag = new URL(request.url ?? "/", "http://x").pathname.slice(1);
      response.writeHead(200, { "content-type": "text/event-stream" });
      watch(request, response, tag);
      const p: Producer = {
        body: new ReadableStream(),
        write: (text) => void response.write(text),
        end: () => void response.end(),
        cancelled: [],
      };
      response.on("close", () => p.cancelled.push("close"));
      streams.set(tag, p);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }
  const handler = (request: Request): Response => {
    const tag = new URL(request.url).pathname.slice(1);
    const p = producer();
    streams.set(tag, p);
    const body = watch(request, p.body, tag) as ReadableStream<Uint8Array>;
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  };
  const g = globalThis as unknown as {
    Bun?: { serve(o: object): { port: number; stop(force: boolean): void } };
    Deno?: {
      serve(o: object, h: (r: Request) => Response): {
        addr: { port: number };
        shutdown(): Promise<void>;
      };
    };
  };
  if (g.Bun !== undefined) {
    const server = g.Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: handler });
    return {
      url: `http://127.0.0.1:${server.port}`,
      close: () => Promise.resolve(server.stop(true)),
    };
  }
  const server = g.Deno!.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

/** A `fetch` client that reads a stream as text until it ends, or until `abort()`. */
function client(url: string) {
  const abort = new AbortController();
  let text = "";
  let ended: string | undefined;
  const done = (async () => {
    try {
      const response = await fetch(url, { signal: abort.signal });
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      ended = "end";
    } catch (error) {
      ended = (error as Error).name;
    }
  })();
  return {
    get text() {
      return text;
    },
    get ended() {
      return ended;
    },
    done,
    abort: () => abort.abort(),
  };
}

function recorder() {
  const transitions: string[] = [];
  const errors: unknown[] = [];
  const deaths: unknown[] = [];
  return {
    transitions,
    errors,
    deaths,
    onTransition: (t: Transition<unknown>) => {
      transitions.push(`${t.from}>${t.to} ${t.reason}`);
      if (t.to === "dead") deaths.push(t.error);
    },
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

type Adapter = {
  watchStream(monitor: unknown, request: unknown, target: unknown, options?: object): unknown;
  connectionId(value: unknown): number | undefined;
  connectionState(value: unknown): string | undefined;
};

async function adapter(): Promise<Adapter> {
  return await import(`../adapters/${runtime}.ts`) as unknown as Adapter;
}

// ---- arguments ---------------------------------------------------------------------------------

// node:http, for the Node-only parts.
const http = runtime === "node" ? await import("node:http") : undefined;

test("bad arguments are TypeErrors naming what is wrong, before anything is tracked", async () => {
  const { watchStream, connectionId } = await adapter();
  const monitor = new LivenessMonitor({});
  const { Socket } = await import("node:net");
  const request = http !== undefined
    ? new http.IncomingMessage(new Socket())
    : new Request("http://x/");
  const target = (): unknown =>
    http !== undefined
      ? new http.ServerResponse(request as InstanceType<typeof http.IncomingMessage>)
      : new ReadableStream<string>();
  try {
    assert.throws(() => watchStream({}, request, target()), /Argument "monitor" must be/);
    assert.throws(() => watchStream(monitor, "/", target()), /Argument "request" must be/);
    if (runtime === "node") {
      assert.throws(() => watchStream(monitor, request, {}), /Argument "response" must be/);
    } else {
      assert.throws(() => watchStream(monitor, request, 42), /Argument "body" must be/);
      const locked = new ReadableStream();
      locked.getReader();
      assert.throws(() => watchStream(monitor, request, locked), /not locked/);
    }
    assert.throws(() => watchStream(monitor, request, target(), { heartbat: 1 }), /Unknown option/);
    assert.throws(
      () => watchStream(monitor, request, target(), { heartbeat: true }),
      /Option "heartbeat"/,
    );
    assert.throws(() => watchStream(monitor, request, target(), { heartbeat: 0 }), RangeError);
    assert.equal(monitor.size, 0, "nothing tracked");
    assert.equal(connectionId(request), undefined, "an unwatched request is looked up quietly");
    assert.throws(() => connectionId(42), TypeError);
  } finally {
    monitor.close();
  }
  assert.throws(() => watchStream(monitor, request, target()), /open LivenessMonitor/);
});

// ---- the pieces ----------------------------------------------------------------------------------

test("an SSE event's end is a blank line, in text or bytes", async () => {
  const { endsEvent } = await import("../adapters/_sse.ts");
  const bytes = (text: string) => new TextEncoder().encode(text);
  for (const ends of ["data: x\n\n", ":\n\n", "data: x\r\r", "data: x\r\n\r\n"]) {
    assert.equal(endsEvent(ends, false), true, JSON.stringify(ends));
    assert.equal(endsEvent(bytes(ends), false), true, JSON.stringify(ends));
  }
  for (const not of ["data: x\n", "data: x", "data: x\r\n", "\n"]) {
    assert.equal(endsEvent(not, true), false, JSON.stringify(not));
    assert.equal(endsEvent(bytes(not), true), false, JSON.stringify(not));
  }
  assert.equal(endsEvent("", true), true, "an empty chunk changes nothing");
  assert.equal(endsEvent(new Uint8Array(0), false), false);
  assert.equal(endsEvent(42, true), false);
});

test("the kernel's count of time-outs explains one end each, within 750 ms", async () => {
  const { KernelTimeouts } = await import("../adapters/_sse.ts");
  let count = 5;
  const netstat = () =>
    `TcpExt: SyncookiesSent TCPAbortOnTimeout TCPAbortOnData\nTcpExt: 0 ${count} 3\n` +
    `IpExt: InNoRoutes\nIpExt: 0\n`;
  const timeouts = new KernelTimeouts(netstat, () => {});
  assert.equal(timeouts.unavailable(), undefined);
  timeouts.begin();
  try {
    assert.equal(timeouts.claim(), false, "what was counted before is no one's");
    count = 6;
    assert.equal(timeouts.claim(), true);
    assert.equal(timeouts.claim(), false, "one end each");
    count = 8;
    assert.deepEqual([timeouts.claim(), timeouts.claim(), timeouts.claim()], [true, true, false]);
    count = 9;
    await sleep(1_600); // read every 500 ms: counted, then too old to explain an end
    assert.equal(timeouts.claim(), false);
  } finally {
    timeouts.end();
  }
  const unreadable = new KernelTimeouts(() => {
    throw new Error("Permission denied");
  }, () => {});
  assert.match(unreadable.unavailable()!, /cannot be read \(Permission denied\)/);
  assert.equal(unreadable.claim(), false);
  const other = new KernelTimeouts(() => "TcpExt: A B\nTcpExt: 1 2\n", () => {});
  assert.match(other.unavailable()!, /no TCPAbortOnTimeout/);
});

// ---- events, on loopback -----------------------------------------------------------------------

test("chunks are sent; the end is told once: the producer's (local), the client's (peer)", async () => {
  const { watchStream, connectionId, connectionState } = await adapter();
  const seen = recorder();
  const monitor = new LivenessMonitor<unknown>({
    resolution: 20,
    idleTimeout: "1m", // a deadline: the monitor's clock runs, and lastSent moves
    onTransition: seen.onTransition,
    onError: seen.onError,
  });
  const streams = new Map<string, Producer>();
  const requests = new Map<string, unknown>();
  const served = await serve((request, target, tag) => {
    requests.set(tag, request);
    const result = watchStream(monitor, request, target);
    const again = runtime === "node" ? target : new ReadableStream();
    assert.throws(() => watchStream(monitor, request, again), /watched stream already/);
    return result;
  }, streams);
  try {
    const finished = client(`${served.url}/finished`);
    await until("the first stream", () => streams.has("finished"));
    const request = requests.get("finished");
    const id = connectionId(request)!;
    assert.equal(typeof id, "number");
    assert.equal(connectionState(request), "open");
    const before = monitor.info(id)!.lastSent;
    await sleep(60);
    streams.get("finished")!.write("data: 1\n\n");
    await until("the event", () => finished.text.includes("data: 1"));
    assert.ok(monitor.info(id)!.lastSent > before, "a chunk written is sent");
    assert.equal(monitor.info(id)!.state, "open", "and never proof of life (nor of death)");
    streams.get("finished")!.end();
    await finished.done;
    assert.equal(finished.ended, "end");
    await until("the local close", () => seen.transitions.length === 1);
    assert.deepEqual(seen.transitions, ["open>closed local-close"]);

    const left = client(`${served.url}/left`);
    await until("the second stream", () => streams.has("left"));
    streams.get("left")!.write("data: 2\n\n");
    await until("the event", () => left.text.includes("data: 2"));
    left.abort();
    await until("the client's close", () => seen.transitions.length === 2);
    await sleep(200);
    assert.deepEqual(seen.transitions, ["open>closed local-close", "open>closed peer-close"]);
    await until("the producer cancelled", () => streams.get("left")!.cancelled.length === 1);
    assert.equal(monitor.size, 0);
    assert.deepEqual(seen.errors, []);
  } finally {
    await served.close();
    monitor.close();
  }
});

test("the heartbeat is an SSE comment in a quiet stream, written between events only", async () => {
  const { watchStream } = await adapter();
  const monitor = new LivenessMonitor<unknown>({ resolution: 20 });
  const streams = new Map<string, Producer>();
  const served = await serve(
    (request, target) => watchStream(monitor, request, target, { heartbeat: 100 }),
    streams,
  );
  try {
    const reader = client(`${served.url}/beat`);
    await until("the stream", () => streams.has("beat"));
    const stream = streams.get("beat")!;
    await until("a heartbeat", () => reader.text.includes(":\n\n"));
    stream.write("data: half");
    await sleep(350); // three intervals: no comment may split the event
    stream.write("\n\n");
    await until("a heartbeat after the event", () => reader.text.endsWith("data: half\n\n:\n\n"));
    assert.match(reader.text, /^(:\n\n)+data: half\n\n(:\n\n)+$/);
    reader.abort();
    await until("the end", () => monitor.size === 0);
  } finally {
    await served.close();
    monitor.close();
  }
});

test("a verdict ends the stream: a death aborts it, max-age ends it in order", async () => {
  const { watchStream } = await adapter();
  const seen = recorder();
  const monitor = new LivenessMonitor<unknown>({
    resolution: 20,
    idleTimeout: "300ms",
    onTransition: seen.onTransition,
    onError: seen.onError,
  });
  const aged = new LivenessMonitor<unknown>({
    resolution: 20,
    maxAge: "300ms",
    maxAgeJitter: 0,
    grace: "100ms",
    onTransition: seen.onTransition,
    onError: seen.onError,
  });
  const streams = new Map<string, Producer>();
  const served = await serve(
    (request, target, tag) => watchStream(tag === "idle" ? monitor : aged, request, target),
    streams,
  );
  try {
    const idle = client(`${served.url}/idle`);
    await until("the stream", () => streams.has("idle"));
    streams.get("idle")!.write("data: only\n\n");
    await idle.done;
    assert.deepEqual(seen.transitions, ["open>dead idle-timeout"]);
    // Bun resets the connection, Node destroys the response; Deno ends it in order.
    assert.equal(idle.ended, runtime === "deno" ? "end" : "TypeError", idle.ended);
    if (runtime !== "node") {
      const [reason] = streams.get("idle")!.cancelled as Error[];
      assert.equal(reason?.name, "StreamEndedError");
      assert.equal((reason as Error & { reason: string }).reason, "idle-timeout");
    }
    const old = client(`${served.url}/old`);
    await until("the stream", () => streams.has("old"));
    streams.get("old")!.write("data: first\n\n");
    await old.done;
    assert.equal(old.ended, "end", "ended in order");
    assert.equal(old.text, "data: first\n\n");
    assert.deepEqual(seen.transitions, ["open>dead idle-timeout", "open>closed max-age"]);
    assert.equal(monitor.size + aged.size, 0);
    assert.deepEqual(seen.errors, []);
  } finally {
    await served.close();
    monitor.close();
    aged.close();
  }
});

test("Deno without --allow-read: a client that leaves is an error, and the monitor says why", {
  skip: runtime === "deno" ? false : "a Deno test",
  timeout: 30_000,
}, async () => {
  const { spawn } = await import("node:child_process");
  const { createInterface } = await import("node:readline");
  const { fileURLToPath } = await import("node:url");
  const deno = (globalThis as unknown as { Deno: { execPath(): string } }).Deno.execPath();
  const config = JSON.stringify({ keepalive: KEEPALIVE });
  const server = spawn(deno, [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-ffi",
    fileURLToPath(SERVER),
    config,
  ]);
  const lines: JsonLine[] = [];
  createInterface({ input: server.stdout! }).on("line", (line) => {
    try {
      lines.push(JSON.parse(line));
    } catch {
      // Not a line of ours.
    }
  });
  const line = async (ok: (line: JsonLine) => boolean, what: string) => {
    await until(what, () => lines.some(ok) || lines.some((l) => l.event === "error"), 15_000);
    const found = lines.find(ok);
    assert.ok(found, JSON.stringify(lines.find((l) => l.event === "error")));
    return found;
  };
  try {
    const ready = await line((l) => l.event === "ready", "the server");
    const port = (ready.ports as number[])[0];
    const { connect } = await import("node:net");
    const socket = connect(
      port,
      "127.0.0.1",
      () => socket.write(`GET /q0 HTTP/1.1\r\nHost: x\r\n\r\n`),
    );
    socket.on("data", () => {});
    socket.on("error", () => {});
    await line((l) => l.event === "open", "the stream");
    socket.end(); // the client leaves
    const left = await line((l) => l.event === "gone", "the end");
    assert.deepEqual([left.how, left.reason, left.error], ["dead", "error", "StreamAbortError"]);
    const warning = await line(
      (l) => l.event === "warning" && /netstat/.test(String(l.message)),
      "the warning",
    );
    assert.match(String(warning.message), /--allow-read is not granted/);
    assert.match(String(warning.message), /both told as "error"/);
    socket.destroy();
  } finally {
    server.kill("SIGKILL");
  }
});

// ---- the scenarios -----------------------------------------------------------------------------

/** A server fixture of this runtime, every listener's user timeout applied. */
async function startServer(ns: Netns, config: Record<string, unknown>): Promise<Server> {
  const server = await startServerOf(ns, SERVER, config);
  for (const report of server.ready.tuning as JsonLine[]) {
    assert.equal((report.userTimeout as JsonLine).status, "applied", JSON.stringify(report));
  }
  return server;
}

const startClients = (ns: Netns, groups: { port: number; tag: string; count: number }[]) =>
  startClientsOf(ns, CLIENT, groups, 30_000);

async function counts(clients: NetnsChild): Promise<Record<string, { events: number }>> {
  clients.command("count");
  const line = await clients.next((l) => l.event === "count", 5_000);
  return line.counts as Record<string, { events: number }>;
}

test(
  "(f) a client cut mid-stream is dead within the user-timeout bound, its stream ended; one that closes is closed once; a healthy one keeps receiving",
  {
    skip,
    timeout: 60_000,
  },
  async () => {
    await withNetns(async (ns) => {
      // Listener 0: a healthy client and one that closes; listener 1: one to cut.
      const server = await startServer(ns, { keepalive: KEEPALIVE, listeners: 2 });
      const bound = (server.ready.bound as JsonLine).busyMs as number;
      assert.equal(bound, 3_000 + USER_TIMEOUT_SLACK_MS, "the user timeout and the kernel's slack");
      const clients = await startClients(ns, [
        { port: server.ports[0], tag: "k", count: 1 },
        { port: server.ports[0], tag: "q", count: 1 },
        { port: server.ports[1], tag: "c", count: 1 },
      ]);
      server.child.command("push "); // every stream: an event of 1 KiB every 100 ms
      await sleep(1_000);
      clients.command("close q");
      const left = await server.child.next(gone("q0"), 5_000);
      assert.deepEqual([left.how, left.reason], ["closed", "peer-close"]);
      await server.child.next((l) => l.event === "ended" && l.tag === "q0", 5_000);
      const before = (await counts(clients)).k0.events;

      await ns.cut(server.ports[1]);
      const cut = performance.now();
      const dead = await server.child.next(gone("c0"), bound + 10_000);
      assert.deepEqual([dead.how, dead.reason], ["dead", "user-timeout"], JSON.stringify(dead));
      const detectedMs = after(server.child, dead, cut);
      assert.ok(detectedMs >= 3_000 - 200, `${detectedMs} ms: before the user timeout`);
      within("cut mid-stream", detectedMs, bound);
      const ended = await server.child.next((l) => l.event === "ended" && l.tag === "c0", 2_000);
      const endedMs = after(server.child, ended, cut);

      // The healthy one lives on, receiving, over three bounds; the one that closed was told once.
      await sleep(Math.max(0, cut + 3 * bound - performance.now()));
      assert.equal(server.child.lines.find(gone("k0")), undefined, "the healthy client died");
      const received = (await counts(clients)).k0.events - before;
      assert.ok(received >= (3 * bound) / 100 / 2, `the healthy client got ${received} events`);
      assert.equal(server.child.lines.filter(gone("q0")).length, 1, "closed once");
      assert.equal(server.child.lines.filter((l) => l.event === "gone").length, 2);
      record({ scenario: "f", boundMs: bound, detectedMs, endedMs, reason: dead.reason, received });
      clients.command("exit");
    }, { timeoutMs: 50_000 });
  },
);

test(
  "(g) a quiet stream with a heartbeat, cut, is dead within the heartbeat plus the user-timeout bound; one without stays",
  {
    skip,
    timeout: 60_000,
  },
  async () => {
    await withNetns(async (ns) => {
      // Keepalive idle 60 s: without bytes in flight nothing ends a quiet stream for a minute.
      const server = await startServer(ns, {
        keepalive: { idle: "60s", interval: "5s", count: 3, userTimeout: "3s" },
        heartbeat: HEARTBEAT_MS,
      });
      const bound = HEARTBEAT_MS + ((server.ready.bound as JsonLine).busyMs as number);
      const clients = await startClients(ns, [
        { port: server.ports[0], tag: "h", count: 1 },
        { port: server.ports[0], tag: "z", count: 1 },
      ]);
      await sleep(2_500); // heartbeats answered by TCP first: no false positive
      assert.equal(server.child.lines.find((l) => l.event === "gone"), undefined);
      const beats = (await counts(clients)) as Record<string, { comments?: number }>;
      assert.ok((beats.h0.comments ?? 0) >= 2, `heartbeats received: ${beats.h0.comments}`);
      assert.equal(beats.z0.comments, 0);
      await ns.cut(server.ports[0]);
      const cut = performance.now();
      const dead = await server.child.next(gone("h0"), bound + 10_000);
      assert.deepEqual([dead.how, dead.reason], ["dead", "user-timeout"], JSON.stringify(dead));
      const detectedMs = after(server.child, dead, cut);
      within("quiet stream with a heartbeat, cut", detectedMs, bound);
      await server.child.next((l) => l.event === "ended" && l.tag === "h0", 2_000);
      await sleep(bound);
      assert.equal(server.child.lines.find(gone("z0")), undefined, "without a heartbeat: not yet");
      record({ scenario: "g", boundMs: bound, detectedMs, reason: dead.reason });
      clients.command("exit");
    }, { timeoutMs: 50_000 });
  },
);
