// The adapter kit (src/_kit.ts) on its own: the argument checks and runtime guard every adapter
// shares, the ownership rule, where a socket's watch is kept, the plan made once per monitor, and
// what tuning reports when a socket cannot be tuned. A fake kind of socket stands for a runtime's:
// nothing here is a claim about sockets (the adapters' and tune_server's tests make those, over
// real ones). Runs unchanged on every runtime.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LivenessMonitor } from "../mod.ts";
import {
  AdapterKit,
  currentRuntime,
  endpointsOf,
  notWatched,
  type SocketKind,
  WATCH,
  type Watch,
} from "../src/_kit.ts";
import { FFI_OFF } from "../src/_inherit.ts";
import type { Endpoints } from "../src/_listener.ts";
import type { SockoptBackend } from "../src/_sockopt.ts";
import { runtime } from "./_skip.ts";

/** A socket of the fake kind: open or not, its ends, the keepalive calls it got. */
interface FakeSocket {
  open: boolean;
  ends: Endpoints | undefined;
  calls: string[];
}

const ENDS: Endpoints = {
  local: { address: "127.0.0.1", port: 4000 },
  remote: { address: "127.0.0.1", port: 50000 },
};

function socket(open = true, ends: Endpoints | null = ENDS): FakeSocket {
  return { open, ends: ends ?? undefined, calls: [] };
}

/** A kind whose runtime API sets keepalive and idle, with no FFI unless `over` gives one. */
function kind(over: Partial<SocketKind<FakeSocket>> = {}): SocketKind<FakeSocket> {
  return {
    runtime: "node",
    hosts: ["node", "deno", "bun"],
    argument: "socket",
    kind: "fake.Socket",
    is: (value): value is FakeSocket =>
      typeof value === "object" && value !== null && "calls" in value,
    isOpen: (s) => s.open,
    native: (s) => ({
      idle: true,
      interval: false,
      count: false,
      set: (enable, idleMs) => void s.calls.push(`keepalive ${enable} ${idleMs}`),
    }),
    backend: () => ({ ok: false, reason: "no FFI for fake sockets" }),
    fd: () => undefined,
    endpoints: (s) => s.ends,
    ...over,
  };
}

function monitor(): LivenessMonitor<FakeSocket> {
  return new LivenessMonitor<FakeSocket>({ keepalive: { idle: "7s", interval: "3s", count: 4 } });
}

const DRIVER = { destroy() {} };

test("currentRuntime names the runtime this runs on", () => {
  assert.equal(currentRuntime(), runtime);
});

test("checkRuntime passes on the kind's hosts and names the adapter to use elsewhere", () => {
  new AdapterKit(kind()).checkRuntime(); // every runtime is a host
  const others = (["node", "deno", "bun"] as const).filter((name) => name !== runtime);
  const titles = { node: "Node.js", deno: "Deno", bun: "Bun" } as const;
  const adapters = { node: "Node", deno: "Deno", bun: "Bun" } as const;
  for (const other of others) {
    assert.throws(() => new AdapterKit(kind({ runtime: other, hosts: undefined })).checkRuntime(), {
      name: "Error",
      message: `The ${adapters[other]} adapter runs only on ${titles[other]}: on ${
        titles[runtime]
      } use "socket-liveness/${runtime}"`,
    });
  }
  // Several hosts are listed as a sentence.
  const [a, b] = others;
  assert.throws(() => new AdapterKit(kind({ runtime: a, hosts: [a, b] })).checkRuntime(), {
    message: new RegExp(`^The ${adapters[a]} adapter runs only on ${titles[a]} and ${titles[b]}:`),
  });
});

test("checkMonitor takes an open monitor only", () => {
  const kit = new AdapterKit(kind());
  const m = monitor();
  kit.checkMonitor(m);
  for (const [value, got] of [[undefined, "undefined"], [{}, "an object"], ["m", '"m"']] as const) {
    assert.throws(() => kit.checkMonitor(value), {
      name: "TypeError",
      message: `Argument "monitor" must be a LivenessMonitor, got ${got}`,
    });
  }
  m.close();
  assert.throws(() => kit.checkMonitor(m), {
    name: "TypeError",
    message: 'Argument "monitor" must be an open LivenessMonitor, got a closed one',
  });
});

test("checkMonitor takes another copy's monitor by its members", () => {
  const kit = new AdapterKit(kind());
  const m = monitor();
  // A plain object with what a monitor of this copy has: its settings, and each of its methods.
  const copy: Record<string, unknown> = {
    keepalive: m.keepalive,
    policy: m.policy,
    watchKernel: false,
    isClosed: false,
  };
  const prototype = LivenessMonitor.prototype as unknown as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const { value } = Object.getOwnPropertyDescriptor(prototype, name)!;
    if (typeof value === "function" && name !== "constructor") copy[name] = () => {};
  }
  kit.checkMonitor(copy);
  delete copy.keepaliveProbes; // one member short: not a monitor
  assert.throws(() => kit.checkMonitor(copy), { name: "TypeError" });
  m.close();
});

test("checkSocket and checkOptions name the argument, the option and what it must be", () => {
  const kit = new AdapterKit(kind());
  kit.checkSocket(socket());
  assert.throws(() => kit.checkSocket(42), {
    name: "TypeError",
    message: 'Argument "socket" must be a fake.Socket, got number 42',
  });
  assert.deepEqual(kit.checkOptions({ ffi: false }, ["ffi"]), { ffi: false });
  // Without a key list, the runtime's own options are let through.
  kit.checkOptions({ port: 1 } as { ffi?: boolean });
  for (
    const [options, message] of [
      [null, 'Argument "options" must be an object, got null'],
      [[], 'Argument "options" must be an object, got an array'],
      [{ ffi: "yes" }, 'Option "ffi" must be a boolean, got "yes"'],
      [{ hostnme: "x" }, 'Unknown option "hostnme": expected one of ffi, hostname'],
    ] as const
  ) {
    assert.throws(() => kit.checkOptions(options as never, ["ffi", "hostname"]), {
      name: "TypeError",
      message,
    });
  }
});

test("owner: a socket is free, its own monitor's, or refused (another monitor's, or closed)", () => {
  const kit = new AdapterKit(kind());
  const [mine, other] = [monitor(), monitor()];
  const s = socket();
  assert.equal(kit.owner(mine, s), undefined);
  const watch = kit.register<Watch>([s], { monitor: mine, id: mine.track(s), report: undefined });
  assert.equal(kit.owner(mine, s), watch, "watching again is a no-op");
  assert.throws(() => kit.owner(other, s), {
    name: "TypeError",
    message: 'Argument "socket" is already watched by another monitor',
  });
  assert.throws(() => kit.owner(mine, socket(false)), {
    name: "TypeError",
    message: 'Argument "socket" must be an open fake.Socket, got a closed one',
  });
  mine.close();
  other.close();
});

test("a watch is kept on the socket and every wrapper, or aside for one that takes no property", () => {
  const kit = new AdapterKit(kind());
  const m = monitor();
  const s = socket();
  const wrapper = {};
  const watch = kit.register<Watch>([s, wrapper], {
    monitor: m,
    id: m.track(s, DRIVER),
    report: undefined,
  });
  assert.equal((s as unknown as Record<symbol, unknown>)[WATCH], watch, "on the socket itself");
  assert.equal(kit.watchOf(wrapper), watch);
  const frozen = Object.freeze(socket());
  const aside = kit.register<Watch>([frozen], {
    monitor: m,
    id: m.track(frozen, DRIVER),
    report: undefined,
  });
  assert.equal((frozen as unknown as Record<symbol, unknown>)[WATCH], undefined);
  assert.equal(kit.watchOf(frozen), aside, "found all the same");
  // The public lookups: a wrapper passes as a socket once watched; anything else is refused.
  assert.equal(kit.lookup(wrapper), watch);
  assert.equal(kit.lookup(socket()), undefined);
  assert.equal(kit.state(s), "open");
  assert.throws(() => kit.lookup({}), { name: "TypeError" });
  m.closed(watch.id);
  assert.equal(kit.state(s), undefined, "forgotten once closed");
  m.close();
});

test("the plan is made once per monitor", () => {
  const kit = new AdapterKit(kind());
  const [a, b] = [monitor(), monitor()];
  assert.equal(kit.plan(a), kit.plan(a));
  assert.notEqual(kit.plan(a), kit.plan(b));
  assert.equal(new AdapterKit(kind()).plan(a), kit.plan(a), "one per monitor, across kits");
  a.close();
  b.close();
});

test("tune says why a socket could not be tuned through setsockopt, after the runtime's own API", () => {
  const m = monitor();
  const why = (k: AdapterKit<FakeSocket>, s: FakeSocket, ffi: boolean) => {
    const report = k.tune(m, s, ffi);
    return [report.unavailable, report.keepalive.status, report.idle.status, report.count.status];
  };
  const kit = new AdapterKit(kind());
  const ipc = socket(true, null);
  assert.deepEqual(why(kit, ipc, true), [
    "not a connected TCP socket",
    "unsupported",
    "unsupported",
    "unsupported",
  ]);
  assert.deepEqual(ipc.calls, [], "nothing set on a socket that is not TCP");
  const s = socket();
  assert.deepEqual(why(kit, s, false), [FFI_OFF, "applied", "applied", "unsupported"]);
  assert.deepEqual(s.calls, ["keepalive true 7000"]);
  assert.deepEqual(why(kit, socket(), true), [
    "no FFI for fake sockets",
    "applied",
    "applied",
    "unsupported",
  ]);
  const backend = { name: "fake" } as SockoptBackend;
  const noFd = new AdapterKit(kind({ backend: () => ({ ok: true, backend }) }));
  assert.deepEqual(why(noFd, socket(), true), [
    "no file descriptor is known for this socket",
    "applied",
    "applied",
    "unsupported",
  ]);
  m.close();
});

test("failure and lostTimeout leave errors alone where the kernel cannot be asked", () => {
  const kit = new AdapterKit(kind());
  const m = new LivenessMonitor<FakeSocket>({ keepalive: { userTimeout: "5s" } });
  const timedOut = Object.assign(new Error("read ETIMEDOUT"), { code: "ETIMEDOUT" });
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  assert.equal(kit.failure(m, socket(), reset, true, true), reset, "not a time-out");
  assert.equal(kit.failure(m, socket(), timedOut, false, true), timedOut, "no FFI");
  assert.equal(kit.failure(m, socket(), timedOut, true, true), timedOut, "no backend");
  assert.equal(kit.lostTimeout(m, socket(), false), undefined);
  assert.equal(kit.lostTimeout(m, socket(), true), undefined);
  m.close();
});

test("endpointsOf and notWatched", () => {
  assert.deepEqual(endpointsOf("127.0.0.1", 4000, "127.0.0.1", 50000), ENDS);
  assert.equal(endpointsOf("127.0.0.1", 4000, undefined, 50000), undefined, "the peer is gone");
  assert.equal(endpointsOf("127.0.0.1", undefined, "127.0.0.1", 50000), undefined);
  assert.equal(
    notWatched(new TypeError("Cannot track a connection: the monitor is closed")),
    "A connection is not watched: Cannot track a connection: the monitor is closed",
  );
});
