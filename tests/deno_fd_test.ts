// The Deno descriptor search against a simulated kernel descriptor table, so
// the hint logic and its cost are checked exactly in every runtime.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ConnLike, DenoFdFinder } from "../adapters/_deno_fd.ts";
import { type SockAddr, type SockoptBackend, SockoptError } from "../src/_sockopt.ts";

type Entry = { kind: "file" } | { kind: "listener" } | {
  kind: "tcp";
  local: SockAddr;
  remote: SockAddr;
};

// Hands out the lowest free descriptor, as Linux does.
class FakeKernel implements SockoptBackend {
  readonly name = "fake";
  table: (Entry | undefined)[] = [];
  #port = 40000;

  open(entry: Entry): number {
    let fd = this.table.indexOf(undefined);
    if (fd < 0) fd = this.table.length;
    this.table[fd] = entry;
    return fd;
  }

  close(fd: number): void {
    this.table[fd] = undefined;
  }

  // A loopback connection to a server on port 8000: [client conn, accepted conn].
  connect(): [ConnLike, ConnLike] {
    const server = { address: "127.0.0.1", port: 8000, family: "IPv4" } as const;
    const client = { address: "127.0.0.1", port: this.#port++, family: "IPv4" } as const;
    this.open({ kind: "tcp", local: client, remote: server });
    this.open({ kind: "tcp", local: server, remote: client });
    const conn = (local: SockAddr, remote: SockAddr): ConnLike => ({
      localAddr: { hostname: local.address, port: local.port },
      remoteAddr: { hostname: remote.address, port: remote.port },
    });
    return [conn(client, server), conn(server, client)];
  }

  fdOf(conn: ConnLike): number {
    return this.table.findIndex((entry) =>
      entry?.kind === "tcp" && entry.local.port === conn.localAddr.port &&
      entry.remote.port === conn.remoteAddr.port
    );
  }

  setInt(): void {}
  getInt(fd: number): number {
    const entry = this.table[fd];
    if (entry === undefined) throw new SockoptError("getsockopt SO_KEEPALIVE", 9);
    if (entry.kind === "file") throw new SockoptError("getsockopt SO_KEEPALIVE", 88);
    return 0;
  }
  tcpInfo(): undefined {
    return undefined;
  }
  localAddress(fd: number): SockAddr | undefined {
    const entry = this.table[fd];
    return entry?.kind === "tcp" ? entry.local : undefined;
  }
  remoteAddress(fd: number): SockAddr | undefined {
    const entry = this.table[fd];
    return entry?.kind === "tcp" ? entry.remote : undefined;
  }
  withDuplicate<T>(fd: number, fn: (duplicate: number) => T): T {
    return fn(fd); // the finder never duplicates
  }
}

// stdin, stdout, stderr, a few runtime descriptors, and the listener.
function boot(): FakeKernel {
  const kernel = new FakeKernel();
  for (let i = 0; i < 20; i++) kernel.open({ kind: "file" });
  kernel.open({ kind: "listener" });
  return kernel;
}

test("finds conns opened one after another for two FFI calls each", () => {
  const kernel = boot();
  const finder = new DenoFdFinder(kernel);
  const [client, server] = kernel.connect();
  assert.equal(finder.find(client), kernel.fdOf(client));
  assert.equal(finder.find(server), kernel.fdOf(server));
  for (let i = 0; i < 1000; i++) {
    const conns = kernel.connect();
    const before = finder.calls;
    for (const conn of conns) assert.equal(finder.find(conn), kernel.fdOf(conn));
    assert.equal(finder.calls - before, 4);
  }
});

test("finds conns looked up out of order through the 4-tuples already seen", () => {
  const kernel = boot();
  const finder = new DenoFdFinder(kernel);
  const pairs = Array.from({ length: 500 }, () => kernel.connect());
  finder.find(pairs[0][0]);
  const before = finder.calls;
  for (const [client] of pairs) assert.equal(finder.find(client), kernel.fdOf(client));
  for (const [, server] of pairs) assert.equal(finder.find(server), kernel.fdOf(server));
  assert.ok(
    (finder.calls - before) / 1000 <= 4,
    `${(finder.calls - before) / 1000} calls per lookup`,
  );
});

test("a conn far above the frontier is found, and what the walk learned serves the rest", () => {
  const kernel = boot();
  const finder = new DenoFdFinder(kernel);
  const pairs = Array.from({ length: 3000 }, () => kernel.connect());
  const last = pairs[pairs.length - 1][1];
  assert.equal(finder.find(last), kernel.fdOf(last));
  const before = finder.calls;
  for (const pair of pairs.slice(0, -1)) {
    for (const conn of pair) assert.equal(finder.find(conn), kernel.fdOf(conn));
  }
  assert.equal(
    finder.calls - before,
    2 * 2 * 2999,
    "two calls each: the 4-tuple was seen on the way",
  );
});

test("released descriptors are tried first and reused", () => {
  const kernel = boot();
  const finder = new DenoFdFinder(kernel);
  const pairs = Array.from({ length: 100 }, () => kernel.connect());
  for (const pair of pairs) for (const conn of pair) finder.find(conn);
  for (const conn of pairs[10]) {
    kernel.close(kernel.fdOf(conn));
    finder.release(conn);
  }
  for (const conn of pairs[50]) {
    const fd = kernel.fdOf(conn);
    kernel.close(fd);
    finder.release(fd);
  }
  const before = finder.calls;
  for (let i = 0; i < 2; i++) {
    for (const conn of kernel.connect()) assert.equal(finder.find(conn), kernel.fdOf(conn));
  }
  assert.ok(finder.calls - before <= 4 * 2 * 2, `${finder.calls - before} calls`);
});

test("a conn closed without release does not hide the socket that reuses its descriptor", () => {
  const kernel = boot();
  const finder = new DenoFdFinder(kernel);
  const [client, server] = kernel.connect();
  const stale = finder.find(client)!;
  finder.find(server);
  kernel.close(stale);
  kernel.open({ kind: "file" });
  const [later] = kernel.connect();
  const fd = finder.find(later);
  assert.equal(fd, kernel.fdOf(later));
  assert.equal(finder.find(client), undefined, "the closed conn no longer matches");
  assert.equal(finder.find(server), kernel.fdOf(server));
});

test("a descriptor reused for a new socket after the finder saw it free is found", () => {
  const kernel = boot();
  const finder = new DenoFdFinder(kernel);
  const first = kernel.connect();
  for (const conn of first) finder.find(conn);
  for (const conn of first) kernel.close(kernel.fdOf(conn));
  for (const conn of first) finder.release(conn);
  // A lookup that fails leaves the released descriptors known free.
  assert.equal(finder.find(first[0]), undefined);
  for (const conn of kernel.connect()) assert.equal(finder.find(conn), kernel.fdOf(conn));
});

test("never returns a descriptor that matches only one endpoint", () => {
  const kernel = boot();
  const finder = new DenoFdFinder(kernel);
  const [client, server] = kernel.connect();
  finder.find(client);
  finder.find(server);
  // Same local endpoint as the accepted conn, another peer: no such socket.
  const ghost: ConnLike = {
    localAddr: server.localAddr,
    remoteAddr: { hostname: "127.0.0.1", port: 1 },
  };
  assert.equal(finder.find(ghost), undefined);
  const other: ConnLike = {
    localAddr: { hostname: "127.0.0.2", port: client.localAddr.port },
    remoteAddr: client.remoteAddr,
  };
  assert.equal(finder.find(other), undefined);
});

test("IPv4-mapped, bracketed and upper-case hosts compare equal", () => {
  const kernel = boot();
  const finder = new DenoFdFinder(kernel);
  const v6 = (address: string, port: number): SockAddr => ({ address, port, family: "IPv6" });
  const mapped = kernel.open({
    kind: "tcp",
    local: v6("::ffff:127.0.0.1", 8000),
    remote: v6("::ffff:127.0.0.1", 5000),
  });
  const linkLocal = kernel.open({
    kind: "tcp",
    local: v6("fe80::1", 8001),
    remote: v6("fe80::2", 5001),
  });
  assert.equal(
    finder.find({
      localAddr: { hostname: "127.0.0.1", port: 8000 },
      remoteAddr: { hostname: "127.0.0.1", port: 5000 },
    }),
    mapped,
  );
  assert.equal(
    finder.find({
      localAddr: { hostname: "[FE80::1%eth0]", port: 8001 },
      remoteAddr: { hostname: "fe80::2", port: 5001 },
    }),
    linkLocal,
  );
});

test("a search with a budget gives up within it, and what it learnt stays right", () => {
  const kernel = boot();
  const finder = new DenoFdFinder(kernel);
  const conns = Array.from({ length: 300 }, () => kernel.connect()[1]);
  const last = conns.at(-1)!;
  const before = finder.calls;
  assert.equal(finder.find(last, 40), undefined, "300 connections up: beyond 40 calls");
  assert.ok(finder.calls - before <= 40, `${finder.calls - before} calls`);
  // Without a budget it is found, and the next search for it is a hit.
  assert.equal(finder.find(last), kernel.fdOf(last));
  const hit = finder.calls;
  assert.equal(finder.find(last, 4), kernel.fdOf(last));
  assert.ok(finder.calls - hit <= 2);
  for (const conn of conns.slice(0, 5)) assert.equal(finder.find(conn), kernel.fdOf(conn));
});
