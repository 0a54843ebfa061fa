import { test } from "node:test";
import assert from "node:assert/strict";
import {
  createLinuxBackend,
  decodeLinuxSockAddr,
  formatIPv6,
  type LibcCalls,
  SockoptError,
} from "../src/_sockopt.ts";

function ipv6(text: string): DataView {
  // Test-only parser for fully written groups, "a:b:...:h".
  const view = new DataView(new ArrayBuffer(16));
  text.split(":").forEach((group, i) => view.setUint16(2 * i, parseInt(group, 16)));
  return view;
}

test("formatIPv6 writes RFC 5952 text", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:1", "::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["fe80:0:0:0:1:0:0:2", "fe80::1:0:0:2"],
    ["2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["0:0:0:0:0:ffff:7f00:1", "::ffff:127.0.0.1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
  ];
  for (const [groups, text] of cases) assert.equal(formatIPv6(ipv6(groups), 0), text, groups);
});

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

test("decodeLinuxSockAddr reads sockaddr_in and sockaddr_in6", () => {
  const v4 = new DataView(new ArrayBuffer(16));
  v4.setUint16(0, 2, littleEndian);
  v4.setUint16(2, 8080);
  [10, 0, 0, 7].forEach((byte, i) => v4.setUint8(4 + i, byte));
  assert.deepEqual(decodeLinuxSockAddr(v4, 16), {
    address: "10.0.0.7",
    port: 8080,
    family: "IPv4",
  });

  const v6 = new DataView(new ArrayBuffer(28));
  v6.setUint16(0, 10, littleEndian);
  v6.setUint16(2, 443);
  v6.setUint16(22, 1);
  assert.deepEqual(decodeLinuxSockAddr(v6, 28), { address: "::1", port: 443, family: "IPv6" });

  const unix = new DataView(new ArrayBuffer(110));
  unix.setUint16(0, 1, littleEndian);
  assert.equal(decodeLinuxSockAddr(unix, 110), undefined);
  assert.equal(decodeLinuxSockAddr(v4, 4), undefined);
});

test("SockoptError names the call, errno name and number", () => {
  const error = new SockoptError("setsockopt TCP_KEEPIDLE", 9);
  assert.ok(error instanceof Error);
  assert.equal(error.message, "setsockopt TCP_KEEPIDLE failed: EBADF (9)");
  assert.equal(error.code, "EBADF");
  assert.equal(error.errno, 9);
  assert.equal(
    new SockoptError("getsockopt TCP_INFO", 4242).message,
    "getsockopt TCP_INFO failed: E4242 (4242)",
  );
});

test("createLinuxBackend passes ints through one reused buffer", () => {
  const seen: Uint8Array[] = [];
  let stored = 0;
  const libc: LibcCalls = {
    setsockopt(_fd, _level, _option, value, length) {
      assert.equal(length, 4);
      seen.push(value);
      stored = new Int32Array(value.buffer, value.byteOffset, 1)[0];
      return 0;
    },
    getsockopt(_fd, _level, _option, value, length) {
      assert.equal(length[0], 4);
      seen.push(value);
      new Int32Array(value.buffer, value.byteOffset, 1)[0] = stored;
      return 0;
    },
    getsockname: () => -1,
    getpeername: () => -1,
    dup: () => -1,
    close: () => 0,
    errno: () => 88,
  };
  const backend = createLinuxBackend("fake", libc);
  backend.setInt(3, 6, 4, -7);
  assert.equal(backend.getInt(3, 6, 4), -7);
  backend.setInt(3, 6, 18, 2 ** 31 - 1);
  assert.equal(backend.getInt(3, 6, 18), 2 ** 31 - 1);
  assert.ok(seen.every((buffer) => buffer === seen[0]), "one buffer for every call");
  assert.equal(backend.localAddress(3), undefined);
  assert.throws(() => backend.setInt(3, 6, 4, 2 ** 31), {
    name: "RangeError",
    message:
      "Cannot set TCP_KEEPIDLE: value must be an integer between -2147483648 and 2147483647, got 2147483648",
  });
});

test("createLinuxBackend reports errno from the failed call", () => {
  const backend = createLinuxBackend("fake", {
    setsockopt: () => -1,
    getsockopt: () => -1,
    getsockname: () => -1,
    getpeername: () => -1,
    dup: () => -1,
    close: () => 0,
    errno: () => 92,
  });
  assert.throws(() => backend.setInt(3, 6, 18, 1), {
    message: "setsockopt TCP_USER_TIMEOUT failed: ENOPROTOOPT (92)",
  });
  assert.throws(() => backend.getInt(3, 1, 9), {
    message: "getsockopt SO_KEEPALIVE failed: ENOPROTOOPT (92)",
  });
  assert.throws(() => backend.tcpInfo(3), { code: "ENOPROTOOPT" });
});

test("withDuplicate runs on a dup(2) and always closes it; a failed dup names its errno", () => {
  const calls: string[] = [];
  const backend = createLinuxBackend("fake", {
    setsockopt: () => 0,
    getsockopt: () => 0,
    getsockname: () => -1,
    getpeername: () => -1,
    dup: (fd) => {
      calls.push(`dup ${fd}`);
      return fd === 5 ? 9 : -1;
    },
    close: (fd) => {
      calls.push(`close ${fd}`);
      return 0;
    },
    errno: () => 9,
  });
  assert.equal(backend.withDuplicate(5, (held) => held * 2), 18);
  assert.throws(() =>
    backend.withDuplicate(5, () => {
      throw new Error("inside");
    }), { message: "inside" });
  assert.throws(() => backend.withDuplicate(6, () => 0), { message: "dup failed: EBADF (9)" });
  assert.deepEqual(calls, ["dup 5", "close 9", "dup 5", "close 9", "dup 6"]);
});
