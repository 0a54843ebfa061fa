import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveKeepalive } from "../mod.ts";
import { type NativeKeepalive, tuneKeepalive } from "../src/tune.ts";
import type { SockoptBackend } from "../src/_sockopt.ts";

/** An in-memory kernel socket: Linux option numbers, Linux defaults, Linux limits. */
function fakeKernel(fd = 7) {
  const values = new Map<string, number>([
    ["1/9", 0], // SO_KEEPALIVE
    ["6/4", 7200], // TCP_KEEPIDLE
    ["6/5", 75], // TCP_KEEPINTVL
    ["6/6", 9], // TCP_KEEPCNT
    ["6/18", 0], // TCP_USER_TIMEOUT
  ]);
  const calls: string[] = [];
  const backend: SockoptBackend = {
    name: "fake",
    setInt(f, level, option, value) {
      calls.push(`set ${level}/${option}=${value}`);
      if (f !== fd) {
        throw Object.assign(new Error("setsockopt failed: EBADF (9)"), { code: "EBADF" });
      }
      values.set(`${level}/${option}`, value);
    },
    getInt(f, level, option) {
      calls.push(`get ${level}/${option}`);
      if (f !== fd) {
        throw Object.assign(new Error("getsockopt failed: EBADF (9)"), { code: "EBADF" });
      }
      return values.get(`${level}/${option}`)!;
    },
    tcpInfo: () => undefined,
    localAddress: () => undefined,
    remoteAddress: () => undefined,
    withDuplicate: (fd, fn) => fn(fd),
  };
  return { backend, values, calls, fd };
}

/** A runtime API that sets SO_KEEPALIVE and the idle time (like Node 20 and Bun). */
function idleOnlyNative(
  kernel: ReturnType<typeof fakeKernel>,
): NativeKeepalive & { calls: string[] } {
  const calls: string[] = [];
  return {
    idle: true,
    interval: false,
    count: false,
    calls,
    set(enable, idleMs) {
      calls.push(`native ${enable} ${idleMs}`);
      kernel.values.set("1/9", enable ? 1 : 0);
      if (idleMs !== undefined) {
        kernel.values.set("6/4", Math.floor(idleMs / 1000));
        kernel.values.set("6/5", 1);
        kernel.values.set("6/6", 10);
      }
    },
    sideEffects: { interval: 1000, count: 10 },
  };
}

test("native first, setsockopt for the rest, every value read back", () => {
  const kernel = fakeKernel();
  const native = idleOnlyNative(kernel);
  const report = tuneKeepalive(
    resolveKeepalive({ idle: "2s", interval: "1s", count: 3, userTimeout: "3s" }),
    {
      native,
      sockopt: { backend: kernel.backend, fd: kernel.fd },
    },
  );
  assert.deepEqual(native.calls, ["native true 2000"]);
  // The runtime already left interval at 1 s: only count and user timeout need setsockopt, set
  // without reading first; then every control is read back once.
  assert.deepEqual(kernel.calls, [
    "get 1/9",
    "get 6/4",
    "get 6/5",
    "set 6/6=3",
    "get 6/6",
    "set 6/18=3000",
    "get 6/18",
  ]);
  assert.deepEqual(
    {
      status: report.keepalive.status,
      value: report.keepalive.value,
      via: report.keepalive.via,
      verified: report.keepalive.verified,
    },
    { status: "applied", value: true, via: "native", verified: true },
  );
  assert.equal(report.idle.status, "applied");
  assert.equal(report.idle.value, 2000);
  assert.equal(report.idle.via, "native");
  assert.equal(report.interval.status, "applied");
  assert.equal(report.count.via, "setsockopt");
  assert.equal(report.count.value, 3);
  assert.equal(report.userTimeout.value, 3000);
  assert.equal(report.backend, "fake");
  assert.equal(report.bound.idleMs, 3000);
  assert.equal(report.bound.busyBy, "user-timeout");
});

test("a value the runtime got wrong is corrected with setsockopt", () => {
  const kernel = fakeKernel();
  const native = idleOnlyNative(kernel);
  native.set = (enable) => kernel.values.set("1/9", enable ? 1 : 0); // drops the idle time silently
  const report = tuneKeepalive(resolveKeepalive({ idle: "3s" }), {
    native,
    sockopt: { backend: kernel.backend, fd: kernel.fd },
  });
  assert.deepEqual(kernel.calls.filter((call) => call.startsWith("set")), ["set 6/4=3"]);
  assert.equal(report.idle.status, "applied");
  assert.equal(report.idle.via, "setsockopt");
  assert.equal(report.interval.status, "system");
  assert.equal(report.interval.value, 75_000);
  assert.equal(report.bound.keepaliveMs, 3_000 + 75_000 * 9);
});

test("without setsockopt: what only it could set is unsupported, with the reason", () => {
  const kernel = fakeKernel();
  const report = tuneKeepalive(resolveKeepalive("2s:1s:3"), {
    native: { idle: false, interval: false, count: false, set: () => {} },
    unavailable: "Deno needs --allow-ffi",
  });
  assert.equal(report.keepalive.status, "applied");
  assert.equal(report.keepalive.verified, false);
  for (const control of ["idle", "interval", "count"] as const) {
    assert.equal(report[control].status, "unsupported");
    assert.equal(report[control].note, "Deno needs --allow-ffi");
  }
  assert.equal(report.userTimeout.status, "system");
  assert.equal(report.unavailable, "Deno needs --allow-ffi");
  // Nothing took effect but SO_KEEPALIVE: the bound is the system's two hours and more.
  assert.equal(report.bound.idleMs, 7_200_000 + 75_000 * 9);
  assert.equal(
    report.bound.warnings[0],
    "idle, interval, count asked but not set (Deno needs --allow-ffi): the system's values apply, and a peer that vanishes goes unnoticed for 7875 s on a quiet connection, 924.6 s with data in flight",
  );
  assert.match(report.bound.warnings.join("\n"), /set keepalive\.idle/);
  void kernel;
});

test("without setsockopt, a runtime's fixed interval and count enter the bound", () => {
  const kernel = fakeKernel();
  const report = tuneKeepalive(resolveKeepalive({ idle: "2s" }), {
    native: idleOnlyNative(kernel),
    unavailable: "koffi not installed",
  });
  assert.equal(report.idle.status, "applied");
  assert.equal(report.interval.status, "system");
  assert.equal(report.interval.value, 1000);
  assert.equal(report.bound.idleMs, 2_000 + 1_000 * 10);
});

test("an option the kernel refuses is reported, never thrown", () => {
  const kernel = fakeKernel();
  const report = tuneKeepalive(resolveKeepalive({ idle: "2s", count: 3 }), {
    sockopt: { backend: kernel.backend, fd: 99 }, // not this socket's descriptor any more
  });
  assert.equal(report.idle.status, "unsupported");
  assert.equal(report.idle.note, "setsockopt failed: EBADF (9)"); // set first, then read back
  assert.equal(report.count.status, "unsupported");
});

test("a kernel that holds another value than asked is reported adjusted", () => {
  const kernel = fakeKernel();
  const clamp = kernel.backend.setInt;
  kernel.backend.setInt = (fd, level, option, value) =>
    clamp(fd, level, option, option === 6 ? 5 : value);
  const report = tuneKeepalive(resolveKeepalive({ count: 3 }), {
    sockopt: { backend: kernel.backend, fd: kernel.fd },
  });
  assert.equal(report.count.status, "adjusted");
  assert.equal(report.count.value, 5);
  assert.equal(report.count.note, "asked 3, the kernel holds 5");
});

test("a value the settings rounded is adjusted in the report, never applied", () => {
  const kernel = fakeKernel();
  const report = tuneKeepalive(
    resolveKeepalive({ idle: "1.5s", interval: "500ms", count: 3, userTimeout: "2999.5ms" }),
    { sockopt: { backend: kernel.backend, fd: kernel.fd } },
  );
  assert.equal(report.idle.status, "adjusted");
  assert.equal(report.idle.asked, 1500);
  assert.equal(report.idle.value, 2000);
  assert.equal(report.idle.note, "asked 1500 ms, the kernel counts whole seconds: 2000 ms");
  assert.equal(report.interval.status, "adjusted");
  assert.equal(report.interval.value, 1000);
  assert.equal(report.userTimeout.status, "adjusted");
  assert.equal(report.userTimeout.value, 3000);
  assert.equal(report.count.status, "applied");
  // The same without setsockopt, through a runtime that takes the idle time natively.
  const native = tuneKeepalive(resolveKeepalive({ idle: "1.5s" }), {
    native: { idle: true, interval: false, count: false, set() {} },
  });
  assert.equal(native.idle.status, "adjusted");
  assert.equal(native.idle.value, 2000);
});

test("keepalive off is applied and leaves only application deadlines in the bound", () => {
  const kernel = fakeKernel();
  kernel.values.set("1/9", 1);
  const report = tuneKeepalive(resolveKeepalive("off"), {
    sockopt: { backend: kernel.backend, fd: kernel.fd },
  }, {
    heartbeat: { interval: 1000, timeout: 500 },
    resolution: 100,
  });
  assert.equal(report.keepalive.status, "applied");
  assert.equal(report.keepalive.value, false);
  assert.equal(report.bound.idleBy, "heartbeat");
  assert.equal(report.bound.idleMs, 1_800);
});

test("without setsockopt, a value the runtime fixes is applied when it is what was asked, else adjusted", () => {
  const kernel = fakeKernel();
  const report = tuneKeepalive(resolveKeepalive({ idle: "2s", interval: "1s", count: 3 }), {
    native: idleOnlyNative(kernel),
    unavailable: "koffi not installed",
  });
  assert.equal(report.interval.status, "applied");
  assert.equal(report.interval.via, "native");
  assert.equal(report.count.status, "adjusted");
  assert.equal(report.count.value, 10);
  assert.equal(report.count.note, "the runtime fixes it at 10; koffi not installed");
  assert.equal(report.bound.idleMs, 2_000 + 1_000 * 10);
});
