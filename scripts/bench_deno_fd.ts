// Measures how long finding a Deno conn's descriptor takes with many conns open.
//
//   deno run --allow-ffi --allow-net --allow-run scripts/bench_deno_fd.ts [connections=10000] [churn=2000]
//
// A child Deno process opens `connections` loopback connections to this one,
// which accepts them and so holds that many conns; the client ends live in the
// child so that both ends fit under a 20,000 descriptor limit. Then it times:
//   - the first lookup of every accepted conn, in shuffled order;
//   - churn at full load: the child opens one more connection, this process
//     accepts and finds it, then closes and releases an old one, `churn` times;
//   - for scale, a naive scan from descriptor 0 on a sample.

import { loadDenoBackend } from "../adapters/_ffi_deno.ts";
import { type ConnLike, DenoFdFinder } from "../adapters/_deno_fd.ts";
import type { SockoptBackend } from "../src/_sockopt.ts";

interface Conn extends ConnLike {
  close(): void;
}
interface DenoBench {
  readonly args: readonly string[];
  execPath(): string;
  exit(code: number): never;
  listen(options: { hostname: string; port: number }): {
    readonly addr: { readonly port: number };
    accept(): Promise<Conn>;
    close(): void;
  };
  readonly Command: new (
    command: string,
    options: { args: string[]; stdin: "piped"; stdout: "inherit"; stderr: "inherit" },
  ) => {
    spawn(): {
      readonly stdin: WritableStream<Uint8Array>;
      readonly status: Promise<{ readonly code: number }>;
    };
  };
}

const deno = (globalThis as unknown as { Deno: DenoBench }).Deno;
const connections = Number(deno.args[0] ?? 10_000);
const churn = Number(deno.args[1] ?? 2_000);

const loaded = loadDenoBackend();
if (!loaded.ok) throw new Error(`Deno backend unavailable: ${loaded.reason}`);
const backend = loaded.backend;

const listener = deno.listen({ hostname: "127.0.0.1", port: 0 });
const child = new deno.Command(deno.execPath(), {
  args: ["eval", clientScript(listener.addr.port, connections)],
  stdin: "piped",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
const more = child.stdin.getWriter();
let finished = false;
child.status.then(({ code }) => {
  if (!finished) {
    console.error(`the client process exited early (code ${code})`);
    deno.exit(1);
  }
});

let started = performance.now();
const open: Conn[] = [];
while (open.length < connections) open.push(await listener.accept());
console.log(
  `accepted ${connections} connections in ${(performance.now() - started).toFixed(0)} ms`,
);

const finder = new DenoFdFinder(backend);
const shuffled = [...open];
shuffle(shuffled);
started = performance.now();
for (const conn of shuffled) {
  if (finder.find(conn) === undefined) throw new Error("a conn was not found");
}
report(
  `first lookup of ${connections} open conns, shuffled`,
  performance.now() - started,
  connections,
  finder.calls,
);

const callsBefore = finder.calls;
let lookupTime = 0;
for (let i = 0; i < churn; i++) {
  await more.write(new Uint8Array([1]));
  const conn = await listener.accept();
  const t0 = performance.now();
  const fd = finder.find(conn);
  lookupTime += performance.now() - t0;
  if (fd === undefined) throw new Error("a new conn was not found");
  const old = open[i];
  old.close();
  finder.release(old);
  open[i] = conn;
}
report(
  `churn with ${connections} open (find 1 new, close+release 1 old)`,
  lookupTime,
  churn,
  finder.calls - callsBefore,
);

let naiveCalls = 0;
const sample = open.slice(-200);
started = performance.now();
for (const conn of sample) naiveCalls += naiveScan(backend, conn);
report(
  `naive scan from fd 0, ${sample.length} conns sampled`,
  performance.now() - started,
  sample.length,
  naiveCalls,
);

finished = true;
for (const conn of open) conn.close();
await more.close();
await child.status;
listener.close();

function report(what: string, milliseconds: number, count: number, ffiCalls: number): void {
  const micros = (milliseconds * 1000) / count;
  console.log(
    `${what}: ${micros.toFixed(2)} µs per lookup, ${
      (ffiCalls / count).toFixed(2)
    } FFI calls per lookup`,
  );
}

// The reference point: examine every descriptor from 0 until one matches.
function naiveScan(backend: SockoptBackend, conn: ConnLike): number {
  let made = 0;
  for (let fd = 0;; fd++) {
    made++;
    const remote = backend.remoteAddress(fd);
    if (remote === undefined || remote.port !== conn.remoteAddr.port) continue;
    made++;
    const local = backend.localAddress(fd);
    if (local?.port === conn.localAddr.port) return made;
  }
}

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

// Runs in the child: connect `count` times, one more per byte read on stdin,
// and close each connection when this side closes it.
function clientScript(port: number, count: number): string {
  return `
    const hold = async (conn) => {
      const buffer = new Uint8Array(16);
      try { while ((await conn.read(buffer)) !== null); } catch {}
      try { conn.close(); } catch {}
    };
    const open = async () => {
      hold(await Deno.connect({ hostname: "127.0.0.1", port: ${port} }));
    };
    for (let i = 0; i < ${count}; i += 256) {
      await Promise.all(Array.from({ length: Math.min(256, ${count} - i) }, open));
    }
    const bytes = new Uint8Array(256);
    for (let n; (n = await Deno.stdin.read(bytes)) !== null;) for (let i = 0; i < n; i++) await open();
    Deno.exit(0);
  `;
}
