// The FFI backends over real loopback sockets. The same file runs under
// `node --test`, `deno test -A` and `bun test`; each test exercises the backend
// of the runtime it runs in and skips the others' parts. Linux only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { platformOptions, type SupportedOption } from "../src/_platform.ts";
import type { SockoptBackend } from "../src/_sockopt.ts";
import { loadNodeBackend, nodeSocketFd } from "../adapters/_ffi_node.ts";
import { loadDenoBackend } from "../adapters/_ffi_deno.ts";
import { DenoFdFinder, findDenoFd, releaseDenoFd } from "../adapters/_deno_fd.ts";
import { bunSocketFd, loadBunBackend } from "../adapters/_ffi_bun.ts";
import { onlyOn, runtime, type RuntimeName } from "./_skip.ts";

const linux = (globalThis as { process?: { platform?: string } }).process?.platform === "linux";
const skipUnlessLinux = linux ? false : "Linux only";
/** A test of one runtime's FFI backend: on that runtime, on Linux. */
const backendOf = (wanted: RuntimeName): string | false => skipUnlessLinux || onlyOn(wanted);

const table = platformOptions("linux")!;
const supported = (entry: (typeof table)["keepIdle"]): SupportedOption => {
  assert.ok(entry.supported);
  return entry;
};
const KEEPALIVE = supported(table.keepAlive);
const IDLE = supported(table.keepIdle);
const INTERVAL = supported(table.keepInterval);
const COUNT = supported(table.keepCount);
const USER_TIMEOUT = supported(table.userTimeout);

function loadBackend(): SockoptBackend {
  const result = runtime === "deno"
    ? loadDenoBackend()
    : runtime === "bun"
    ? loadBunBackend()
    : loadNodeBackend();
  if (!result.ok) assert.fail(`${runtime} backend unavailable: ${result.reason}`);
  return result.backend;
}

interface Keepalive {
  keepAlive: number;
  idle: number;
  interval: number;
  count: number;
  userTimeout: number;
}

function readKeepalive(backend: SockoptBackend, fd: number): Keepalive {
  const get = (option: SupportedOption): number => backend.getInt(fd, option.level, option.option);
  return {
    keepAlive: get(KEEPALIVE),
    idle: get(IDLE),
    interval: get(INTERVAL),
    count: get(COUNT),
    userTimeout: get(USER_TIMEOUT),
  };
}

// One loopback connection: the connecting socket and the accepted one.
interface End {
  fd: number;
  // The runtime's own socket object, for its native keepalive API.
  native: Record<string, (...args: unknown[]) => unknown>;
  // The endpoints as the runtime itself reports them.
  local: { address: string; port: number };
  remote: { address: string; port: number };
}
interface Pair {
  backend: SockoptBackend;
  client: End;
  server: End;
  close(): Promise<void>;
}

async function openPair(host = "127.0.0.1"): Promise<Pair> {
  const backend = loadBackend();
  if (runtime === "deno") return await openDenoPair(backend, host);
  if (runtime === "bun") return await openBunPair(backend, host);
  return await openNodePair(backend, host);
}

async function openNodePair(backend: SockoptBackend, host: string): Promise<Pair> {
  const net = await import("node:net");
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const accepted = new Promise<import("node:net").Socket>((resolve) =>
    server.once("connection", resolve)
  );
  const client = net.connect((server.address() as { port: number }).port, host);
  await new Promise<void>((resolve) => client.once("connect", resolve));
  const socket = await accepted;
  const end = (s: import("node:net").Socket): End => ({
    fd: nodeSocketFd(s) ?? assert.fail("no fd on a connected node:net socket"),
    native: s as unknown as End["native"],
    local: { address: s.localAddress!, port: s.localPort! },
    remote: { address: s.remoteAddress!, port: s.remotePort! },
  });
  return {
    backend,
    client: end(client),
    server: end(socket),
    async close(): Promise<void> {
      client.destroy();
      socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

interface DenoNetAddr {
  hostname: string;
  port: number;
}
interface DenoConn {
  localAddr: DenoNetAddr;
  remoteAddr: DenoNetAddr;
  close(): void;
}
interface DenoNet {
  listen(options: { hostname: string; port: number }): {
    addr: DenoNetAddr;
    accept(): Promise<DenoConn>;
    close(): void;
  };
  connect(options: { hostname: string; port: number }): Promise<DenoConn>;
}

async function openDenoPair(backend: SockoptBackend, host: string): Promise<Pair> {
  const deno = (globalThis as unknown as { Deno: DenoNet }).Deno;
  const listener = deno.listen({ hostname: host, port: 0 });
  const [client, socket] = await Promise.all([
    deno.connect({ hostname: host, port: listener.addr.port }),
    listener.accept(),
  ]);
  const end = (conn: DenoConn): End => ({
    fd: findDenoFd(backend, conn) ?? assert.fail("no fd found for a Deno conn"),
    native: conn as unknown as End["native"],
    local: { address: conn.localAddr.hostname, port: conn.localAddr.port },
    remote: { address: conn.remoteAddr.hostname, port: conn.remoteAddr.port },
  });
  const pair = { backend, client: end(client), server: end(socket) };
  return {
    ...pair,
    close(): Promise<void> {
      client.close();
      socket.close();
      listener.close();
      releaseDenoFd(backend, client);
      releaseDenoFd(backend, socket);
      return Promise.resolve();
    },
  };
}

interface BunSocket {
  fd?: number;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  end(): void;
}
interface BunNet {
  listen(options: {
    hostname: string;
    port: number;
    socket: { open(socket: BunSocket): void; data(): void };
  }): { port: number; fd?: number; stop(closeActive?: boolean): void };
  connect(
    options: { hostname: string; port: number; socket: { data(): void } },
  ): Promise<BunSocket>;
}

async function openBunPair(backend: SockoptBackend, host: string): Promise<Pair> {
  const bun = (globalThis as unknown as { Bun: BunNet }).Bun;
  let opened!: (socket: BunSocket) => void;
  const accepted = new Promise<BunSocket>((resolve) => opened = resolve);
  const listener = bun.listen({
    hostname: host,
    port: 0,
    socket: { open: (s) => opened(s), data() {} },
  });
  const client = await bun.connect({ hostname: host, port: listener.port, socket: { data() {} } });
  const socket = await accepted;
  const end = (s: BunSocket): End => ({
    fd: bunSocketFd(s) ?? assert.fail("no fd on a Bun socket"),
    native: s as unknown as End["native"],
    local: { address: s.localAddress, port: s.localPort },
    remote: { address: s.remoteAddress, port: s.remotePort },
  });
  return {
    backend,
    client: end(client),
    server: end(socket),
    close(): Promise<void> {
      client.end();
      socket.end();
      listener.stop(true);
      return Promise.resolve();
    },
  };
}

async function withPair(use: (pair: Pair) => void | Promise<void>, host?: string): Promise<void> {
  const pair = await openPair(host);
  try {
    await use(pair);
  } finally {
    await pair.close();
  }
}

test("the runtime's backend loads, and the others decline without throwing", {
  skip: skipUnlessLinux,
}, () => {
  const expected = { node: "koffi", deno: "deno-ffi", bun: "bun-ffi" }[runtime];
  assert.equal(loadBackend().name, expected);
  assert.equal(loadBackend(), loadBackend());
  if (runtime !== "deno") assert.deepEqual(loadDenoBackend(), { ok: false, reason: "not Deno" });
  if (runtime !== "bun") assert.deepEqual(loadBunBackend(), { ok: false, reason: "not Bun" });
});

test("values set through the backend read back exactly", { skip: skipUnlessLinux }, async () => {
  await withPair(({ backend, client, server }) => {
    for (const [side, fd] of [["connecting", client.fd], ["accepted", server.fd]] as const) {
      const wanted = { keepAlive: 1, idle: 7, interval: 3, count: 4, userTimeout: 12_345 };
      backend.setInt(fd, KEEPALIVE.level, KEEPALIVE.option, wanted.keepAlive);
      backend.setInt(fd, IDLE.level, IDLE.option, wanted.idle);
      backend.setInt(fd, INTERVAL.level, INTERVAL.option, wanted.interval);
      backend.setInt(fd, COUNT.level, COUNT.option, wanted.count);
      backend.setInt(fd, USER_TIMEOUT.level, USER_TIMEOUT.option, wanted.userTimeout);
      assert.deepEqual(readKeepalive(backend, fd), wanted, side);

      // The documented limits are accepted as is.
      backend.setInt(fd, IDLE.level, IDLE.option, IDLE.range![1]);
      backend.setInt(fd, COUNT.level, COUNT.option, COUNT.range![1]);
      backend.setInt(fd, USER_TIMEOUT.level, USER_TIMEOUT.option, USER_TIMEOUT.range![1]);
      backend.setInt(fd, KEEPALIVE.level, KEEPALIVE.option, 0);
      assert.deepEqual(
        readKeepalive(backend, fd),
        { keepAlive: 0, idle: 32767, interval: 3, count: 127, userTimeout: 0x7fffffff },
        side,
      );
    }
  });
});

test("a failed call names the option and the errno", { skip: skipUnlessLinux }, async () => {
  await withPair(({ backend, client }) => {
    assert.throws(
      () => backend.setInt(client.fd, IDLE.level, IDLE.option, IDLE.range![1] + 1),
      {
        name: "SockoptError",
        code: "EINVAL",
        errno: 22,
        message: "setsockopt TCP_KEEPIDLE failed: EINVAL (22)",
      },
    );
    assert.throws(
      () => backend.setInt(client.fd, COUNT.level, COUNT.option, 0),
      { message: "setsockopt TCP_KEEPCNT failed: EINVAL (22)" },
    );
    assert.throws(() => backend.setInt(client.fd, IDLE.level, IDLE.option, 1.5), RangeError);
  });
  // Above any descriptor limit, so never open.
  const closed = 1 << 30;
  const backend = loadBackend();
  assert.throws(
    () => backend.getInt(closed, USER_TIMEOUT.level, USER_TIMEOUT.option),
    { code: "EBADF", message: "getsockopt TCP_USER_TIMEOUT failed: EBADF (9)" },
  );
  assert.throws(() => backend.tcpInfo(closed), { code: "EBADF" });
  assert.equal(backend.localAddress(closed), undefined);
  assert.equal(backend.remoteAddress(closed), undefined);
});

test(
  "tcpInfo returns struct tcp_info of an established socket",
  { skip: skipUnlessLinux },
  async () => {
    await withPair(({ backend, client, server }) => {
      for (const fd of [client.fd, server.fd]) {
        const info = backend.tcpInfo(fd);
        assert.ok(info !== undefined);
        assert.ok(info.length >= 104, `tcp_info is ${info.length} bytes`);
        assert.equal(info[0], 1, "tcpi_state is TCP_ESTABLISHED");
      }
    });
  },
);

for (const host of ["127.0.0.1", "::1"]) {
  test(
    `addresses match what the runtime reports (${host})`,
    { skip: skipUnlessLinux },
    async () => {
      await withPair(({ backend, client, server }) => {
        for (const end of [client, server]) {
          const family = host.includes(":") ? "IPv6" : "IPv4";
          assert.deepEqual(backend.localAddress(end.fd), { ...end.local, family });
          assert.deepEqual(backend.remoteAddress(end.fd), { ...end.remote, family });
        }
        assert.deepEqual(backend.localAddress(client.fd), backend.remoteAddress(server.fd));
      }, host);
    },
  );
}

// What each runtime's own keepalive API leaves in the kernel, read back
// through the backend on fresh sockets.

test("Node setKeepAlive(true, ms) sets whole seconds of idle, 1 s interval, 10 probes", {
  skip: backendOf("node"),
}, async () => {
  await withPair(({ backend, client }) => {
    const before = readKeepalive(backend, client.fd);
    client.native.setKeepAlive(true, 2500);
    assert.deepEqual(readKeepalive(backend, client.fd), {
      ...before,
      keepAlive: 1,
      idle: 2,
      interval: 1,
      count: 10,
    });
  });
});

test("Node setKeepAlive below 1000 ms turns keepalive on and leaves the timers alone", {
  skip: backendOf("node"),
}, async () => {
  await withPair(({ backend, client }) => {
    const before = readKeepalive(backend, client.fd);
    client.native.setKeepAlive(true, 999);
    assert.deepEqual(readKeepalive(backend, client.fd), { ...before, keepAlive: 1 });
  });
});

// Node 24.19 and 26 take interval and count, positionally or as an object.
const nodeTakesCount = runtime === "node" &&
  (await import("node:net")).Socket.prototype.setKeepAlive.length >= 4;

test("Node setKeepAlive(true, 2000, 1000, 3) and its options object set all four", {
  skip: backendOf("node") || (!nodeTakesCount && "this Node takes no interval or count"),
}, async () => {
  await withPair(({ backend, client, server }) => {
    const wanted = {
      ...readKeepalive(backend, client.fd),
      keepAlive: 1,
      idle: 2,
      interval: 1,
      count: 3,
    };
    client.native.setKeepAlive(true, 2000, 1000, 3);
    assert.deepEqual(readKeepalive(backend, client.fd), wanted);
    server.native.setKeepAlive({ enable: true, initialDelay: 2000, interval: 1000, count: 3 });
    assert.deepEqual(readKeepalive(backend, server.fd), wanted);
  });
});

test("Node setKeepAlive with an interval below 1000 ms silently leaves every timer alone", {
  skip: backendOf("node") || (!nodeTakesCount && "this Node takes no interval or count"),
}, async () => {
  await withPair(({ backend, client }) => {
    const before = readKeepalive(backend, client.fd);
    client.native.setKeepAlive(true, 2000, 999, 3);
    assert.deepEqual(readKeepalive(backend, client.fd), { ...before, keepAlive: 1 });
  });
});

test(
  "Deno conn.setKeepAlive(true) sets SO_KEEPALIVE only",
  { skip: backendOf("deno") },
  async () => {
    await withPair(({ backend, client, server }) => {
      const before = readKeepalive(backend, client.fd);
      assert.equal(before.keepAlive, 0);
      client.native.setKeepAlive(true);
      server.native.setKeepAlive(true);
      assert.deepEqual(readKeepalive(backend, client.fd), { ...before, keepAlive: 1 });
      assert.deepEqual(readKeepalive(backend, server.fd), { ...before, keepAlive: 1 });
    });
  },
);

test("Deno fd lookup matches both endpoints and reuses released descriptors", {
  skip: backendOf("deno"),
}, async () => {
  const backend = loadBackend();
  const finder = new DenoFdFinder(backend);
  const pairs = [await openPair(), await openPair(), await openPair()];
  try {
    for (const pair of pairs) {
      for (const end of [pair.client, pair.server]) {
        const conn = end.native as unknown as DenoConn;
        const fd = finder.find(conn);
        assert.equal(fd, end.fd);
        assert.deepEqual(backend.localAddress(fd!), { ...end.local, family: "IPv4" });
        assert.deepEqual(backend.remoteAddress(fd!), { ...end.remote, family: "IPv4" });
      }
    }
    const first = pairs[0];
    const freed = [first.client.fd, first.server.fd];
    await first.close();
    finder.release(first.client.native as unknown as DenoConn);
    finder.release(first.server.native as unknown as DenoConn);
    const again = await openPair();
    pairs[0] = again;
    const before = finder.calls;
    const fds = [
      finder.find(again.client.native as unknown as DenoConn),
      finder.find(again.server.native as unknown as DenoConn),
    ];
    assert.deepEqual(fds.sort(), freed.sort(), "new sockets land in the released descriptors");
    assert.ok(finder.calls - before <= 8, `${finder.calls - before} FFI calls for two lookups`);
  } finally {
    for (const pair of pairs) await pair.close();
  }
});

test(
  "Bun setKeepAlive(true, ms) takes milliseconds: whole seconds of idle, 1 s interval, 10 probes",
  {
    skip: backendOf("bun"),
  },
  async () => {
    await withPair(({ backend, client, server }) => {
      const wanted = { ...readKeepalive(backend, client.fd), keepAlive: 1, interval: 1, count: 10 };
      assert.equal(client.native.setKeepAlive(true, 2000), true);
      assert.equal(server.native.setKeepAlive(true, 2999), true);
      assert.deepEqual(readKeepalive(backend, client.fd), { ...wanted, idle: 2 });
      assert.deepEqual(readKeepalive(backend, server.fd), { ...wanted, idle: 2 });
    });
  },
);

test("Bun setKeepAlive below 1000 ms turns keepalive on and leaves the timers alone", {
  skip: backendOf("bun"),
}, async () => {
  await withPair(({ backend, client }) => {
    const before = readKeepalive(backend, client.fd);
    client.native.setKeepAlive(true, 999);
    assert.deepEqual(readKeepalive(backend, client.fd), { ...before, keepAlive: 1 });
  });
});

test(
  "Bun exposes fd on accepted, connecting and listening sockets",
  { skip: backendOf("bun") },
  async () => {
    const bun = (globalThis as unknown as { Bun: BunNet }).Bun;
    const backend = loadBackend();
    const listener = bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { open() {}, data() {} },
    });
    try {
      assert.equal(typeof listener.fd, "number");
      assert.deepEqual(backend.localAddress(listener.fd!), {
        address: "127.0.0.1",
        port: listener.port,
        family: "IPv4",
      });
      assert.equal(backend.remoteAddress(listener.fd!), undefined, "a listener has no peer");
    } finally {
      listener.stop(true);
    }
    // The accepted and connecting sockets: openPair fails without their fd.
    await withPair(({ client, server }) => assert.notEqual(client.fd, server.fd));
  },
);
