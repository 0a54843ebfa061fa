// Listening sockets found among a process's descriptors and proven by their address
// (src/_listener.ts), on a fake socket-option backend: an in-memory descriptor table.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  acceptedBy,
  acceptQueue,
  chooseListener,
  type FoundSocket,
  isAddress,
  notThisListener,
  plainAddress,
  type PortScan,
  sameAddress,
  scanPort,
} from "../src/_listener.ts";
import { type SockAddr, type SockoptBackend, SockoptError } from "../src/_sockopt.ts";

const EBADF = 9;
const ENOTSOCK = 88;
const ENOPROTOOPT = 92;
const TCP = 6;
const UDP = 17;

/** What a descriptor of the fake table is: a file, or a socket (TCP unless `protocol` says). */
type Descriptor =
  | "file"
  | { listening?: boolean; protocol?: number | "fails"; local?: SockAddr; remote?: SockAddr };

const v4 = (address: string, port: number): SockAddr => ({ address, port, family: "IPv4" });
const v6 = (address: string, port: number): SockAddr => ({ address, port, family: "IPv6" });

/**
 * A backend over an in-memory descriptor table with Linux's option numbers: a free descriptor
 * fails with EBADF, a file with ENOTSOCK. `visited` lists the descriptors asked for SO_ACCEPTCONN.
 */
function fakeBackend(table: Map<number, Descriptor>) {
  const visited: number[] = [];
  const backend: SockoptBackend = {
    name: "fake",
    setInt: () => assert.fail("nothing is set"),
    getInt(fd, level, option) {
      const call = `getsockopt ${level}/${option}`;
      if (level === 1 && option === 30) visited.push(fd);
      const descriptor = table.get(fd);
      if (descriptor === undefined) throw new SockoptError(call, EBADF);
      if (descriptor === "file") throw new SockoptError(call, ENOTSOCK);
      if (level === 1 && option === 30) return descriptor.listening ? 1 : 0; // SO_ACCEPTCONN
      if (level === 1 && option === 38) { // SO_PROTOCOL
        if (descriptor.protocol === "fails") throw new SockoptError(call, ENOPROTOOPT);
        return descriptor.protocol ?? TCP;
      }
      throw new SockoptError(call, ENOPROTOOPT);
    },
    tcpInfo: () => assert.fail("no TCP_INFO here"),
    localAddress(fd) {
      const descriptor = table.get(fd);
      return typeof descriptor === "object" ? descriptor.local : undefined;
    },
    remoteAddress(fd) {
      const descriptor = table.get(fd);
      return typeof descriptor === "object" ? descriptor.remote : undefined;
    },
    withDuplicate: (fd, fn) => fn(fd),
  };
  return { backend, visited };
}

const fds = (found: readonly FoundSocket[]) => found.map((socket) => socket.fd);

test("plainAddress drops brackets and a zone id, lowers case, and reads IPv4-mapped IPv6 as IPv4", () => {
  const cases: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["::1", "::1"],
    ["[::1]", "::1"],
    ["2001:DB8::A", "2001:db8::a"],
    ["fe80::1%eth0", "fe80::1"],
    ["[FE80::1%eth0]", "fe80::1"],
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["[::FFFF:10.0.0.7]", "10.0.0.7"],
    ["::ffff:7f00:1", "::ffff:7f00:1"],
    ["0.0.0.0", "0.0.0.0"],
    ["[::]", "::"],
    ["[::1", "[::1"],
    ["localhost", "localhost"],
  ];
  for (const [text, plain] of cases) assert.equal(plainAddress(text), plain, text);
});

test("sameAddress tells the same address apart from others however a runtime printed it", () => {
  const same: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["127.0.0.1", "::ffff:127.0.0.1"],
    ["[::1]", "::1"],
    ["2001:db8::a", "2001:DB8::A"],
    ["[fe80::1%eth0]", "fe80::1"],
    ["0.0.0.0", "::ffff:0.0.0.0"],
  ];
  for (const [a, b] of same) {
    assert.ok(sameAddress(a, b), `${a} = ${b}`);
    assert.ok(sameAddress(b, a), `${b} = ${a}`);
  }
  const different: [string, string][] = [
    ["127.0.0.1", "127.0.0.2"],
    ["10.0.0.1", "10.0.0.10"],
    ["127.0.0.1", "::1"],
    ["0.0.0.0", "::"],
    ["fe80::1", "fe80::2"],
    ["::ffff:10.0.0.1", "::ffff:10.0.0.2"],
  ];
  for (const [a, b] of different) {
    assert.ok(!sameAddress(a, b), `${a} ≠ ${b}`);
    assert.ok(!sameAddress(b, a), `${b} ≠ ${a}`);
  }
});

test("isAddress tells IPv4 and IPv6 addresses from host names", () => {
  const addresses = ["127.0.0.1", "0.0.0.0", "10.20.30.40", "::", "::1", "[::1]", "fe80::1%eth0"];
  for (const address of addresses) assert.ok(isAddress(address), address);
  const names = ["localhost", "example.com", "1.2.3", "1.2.3.4.5", "1.2.3.4a", "1234.1.1.1", ""];
  for (const name of names) assert.ok(!isAddress(name), name);
});

test("a listener on a wildcard accepts on any address of its port; one on an address on that only", () => {
  for (const wildcard of ["0.0.0.0", "::", "[::]"]) {
    assert.ok(acceptedBy(v6(wildcard, 80), v4("10.0.0.7", 80)), wildcard);
    assert.ok(acceptedBy(v6(wildcard, 80), v6("::ffff:127.0.0.1", 80)), wildcard);
    assert.ok(acceptedBy(v6(wildcard, 80), v6("fe80::1%eth0", 80)), wildcard);
    assert.ok(!acceptedBy(v6(wildcard, 80), v4("10.0.0.7", 81)), `${wildcard}, another port`);
  }
  assert.ok(acceptedBy(v4("127.0.0.1", 80), v6("::ffff:127.0.0.1", 80)));
  assert.ok(acceptedBy(v6("::1", 80), v6("::1", 80)));
  assert.ok(!acceptedBy(v4("127.0.0.1", 80), v4("127.0.0.2", 80)));
  assert.ok(!acceptedBy(v4("127.0.0.1", 80), v4("127.0.0.1", 8080)));
  assert.ok(!acceptedBy(v6("::1", 80), v4("127.0.0.1", 80)));
});

test("scanPort sorts the TCP sockets bound to the port into listeners and connections", () => {
  const listener4 = { listening: true, local: v4("127.0.0.1", 8000) };
  const listener6 = { listening: true, local: v6("::", 8000) };
  const accepted = { local: v4("127.0.0.1", 8000), remote: v4("127.0.0.1", 50_000) };
  const table = new Map<number, Descriptor>([
    [0, "file"],
    [3, listener4],
    [4, { listening: true, local: v4("127.0.0.1", 8001) }], // another port
    [5, { listening: true, protocol: UDP, local: v4("127.0.0.1", 8000) }], // not TCP
    [6, { listening: true, protocol: "fails", local: v4("127.0.0.1", 8000) }],
    [7, accepted],
    [8, { local: v4("127.0.0.1", 8000) }], // bound, not connected
    [9, {}], // a socket with no IPv4 or IPv6 address (a Unix socket)
    [10, listener6],
    [11, { local: v4("127.0.0.1", 50_000), remote: v4("127.0.0.1", 8000) }], // a client of it
  ]);
  const { backend } = fakeBackend(table);
  const scan = scanPort(backend, 8000, [...table.keys(), 12, 13]);
  assert.deepEqual(scan, {
    listeners: [{ fd: 3, local: listener4.local }, { fd: 10, local: listener6.local }],
    connections: [{ fd: 7, local: accepted.local, remote: accepted.remote }],
  });
});

test("scanPort visits only the descriptors the runtime lists, when it lists them", () => {
  const table = new Map<number, Descriptor>([
    [3, { listening: true, local: v4("0.0.0.0", 8000) }],
    [4, { listening: true, local: v4("127.0.0.1", 8000) }],
  ]);
  const { backend, visited } = fakeBackend(table);
  const scan = scanPort(backend, 8000, [4, 9]);
  assert.deepEqual(fds(scan.listeners), [4]);
  assert.deepEqual(visited, [4, 9]);
});

test("scanPort without a list walks the descriptors until 1024 in a row are free", () => {
  const listener = { listening: true, local: v4("127.0.0.1", 8000) };
  // 1023 free descriptors after 5, then 1024 after 1029: the walk ends before 2054.
  const table = new Map<number, Descriptor>([[5, listener], [1029, listener], [2054, listener]]);
  const { backend, visited } = fakeBackend(table);
  assert.deepEqual(fds(scanPort(backend, 8000, undefined).listeners), [5, 1029]);
  assert.equal(visited[0], 0);
  assert.equal(visited.at(-1), 2053);
});

test("scanPort without a list counts open descriptors that are no sockets as taken, not free", () => {
  const table = new Map<number, Descriptor>();
  for (let fd = 0; fd < 1500; fd++) table.set(fd, "file");
  table.set(1500, { listening: true, local: v4("127.0.0.1", 8000) });
  const { backend } = fakeBackend(table);
  assert.deepEqual(fds(scanPort(backend, 8000, undefined).listeners), [1500]);
});

test("scanPort without a list ends when every descriptor fails, however it fails", () => {
  const { backend } = fakeBackend(new Map());
  for (const failure of [new SockoptError("getsockopt", 1), new Error("no errno")]) {
    let asked = 0;
    const failing: SockoptBackend = {
      ...backend,
      getInt(fd) {
        asked++;
        // Past 100,000 a free descriptor's EBADF, so that a walk that runs on still ends, and fails.
        throw fd < 100_000 ? failure : new SockoptError("getsockopt", EBADF);
      },
    };
    assert.deepEqual(scanPort(failing, 8000, undefined), { listeners: [], connections: [] });
    assert.equal(asked, 1024);
  }
});

const found = (fd: number, local: SockAddr): FoundSocket => ({ fd, local });
const scanOf = (...listeners: FoundSocket[]): PortScan => ({ listeners, connections: [] });

test("chooseListener takes the one listener at the server's address; a host name is any address", () => {
  const loopback = found(3, v4("127.0.0.1", 8000));
  const mapped = found(4, v6("::ffff:10.0.0.7", 8000));
  const any4 = found(5, v4("0.0.0.0", 8000));
  const any6 = found(6, v6("::", 8000));
  const scan = scanOf(loopback, mapped, any4, any6);
  assert.equal(chooseListener(scan, { address: "127.0.0.1", port: 8000 }), loopback);
  assert.equal(chooseListener(scan, { address: "10.0.0.7", port: 8000 }), mapped);
  assert.equal(chooseListener(scan, { address: "0.0.0.0", port: 8000 }), any4);
  assert.equal(chooseListener(scan, { address: "[::]", port: 8000 }), any6);
  assert.equal(chooseListener(scanOf(any6), { address: "localhost", port: 8000 }), any6);
});

test("chooseListener says why when no listener or several could be the server's", () => {
  assert.equal(
    chooseListener(scanOf(), { address: "127.0.0.1", port: 8000 }),
    "no listening socket on 127.0.0.1:8000 among this process's descriptors",
  );
  assert.equal(
    chooseListener(scanOf(found(3, v4("127.0.0.2", 8000))), { address: "127.0.0.1", port: 8000 }),
    "no listening socket on 127.0.0.1:8000 among this process's descriptors",
  );
  const twins = scanOf(
    found(3, v4("127.0.0.1", 8000)),
    found(4, v4("127.0.0.2", 8000)),
    found(5, v4("127.0.0.1", 8000)),
  );
  assert.equal(
    chooseListener(twins, { address: "127.0.0.1", port: 8000 }),
    "2 listening sockets on 127.0.0.1:8000 (SO_REUSEPORT): which one is this server's cannot be told",
  );
  const two = scanOf(found(3, v4("127.0.0.1", 8000)), found(4, v6("::1", 8000)));
  assert.equal(
    chooseListener(two, { address: "localhost", port: 8000 }),
    '2 listening sockets on port 8000 (127.0.0.1, ::1) could be the one at "localhost": which is this server\'s cannot be told; listen on an address rather than a host name',
  );
});

test("notThisListener proves a descriptor is the listener at the address, or says what it is", () => {
  const table = new Map<number, Descriptor>([
    [3, { listening: true, local: v6("::ffff:127.0.0.1", 8000) }],
    [4, { listening: true, local: v4("127.0.0.1", 9000) }],
    [5, { listening: true, local: v4("127.0.0.2", 8000) }],
    [6, { local: v4("127.0.0.1", 8000), remote: v4("127.0.0.1", 50_000) }],
    [7, { listening: true }],
    [8, "file"],
  ]);
  const { backend } = fakeBackend(table);
  const server = { address: "127.0.0.1", port: 8000 };
  assert.equal(notThisListener(backend, 3, server), undefined);
  assert.equal(notThisListener(backend, 5, { address: "localhost", port: 8000 }), undefined);
  const why: [number, string][] = [
    [4, "descriptor 4 is listening on 127.0.0.1:9000, not this server's 127.0.0.1:8000"],
    [5, "descriptor 5 is listening on 127.0.0.2:8000, not this server's 127.0.0.1:8000"],
    [6, "descriptor 6 is not listening on 127.0.0.1:8000, not this server's 127.0.0.1:8000"],
    [7, "descriptor 7 is listening on ?, not this server's 127.0.0.1:8000"],
    [8, "descriptor 8 is not listening on ?, not this server's 127.0.0.1:8000"],
    [9, "descriptor 9 is not listening on ?, not this server's 127.0.0.1:8000"],
  ];
  for (const [fd, reason] of why) assert.equal(notThisListener(backend, fd, server), reason);
});

test("acceptQueue reads tcpi_unacked of a listener, and 0 when TCP_INFO cannot be read", () => {
  // As a backend returns it: a view at an offset into the buffer it reuses.
  const buffer = new Uint8Array(512);
  const info = buffer.subarray(8, 8 + 232);
  const fields = new Uint32Array(buffer.buffer, 8, 58); // host byte order
  fields[5] = 1460; // tcpi_snd_mss
  fields[6] = 3; // tcpi_unacked
  fields[7] = 99; // tcpi_sacked
  const returning = (tcpInfo: SockoptBackend["tcpInfo"]): SockoptBackend => ({
    ...fakeBackend(new Map()).backend,
    tcpInfo,
  });
  assert.equal(acceptQueue(returning(() => info), 3), 3);
  fields[6] = 70_000;
  assert.equal(acceptQueue(returning(() => info), 3), 70_000);
  assert.equal(acceptQueue(returning(() => info.subarray(0, 28)), 3), 70_000);
  assert.equal(acceptQueue(returning(() => info.subarray(0, 27)), 3), 0);
  assert.equal(acceptQueue(returning(() => undefined), 3), 0);
  const failing = returning(() => {
    throw new SockoptError("getsockopt TCP_INFO", EBADF);
  });
  assert.equal(acceptQueue(failing, 3), 0);
});
