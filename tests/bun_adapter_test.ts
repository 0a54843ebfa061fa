// The Bun adapter over real loopback sockets. Runs under `bun test`; under Node and Deno only the
// runtime guard is tested and everything else skips.
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
  type BunSocket,
  connect,
  connectionId,
  liveness,
  type SocketHandler,
  tuningReport,
  type WatchOptions,
} from "../adapters/bun.ts";
import { bunSocketFd, loadBunBackend } from "../adapters/_ffi_bun.ts";
import { onlyOn } from "./_skip.ts";

interface Socket extends BunSocket {
  pause(): void;
}
interface Listener {
  readonly port: number;
  stop(closeActive?: boolean): void;
}
interface BunNet {
  listen(options: {
    hostname: string;
    port: number;
    allowHalfOpen?: boolean;
    socket: SocketHandler<Socket>;
  }): Listener;
  connect(options: { hostname: string; port: number; socket: SocketHandler<Socket> }): Promise<
    Socket
  >;
}

const bun = (globalThis as { Bun?: BunNet }).Bun;
const linux = process.platform === "linux";
const onBun = onlyOn("bun") || (linux ? false : "Linux only");

/**
 * A monitor that records its transitions as `from -> to (reason)`. When the test ends, passed or
 * failed, the monitor is closed and what it reported to `onError` must be nothing.
 */
function recorder(t: TestContext, options: MonitorOptions<Socket> = {}) {
  const transitions: Transition<Socket>[] = [];
  const ends: Socket[] = [];
  const errors: string[] = [];
  const monitor = new LivenessMonitor<Socket>({
    resolution: 50,
    ...options,
    onTransition: (t) => void transitions.push(t),
    onEnd: (socket) => void ends.push(socket),
    onError: (error, callback) =>
      void errors.push(`${callback}: ${(error as Error)?.stack ?? error}`),
  });
  t.after(() => {
    monitor.close();
    assert.deepEqual(errors, [], "the monitor reported no error to onError");
  });
  const seen = () => transitions.map((t) => `${t.from} -> ${t.to} (${t.reason})`);
  return { monitor, transitions, ends, seen };
}

interface Pair {
  listener: Listener;
  server: Socket;
  client: Socket;
  close(): void;
}

/** One connection: `server` accepted through `serverHandler`, `client` through `clientHandler`. */
async function openPair(
  server: { monitor: LivenessMonitor<Socket>; hooks?: SocketHandler<Socket> },
  client: { monitor: LivenessMonitor<Socket>; hooks?: SocketHandler<Socket> },
  options?: WatchOptions & { allowHalfOpen?: boolean },
): Promise<Pair> {
  const { allowHalfOpen, ...watch } = options ?? {};
  let accepted!: (socket: Socket) => void;
  const opened = new Promise<Socket>((resolve) => accepted = resolve);
  const listener = bun!.listen({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen,
    socket: liveness(server.monitor, {
      ...server.hooks,
      open(socket) {
        server.hooks?.open?.(socket);
        accepted(socket);
      },
    }, watch),
  });
  let socket: Socket;
  let peer: Socket;
  try {
    socket = await bun!.connect({
      hostname: "127.0.0.1",
      port: listener.port,
      socket: liveness(client.monitor, { data() {}, ...client.hooks }, watch),
    });
    peer = await opened;
  } catch (error) {
    listener.stop(true);
    throw error;
  }
  return {
    listener,
    server: peer,
    client: socket,
    close(): void {
      socket.terminate();
      peer.terminate();
      listener.stop(true);
      server.monitor.close();
      client.monitor.close();
    },
  };
}

function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (check()) return resolve();
      if (performance.now() - started > timeoutMs) {
        return reject(new Error(`Not within ${timeoutMs} ms: ${what}`));
      }
      setTimeout(poll, 5);
    };
    poll();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("liveness() refuses to run outside Bun, but the module imports anywhere", {
  skip: bun !== undefined ? "not Bun only" : false,
}, () => {
  const monitor = new LivenessMonitor<BunSocket>();
  assert.throws(() => liveness(monitor, {}), { name: "Error", message: /runs only on Bun/ });
  monitor.close();
});

test("accepted and outgoing connections are tracked", { skip: onBun }, async (t) => {
  const server = recorder(t);
  const client = recorder(t);
  let opened: Socket | undefined;
  const pair = await openPair(server, {
    ...client,
    hooks: { open: (socket) => void (opened = socket) },
  });
  try {
    const serverId = connectionId(pair.server);
    const clientId = connectionId(pair.client);
    assert.equal(typeof serverId, "number");
    assert.equal(typeof clientId, "number");
    assert.equal(server.monitor.state(serverId!), "open");
    assert.equal(client.monitor.state(clientId!), "open");
    assert.equal(opened, pair.client, "Bun.connect resolves with the socket open() saw");
    assert.equal(server.monitor.size, 1);
    assert.equal(client.monitor.size, 1);
    assert.equal(pair.server.data, undefined, "socket.data stays the user's");
    assert.equal(connectionId(pair.server), serverId, "the id does not change");
  } finally {
    pair.close();
  }
});

test(
  "the tuning report reads back 2 s / 1 s / 3 / 3 s set through FFI",
  { skip: onBun },
  async (t) => {
    const keepalive = { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" };
    const pair = await openPair(recorder(t, { keepalive }), recorder(t, { keepalive }));
    try {
      const loaded = loadBunBackend();
      assert.ok(loaded.ok, "the bun:ffi backend loads here");
      for (const socket of [pair.server, pair.client]) {
        const report = tuningReport(socket)!;
        assert.equal(report.backend, "bun-ffi");
        assert.equal(report.unavailable, undefined);
        const got = Object.fromEntries(
          (["keepalive", "idle", "interval", "count", "userTimeout"] as const).map((control) => {
            const { status, value, verified, via } = report[control];
            return [control, `${status} ${value} ${verified ? "verified" : "unverified"} ${via}`];
          }),
        );
        assert.deepEqual(got, {
          keepalive: "applied true verified native",
          idle: "applied 2000 verified native",
          interval: "applied 1000 verified native", // Bun's fixed interval is the one asked
          count: "applied 3 verified setsockopt", // Bun sets 10; setsockopt fixes it
          userTimeout: "applied 3000 verified setsockopt",
        });
        assert.equal(report.bound.idleMs, 3000);
        // And the kernel agrees, read independently of the report.
        const fd = bunSocketFd(socket)!;
        const get = (level: number, option: number): number =>
          loaded.backend.getInt(fd, level, option);
        assert.deepEqual([get(1, 9), get(6, 4), get(6, 5), get(6, 6), get(6, 18)], [
          1,
          2,
          1,
          3,
          3000,
        ]);
      }
    } finally {
      pair.close();
    }
  },
);

test("without FFI the report says what is missing, and the accept path works", {
  skip: onBun,
}, async (t) => {
  const keepalive = { idle: "2s", interval: "1s", count: 3, userTimeout: "3s" };
  const server = recorder(t, { keepalive });
  const pair = await openPair(server, recorder(t, { keepalive }), { ffi: false });
  try {
    const report = tuningReport(pair.server)!;
    const off = "setsockopt is off (the ffi option is false)";
    assert.equal(report.backend, undefined);
    assert.equal(report.unavailable, off);
    assert.deepEqual(
      [report.keepalive.status, report.keepalive.via, report.keepalive.verified],
      ["applied", "native", false],
    );
    assert.deepEqual([report.idle.status, report.idle.value], ["applied", 2000]);
    assert.deepEqual([report.interval.status, report.interval.value], ["applied", 1000]);
    assert.deepEqual(
      [report.count.status, report.count.value, report.count.note],
      ["adjusted", 10, `the runtime fixes it at 10; ${off}`],
    );
    assert.deepEqual([report.userTimeout.status, report.userTimeout.note], ["unsupported", off]);
    // Bun's own setKeepAlive left count 10: 2 s + 10 × 1 s.
    assert.equal(report.bound.idleMs, 12_000);
    const loaded = loadBunBackend();
    if (loaded.ok) {
      const fd = bunSocketFd(pair.server)!;
      const get = (level: number, option: number): number =>
        loaded.backend.getInt(fd, level, option);
      assert.deepEqual([get(1, 9), get(6, 4), get(6, 5), get(6, 6), get(6, 18)], [1, 2, 1, 10, 0]);
    }
    assert.equal(server.monitor.state(connectionId(pair.server)!), "open");
  } finally {
    pair.close();
  }
});

test("keepalive with system values: Bun sets no interval or count", { skip: onBun }, async (t) => {
  const pair = await openPair(recorder(t, { keepalive: "on" }), recorder(t, { keepalive: "off" }));
  try {
    const on = tuningReport(pair.server)!;
    assert.deepEqual([on.keepalive.status, on.keepalive.value], ["applied", true]);
    assert.deepEqual([on.idle.status, on.interval.status, on.count.status], [
      "system",
      "system",
      "system",
    ]);
    assert.deepEqual([on.idle.value, on.interval.value, on.count.value], [7_200_000, 75_000, 9]);
    const off = tuningReport(pair.client)!;
    assert.deepEqual([off.keepalive.status, off.keepalive.value], ["applied", false]);
    assert.equal(off.bound.keepaliveMs, Infinity);
  } finally {
    pair.close();
  }
});

test("a peer's RST: dead (reset), reported by Bun through close(socket, error)", {
  skip: onBun,
}, async (t) => {
  const server = recorder(t);
  const client = recorder(t);
  const closes: unknown[] = [];
  const pair = await openPair({
    ...server,
    hooks: { close: (_socket, error) => void closes.push(error) },
  }, client);
  try {
    pair.client.terminate(); // SO_LINGER {1, 0}, then close(2)
    await until(() => server.transitions.length > 0, 2000, "the server sees the reset");
    assert.deepEqual(server.seen(), ["open -> dead (reset)"]);
    assert.equal((server.transitions[0].error as { code?: string }).code, "ECONNRESET");
    assert.equal(server.transitions[0].context, pair.server);
    assert.equal(closes.length, 1, "the user's close still runs, after the transition");
    assert.equal(closes[0], server.transitions[0].error);
    assert.deepEqual(client.seen(), ["open -> closed (local-close)"]);
  } finally {
    pair.close();
  }
});

test("a peer's FIN: end, not dead", { skip: onBun }, async (t) => {
  // Half-open: the server stays open after the peer's FIN.
  const half = recorder(t);
  let pair = await openPair(half, recorder(t), { allowHalfOpen: true });
  try {
    pair.client.shutdown();
    await until(() => half.ends.length > 0, 2000, "the server sees the FIN");
    await sleep(100);
    assert.deepEqual(half.seen(), []);
    const id = connectionId(pair.server)!;
    assert.equal(half.monitor.info(id)?.ended, true);
    assert.equal(half.monitor.state(id), "open");
  } finally {
    pair.close();
  }
  // Bun's default: the server closes its side after the FIN, in order.
  const full = recorder(t);
  const peer = recorder(t);
  pair = await openPair(full, peer);
  try {
    pair.client.shutdown();
    await until(() => full.transitions.length > 0, 2000, "the server closes");
    assert.equal(full.ends.length, 1);
    assert.deepEqual(full.seen(), ["open -> closed (peer-close)"]);
    await until(() => peer.transitions.length > 0, 2000, "the client closes");
    assert.deepEqual(peer.seen(), ["open -> closed (local-close)"]);
  } finally {
    pair.close();
  }
});

test("a local close: closed", { skip: onBun }, async (t) => {
  const server = recorder(t);
  const client = recorder(t);
  const pair = await openPair(server, client);
  try {
    pair.server.end();
    assert.deepEqual(server.seen(), ["open -> closed (local-close)"]);
    await until(() => client.transitions.length > 0, 2000, "the client sees the close");
    assert.equal(client.ends.length, 1);
    assert.deepEqual(client.seen(), ["open -> closed (peer-close)"]);
  } finally {
    pair.close();
  }
});

test("a hung peer: dead (heartbeat-timeout) in time, and the socket is closed at once", {
  skip: onBun,
}, async (t) => {
  const server = recorder(t, {
    heartbeat: { interval: 300, timeout: 300, send: (socket) => void socket.write("PING\n") },
  });
  const client = recorder(t);
  const serverCloses: unknown[] = [];
  const clientCloses: unknown[] = [];
  let started = 0;
  const pair = await openPair(
    {
      ...server,
      hooks: {
        open: () => void (started = performance.now()),
        close: (_socket, error) => void serverCloses.push(error),
      },
    },
    // The client's TCP stays healthy but it never answers.
    { ...client, hooks: { close: (_socket, error) => void clientCloses.push(error) } },
  );
  try {
    await until(() => server.transitions.some((t) => t.to === "dead"), 2000, "dead");
    const elapsed = performance.now() - started;
    assert.deepEqual(server.seen(), [
      "open -> probing (ping-sent)",
      "probing -> dead (heartbeat-timeout)",
    ]);
    // interval + timeout + three ticks of 50 ms (the bound), plus slack for a loaded machine.
    assert.ok(elapsed >= 600 && elapsed < 750 + 500, `dead after ${elapsed} ms`);
    assert.equal(pair.server.readyState, -1, "terminated in destroy()");
    assert.deepEqual(serverCloses, [undefined]);
    await until(() => clientCloses.length > 0, 1000, "the peer sees the close");
    assert.equal((clientCloses[0] as { code?: string }).code, "ECONNRESET", "by RST");
    assert.deepEqual(client.seen(), ["open -> dead (reset)"]);
  } finally {
    pair.close();
  }
});

test("a healthy pinging peer stays open over several periods", { skip: onBun }, async (t) => {
  let acks = 0;
  const server = recorder(t, {
    heartbeat: { interval: 150, timeout: 150, send: (socket) => void socket.write("PING\n") },
  });
  const pair = await openPair({
    ...server,
    hooks: {
      data(socket, data) {
        if (String(data).includes("PONG")) {
          acks++;
          server.monitor.acked(connectionId(socket)!);
        }
      },
    },
  }, {
    monitor: recorder(t).monitor,
    hooks: {
      data: (socket, data) => void (String(data).includes("PING") && socket.write("PONG\n")),
    },
  });
  try {
    await sleep(1200);
    assert.ok(acks >= 4, `${acks} pings answered`);
    assert.ok(!server.transitions.some((t) => t.to === "dead"), server.seen().join(", "));
    assert.equal(server.monitor.state(connectionId(pair.server)!) !== undefined, true);
  } finally {
    pair.close();
  }
});

test("writes are seen without wrapping write(): they keep an idle timeout away", {
  skip: onBun,
}, async (t) => {
  const server = recorder(t, { idleTimeout: 300 });
  const pair = await openPair(server, recorder(t));
  const id = connectionId(pair.server)!;
  const writer = setInterval(() => pair.server.write("x"), 50);
  try {
    await sleep(900);
    assert.deepEqual(server.seen(), [], "only the server writes, and it is not idle");
    assert.ok(server.monitor.info(id)!.lastSent > server.monitor.info(id)!.lastReceived);
    clearInterval(writer);
    const stopped = performance.now();
    await until(() => server.transitions.length > 0, 1500, "idle after the writes stop");
    assert.deepEqual(server.seen(), ["open -> dead (idle-timeout)"]);
    // Writes are sampled at deadlines: the last one may count up to one timeout late.
    const elapsed = performance.now() - stopped;
    assert.ok(elapsed >= 250 && elapsed < 2 * 300 + 500, `dead after ${elapsed} ms`);
  } finally {
    clearInterval(writer);
    pair.close();
  }
});

test("close(socket, ETIMEDOUT) is a keepalive timeout; later events change nothing", {
  skip: onBun,
}, async (t) => {
  const server = recorder(t);
  const pair = await openPair(server, recorder(t));
  try {
    // A second handler on the same monitor finds the socket's record: it stands for Bun's.
    const handler = liveness(server.monitor, { error() {} });
    const timedOut = Object.assign(new Error("ETIMEDOUT: connection timed out, read"), {
      code: "ETIMEDOUT",
      errno: -110,
    });
    handler.close!(pair.server, timedOut);
    assert.deepEqual(server.seen(), ["open -> dead (keepalive-timeout)"]);
    assert.equal(pair.server.readyState, -1, "terminated");
    // Bun's own close (no error) already came from terminate(); more events are ignored.
    handler.close!(pair.server, Object.assign(new Error("reset"), { code: "ECONNRESET" }));
    handler.error!(pair.server, new Error("late"));
    handler.end!(pair.server);
    handler.data!(pair.server, new Uint8Array(1));
    assert.deepEqual(server.seen(), ["open -> dead (keepalive-timeout)"]);
  } finally {
    pair.close();
  }
});

test("an error after a local close produces no second transition", { skip: onBun }, async (t) => {
  const server = recorder(t);
  const handler = { error() {} };
  const pair = await openPair({ ...server, hooks: handler }, recorder(t));
  try {
    pair.server.end();
    assert.deepEqual(server.seen(), ["open -> closed (local-close)"]);
    const same = liveness(server.monitor, handler);
    same.error!(pair.server, Object.assign(new Error("reset"), { code: "ECONNRESET" }));
    same.close!(pair.server, Object.assign(new Error("reset"), { code: "ECONNRESET" }));
    assert.deepEqual(server.seen(), ["open -> closed (local-close)"]);
  } finally {
    pair.close();
  }
});

test("what a handler throws is no death; Bun's own errors are", { skip: onBun }, async (t) => {
  const server = recorder(t);
  const errors: unknown[] = [];
  const boom = new Error("handler bug");
  const pair = await openPair({
    ...server,
    hooks: {
      data() {
        throw boom;
      },
      error: (_socket, error) => void errors.push(error),
    },
  }, recorder(t));
  try {
    pair.client.write("x");
    await until(() => errors.length > 0, 2000, "Bun calls error()");
    assert.equal(errors[0], boom);
    await sleep(50);
    assert.deepEqual(server.seen(), []);
    assert.equal(pair.server.readyState, 1, "Bun keeps the socket open");
    // An error Bun raises itself (a TLS record that does not decrypt, say) is a death.
    const tls = Object.assign(new Error("DECRYPTION_FAILED_OR_BAD_RECORD_MAC"), { code: "EPROTO" });
    liveness(server.monitor, { error() {} }).error!(pair.server, tls);
    assert.deepEqual(server.seen(), ["open -> dead (error)"]);
    assert.equal(server.transitions[0].error, tls);
  } finally {
    pair.close();
  }
});

test("without an error handler, what a handler throws is thrown again", {
  skip: onBun,
}, async (t) => {
  const server = recorder(t);
  const pair = await openPair(server, recorder(t));
  try {
    const boom = new Error("handler bug");
    const handler = liveness(server.monitor, {
      data() {
        throw boom;
      },
    });
    assert.throws(() => handler.data!(pair.server, new Uint8Array(1)), boom);
    assert.throws(() => handler.error!(pair.server, boom), boom);
    assert.deepEqual(server.seen(), []);
  } finally {
    pair.close();
  }
});

test("a closed monitor leaves the accept path alone", { skip: onBun }, async (t) => {
  const server = recorder(t);
  const warnings: string[] = [];
  const onWarning = (warning: Error) => void warnings.push(warning.message);
  process.on("warning", onWarning);
  t.after(() => process.off("warning", onWarning));
  let opened: Socket | undefined;
  const handler = liveness(server.monitor, { open: (socket) => void (opened = socket), data() {} });
  // Closed once its handler exists: liveness() itself refuses a closed one (ownership_test.ts).
  server.monitor.close();
  const listener = bun!.listen({ hostname: "127.0.0.1", port: 0, socket: handler });
  t.after(() => listener.stop(true));
  const client = await bun!.connect({
    hostname: "127.0.0.1",
    port: listener.port,
    socket: { data() {} },
  });
  t.after(() => client.terminate());
  await until(() => opened !== undefined, 1000, "the user's open still runs");
  assert.equal(connectionId(opened!), undefined);
  assert.equal(tuningReport(opened!), undefined);
  await until(() => warnings.length > 0, 1000, "a process warning");
  assert.match(warnings[0], /not watched: Cannot track a connection: the monitor is closed/);
});

test("the handler keeps binaryType and the user's this", { skip: onBun }, async (t) => {
  const chunks: unknown[] = [];
  const selves: unknown[] = [];
  const hooks: SocketHandler<Socket> = {
    binaryType: "uint8array",
    data(_socket, data) {
      chunks.push(data);
      selves.push(this);
    },
  };
  const server = recorder(t);
  const pair = await openPair(server, recorder(t));
  const wrapped = liveness(server.monitor, hooks);
  let listener: Listener | undefined;
  let socket: Socket | undefined;
  try {
    assert.equal(wrapped.binaryType, "uint8array");
    assert.notEqual(wrapped, hooks);
    assert.deepEqual(Object.keys(hooks), ["binaryType", "data"], "the user's object is untouched");
    wrapped.data!(pair.server, new Uint8Array([1]));
    assert.equal(selves[0], hooks);
    listener = bun!.listen({ hostname: "127.0.0.1", port: 0, socket: wrapped });
    socket = await bun!.connect({
      hostname: "127.0.0.1",
      port: listener.port,
      socket: { data() {} },
    });
    socket.write("abc");
    await until(() => chunks.length > 1, 2000, "data arrives");
    assert.equal((chunks[1] as object).constructor, Uint8Array);
  } finally {
    socket?.terminate();
    listener?.stop(true);
    pair.close();
  }
});

test("bad arguments are TypeErrors naming the argument", { skip: onBun }, () => {
  const monitor = new LivenessMonitor<Socket>();
  try {
    const bad = (fn: () => unknown, message: RegExp) =>
      assert.throws(
        fn,
        (error: Error) => error instanceof TypeError && message.test(error.message),
      );
    const any = (value: unknown) => value as never;
    bad(() => liveness(any(null), {}), /^Argument "monitor" must be a LivenessMonitor, got null$/);
    bad(() => liveness(any({ track: 1 }), {}), /^Argument "monitor"/);
    bad(() => liveness(monitor, any(null)), /^Argument "handler" must be a socket handler object/);
    bad(() => liveness(monitor, any({ data: 5 })), /^Argument "handler.data" must be a function/);
    bad(
      () => liveness(monitor, any({ binaryType: "blob" })),
      /^Argument "handler.binaryType" must be "arraybuffer", "buffer" or "uint8array", got "blob"$/,
    );
    bad(() => liveness(monitor, {}, any(1)), /^Argument "options" must be an object/);
    bad(() => liveness(monitor, {}, any({ ffi: "yes" })), /^Option "ffi" must be a boolean/);
    bad(() => liveness(monitor, {}, any({ fi: true })), /^Unknown option "fi"/);
    bad(() => tuningReport(any(42)), /^Argument "socket" must be a Bun socket, got number 42$/);
    bad(() => connectionId(any({})), /^Argument "socket" must be a Bun socket/);
  } finally {
    monitor.close();
  }
});

test("connect(): connecting until open, the context forwarding to the socket; refused is refused", {
  skip: onBun,
}, async (t) => {
  const client = recorder(t, { connectTimeout: "5s" });
  const listener = bun!.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    let opened: Socket | undefined;
    const connecting = connect(client.monitor, {
      hostname: "127.0.0.1",
      port: listener.port,
      socket: { open: (socket) => void (opened = socket), data() {} },
    });
    assert.deepEqual(client.transitions.map((t) => client.monitor.state(t.id)), []);
    const socket = await connecting;
    assert.equal(socket, opened, "the socket the hooks got");
    assert.deepEqual(client.seen(), ["connecting -> open (connected)"]);
    const [open] = client.transitions;
    assert.equal(connectionId(socket), open.id, "one connection, one id");
    assert.equal(connectionId(open.context), open.id);
    // Bun hands out no socket before open: the context is a stand-in that forwards to it.
    assert.notEqual(open.context, socket);
    assert.equal(open.context.fd, socket.fd);
    assert.equal(open.context.write("hi"), 2);
    assert.equal(tuningReport(socket)?.keepalive.status, "applied");
    socket.end();
    await until(() => client.seen().length === 2, 2000, "closed");
    assert.equal(client.seen()[1], "open -> closed (local-close)");
  } finally {
    listener.stop(true);
  }
  // Nobody listens any more: refused, never open, and connect() rejects with Bun's error.
  const refused = await connect(client.monitor, {
    hostname: "127.0.0.1",
    port: listener.port,
    socket: { data() {} },
  }).then(() => undefined, (error: Error & { code?: string }) => error.code);
  assert.equal(refused, "ECONNREFUSED");
  assert.equal(client.seen()[2], "connecting -> dead (refused)");
});

test("the peer fixture speaks tests/fixtures/PROTOCOL.md", { skip: onBun }, async () => {
  const config = {
    keepalive: "2s:1s:3",
    heartbeat: { interval: "200ms", timeout: "200ms" },
    resolution: 50,
  };
  const fixture = fileURLToPath(new URL("./fixtures/bun_peer.ts", import.meta.url));
  const child = spawn(process.execPath, [fixture, JSON.stringify(config)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines: Record<string, unknown>[] = [];
  let text = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    const parts = (text + chunk).split("\n");
    text = parts.pop()!;
    for (const part of parts) lines.push(JSON.parse(part));
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const has = (event: string, fields: Record<string, unknown> = {}) => () =>
    lines.some((line) =>
      line.event === event && Object.entries(fields).every(([key, value]) => line[key] === value)
    );
  try {
    await until(has("ready"), 5000, "ready");
    const ready = lines[0] as {
      port: number;
      server: { idle: { value: number }; count: { value: number } };
      bound: { idleMs: number; idleBy: string; keepaliveMs: number };
    };
    assert.ok(ready.port > 0);
    assert.deepEqual([ready.server.idle.value, ready.server.count.value], [2000, 3]);
    // The heartbeat (200 + 200 ms + three ticks) comes before keepalive (2 s + 3 × 1 s).
    assert.deepEqual(
      [ready.bound.idleMs, ready.bound.idleBy, ready.bound.keepaliveMs],
      [550, "heartbeat", 5000],
    );
    await until(has("ack"), 2000, "a ping answered");
    child.stdin.write("hang\n");
    await until(has("transition", { side: "server", reason: "heartbeat-timeout" }), 2000, "hung");
    await until(has("transition", { side: "client", to: "dead", reason: "reset" }), 2000, "RST");
    child.stdin.write("exit\n");
    assert.equal(await exited, 0);
    assert.ok(!lines.some((line) => line.event === "error"), JSON.stringify(lines));
  } finally {
    child.kill();
  }
});
