import { test } from "node:test";
import assert from "node:assert/strict";
import { CONTROLS, optionName, type OptionSupport, platformOptions } from "../src/_platform.ts";

function numbers(entry: OptionSupport | undefined): [string, number, number] | string {
  assert.ok(entry !== undefined);
  return entry.supported ? [entry.name, entry.level, entry.option] : `unsupported: ${entry.reason}`;
}

test("Linux option numbers match <linux/tcp.h> and <asm-generic/socket.h>", () => {
  const linux = platformOptions("linux")!;
  assert.equal(linux.platform, "linux");
  assert.deepEqual(numbers(linux.keepAlive), ["SO_KEEPALIVE", 1, 9]);
  assert.deepEqual(numbers(linux.keepIdle), ["TCP_KEEPIDLE", 6, 4]);
  assert.deepEqual(numbers(linux.keepInterval), ["TCP_KEEPINTVL", 6, 5]);
  assert.deepEqual(numbers(linux.keepCount), ["TCP_KEEPCNT", 6, 6]);
  assert.deepEqual(numbers(linux.userTimeout), ["TCP_USER_TIMEOUT", 6, 18]);
  assert.deepEqual(numbers(linux.tcpInfo), ["TCP_INFO", 6, 11]);
  assert.equal(linux.keepAliveIoctl, undefined);
});

test("Linux limits are the kernel's", () => {
  const linux = platformOptions("linux")!;
  const range = (entry: OptionSupport): unknown => entry.supported ? entry.range : undefined;
  assert.deepEqual(range(linux.keepIdle), [1, 32767]);
  assert.deepEqual(range(linux.keepInterval), [1, 32767]);
  assert.deepEqual(range(linux.keepCount), [1, 127]);
  assert.deepEqual(range(linux.userTimeout), [0, 2 ** 31 - 1]);
  assert.equal(range(linux.tcpInfo), undefined);
});

test("macOS option numbers match xnu <netinet/tcp.h>", () => {
  const darwin = platformOptions("darwin")!;
  assert.deepEqual(numbers(darwin.keepAlive), ["SO_KEEPALIVE", 0xffff, 0x8]);
  assert.deepEqual(numbers(darwin.keepIdle), ["TCP_KEEPALIVE", 6, 0x10]);
  assert.deepEqual(numbers(darwin.keepInterval), ["TCP_KEEPINTVL", 6, 0x101]);
  assert.deepEqual(numbers(darwin.keepCount), ["TCP_KEEPCNT", 6, 0x102]);
  assert.deepEqual(numbers(darwin.userTimeout), ["TCP_RXT_CONNDROPTIME", 6, 0x80]);
  assert.deepEqual(numbers(darwin.tcpInfo), ["TCP_CONNECTION_INFO", 6, 0x106]);
  const drop = darwin.userTimeout;
  assert.ok(drop.supported && drop.unit === "seconds" && drop.note !== undefined);
});

test("Windows has the keepalive ioctl, newer per-option sockopts, and no user timeout", () => {
  const win32 = platformOptions("win32")!;
  assert.deepEqual(numbers(win32.keepAlive), ["SO_KEEPALIVE", 0xffff, 0x8]);
  assert.deepEqual(numbers(win32.keepIdle), ["TCP_KEEPIDLE", 6, 3]);
  assert.deepEqual(numbers(win32.keepInterval), ["TCP_KEEPINTVL", 6, 17]);
  assert.deepEqual(numbers(win32.keepCount), ["TCP_KEEPCNT", 6, 16]);
  const since = (entry: OptionSupport): string | undefined =>
    entry.supported ? entry.since : undefined;
  assert.equal(since(win32.keepIdle), "Windows 10 1709");
  assert.equal(since(win32.keepInterval), "Windows 10 1709");
  assert.equal(since(win32.keepCount), "Windows 10 1703");
  assert.equal(win32.userTimeout.supported, false);
  assert.equal(win32.tcpInfo.supported, false);
  assert.deepEqual(
    {
      name: win32.keepAliveIoctl?.name,
      code: win32.keepAliveIoctl?.code,
      unit: win32.keepAliveIoctl?.unit,
    },
    { name: "SIO_KEEPALIVE_VALS", code: 0x98000004, unit: "milliseconds" },
  );
});

test("every table answers every control, with a reason when unsupported", () => {
  for (const platform of ["linux", "darwin", "win32"]) {
    const table = platformOptions(platform)!;
    for (const control of CONTROLS) {
      const entry = table[control];
      if (entry.supported) {
        assert.ok(
          entry.name.length > 0 && Number.isInteger(entry.level) && Number.isInteger(entry.option),
        );
        if (entry.range !== undefined) {
          assert.ok(entry.range[0] <= entry.range[1], `${platform} ${control}`);
        } else assert.equal(entry.unit, "struct");
      } else {
        assert.match(entry.reason, /\S/, `${platform} ${control}`);
      }
    }
  }
});

test("unknown platforms have no table", () => {
  for (const platform of ["freebsd", "aix", "", "toString", "__proto__"]) {
    assert.equal(platformOptions(platform), undefined, platform);
  }
});

test("optionName names known options and numbers unknown ones", () => {
  const linux = platformOptions("linux")!;
  assert.equal(optionName(linux, 6, 4), "TCP_KEEPIDLE");
  assert.equal(optionName(linux, 1, 9), "SO_KEEPALIVE");
  assert.equal(optionName(linux, 6, 99), "option 6/99");
  assert.equal(optionName(platformOptions("darwin")!, 6, 0x10), "TCP_KEEPALIVE");
});
