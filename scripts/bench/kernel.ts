// What reading the kernel's view of a socket costs, through this runtime's FFI backend (koffi on
// Node, Deno.dlopen, bun:ffi), on a real established loopback connection:
//
//   kernel.tcpInfo           backend.tcpInfo(fd): getsockopt(TCP_INFO) into the backend's buffer
//   kernel.decodeTcpInfo     decodeTcpInfo(bytes) of what it returned
//   kernel.tcpInfo+decode    both, as a caller polling TCP_INFO does
//   kernel.getsockopt        backend.getInt(fd, IPPROTO_TCP, TCP_KEEPIDLE)
//   kernel.setsockopt        backend.setInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, 30)
//   kernel.getpeername       backend.remoteAddress(fd), decoded to text (the descriptor proof)
//   kernel.dup+close         backend.withDuplicate(fd, () => 0): dup(2) and close(2)
//   kernel.retune            tuneKeepalive() through setsockopt on a socket already tuned: five
//                            read-backs, the report and its detection bound
//   kernel.retune.proven     the same through a dup(2) proven by both endpoints, as the adapters
//                            tune (what they do per connection, less the setsockopt calls and
//                            read-backs a fresh socket needs)
//   kernel.detectionBound    detectionBound() alone, for the monitor's options
//   kernel.denoFind          (Deno) findDenoFd() of a conn whose descriptor is cached
//
//   node scripts/bench/kernel.ts [--quick | --full]
//   deno run -A scripts/bench/kernel.ts [...]
//   bun scripts/bench/kernel.ts [...]
//
// JSON lines on stdout (as core.ts), a table on stderr. Traffic stays on 127.0.0.1.

import { connect as netConnect, createServer, type Socket } from "node:net";
import process from "node:process";
import { decodeTcpInfo, detectionBound, resolveKeepalive, tuneKeepalive } from "../../mod.ts";
import type { SockoptBackend } from "../../src/_sockopt.ts";
import { loadNodeBackend, nodeSocketFd } from "../../adapters/_ffi_node.ts";
import { loadDenoBackend } from "../../adapters/_ffi_deno.ts";
import { bunSocketFd, loadBunBackend } from "../../adapters/_ffi_bun.ts";
import { findDenoFd } from "../../adapters/_deno_fd.ts";
import { commonArgs, Recorder } from "./_results.ts";

interface DenoConn {
  readonly localAddr: { hostname: string; port: number };
  readonly remoteAddr: { hostname: string; port: number };
  write(p: Uint8Array): Promise<number>;
  close(): void;
}
interface DenoKernel {
  readonly version: { readonly deno: string };
  listen(options: { hostname: string; port: number }): {
    readonly addr: { readonly port: number };
    accept(): Promise<DenoConn>;
    close(): void;
  };
  connect(options: { hostname: string; port: number }): Promise<DenoConn>;
}
interface BunKernelSocket {
  readonly fd?: number;
  end(): void;
}
interface BunKernel {
  readonly version: string;
  listen(options: {
    hostname: string;
    port: number;
    socket: { open(socket: BunKernelSocket): void; data(): void };
  }): { readonly port: number; stop(closeActive?: boolean): void };
  connect(options: {
    hostname: string;
    port: number;
    socket: { data(): void };
  }): Promise<BunKernelSocket>;
}

const deno = (globalThis as unknown as { Deno?: DenoKernel }).Deno;
const bun = (globalThis as unknown as { Bun?: BunKernel }).Bun;
const runtime = bun !== undefined ? "bun" : deno !== undefined ? "deno" : "node";
const version = bun?.version ?? deno?.version.deno ?? process.versions.node;

const { quick } = commonArgs(
  process.argv.slice(2),
  ["kernel"],
  "kernel.ts [--quick | --full]",
);
const SAMPLES = quick ? 5 : 15;
const SAMPLE_MS = quick ? 10 : 20;

const IPPROTO_TCP = 6;
const TCP_KEEPIDLE = 4;
const KEEPALIVE = { idle: "30s", interval: "5s", count: 4, userTimeout: "50s" } as const;
const POLICY = {
  heartbeat: { interval: 1000, timeout: 1000 },
  idleTimeout: 10_000,
  resolution: 100,
};

/** An established loopback connection: the accepted side's descriptor, and how to close both. */
interface Pair {
  readonly fd: number;
  readonly backend: SockoptBackend;
  /** Deno only: the accepted conn, for the finder. */
  readonly conn?: DenoConn;
  close(): Promise<void> | void;
}

async function nodePair(): Promise<Pair> {
  const loaded = loadNodeBackend();
  if (!loaded.ok) throw new Error(`no FFI backend: ${loaded.reason}`);
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = netConnect((server.address() as { port: number }).port, "127.0.0.1");
  const socket = await accepted;
  const fd = nodeSocketFd(socket);
  if (fd === undefined) throw new Error("the accepted socket has no descriptor");
  return {
    fd,
    backend: loaded.backend,
    close: () => {
      client.destroy();
      socket.destroy();
      server.close();
    },
  };
}

async function denoPair(runtime: DenoKernel): Promise<Pair> {
  const loaded = loadDenoBackend();
  if (!loaded.ok) throw new Error(`no FFI backend: ${loaded.reason}`);
  const listener = runtime.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, conn] = await Promise.all([
    runtime.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  const fd = findDenoFd(loaded.backend, conn);
  if (fd === undefined) throw new Error("no descriptor matches the accepted conn");
  return {
    fd,
    backend: loaded.backend,
    conn,
    close: () => {
      client.close();
      conn.close();
      listener.close();
    },
  };
}

async function bunPair(runtime: BunKernel): Promise<Pair> {
  const loaded = loadBunBackend();
  if (!loaded.ok) throw new Error(`no FFI backend: ${loaded.reason}`);
  let accept: (socket: BunKernelSocket) => void = () => {};
  const accepted = new Promise<BunKernelSocket>((resolve) => accept = resolve);
  const server = runtime.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { open: (socket) => accept(socket), data: () => {} },
  });
  const client = await runtime.connect({
    hostname: "127.0.0.1",
    port: server.port,
    socket: { data: () => {} },
  });
  const socket = await accepted;
  const fd = bunSocketFd(socket);
  if (fd === undefined) throw new Error("the accepted socket has no descriptor");
  return {
    fd,
    backend: loaded.backend,
    close: () => {
      client.end();
      socket.end();
      server.stop(true);
    },
  };
}

let sink = 0;

/** µs per call of `fn`, in SAMPLES samples of about SAMPLE_MS each, after two warm-up samples. */
function perCall(fn: () => unknown): number[] {
  let batch = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) fn();
    if (performance.now() - t0 >= SAMPLE_MS / 4) break;
    batch *= 2;
  }
  batch *= 4;
  const out: number[] = [];
  for (let s = 0; s < SAMPLES + 2; s++) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) fn();
    const elapsed = performance.now() - t0;
    if (s >= 2) out.push((elapsed * 1000) / batch);
  }
  return out;
}

const record = new Recorder(runtime, version);
const started = performance.now();
const pair = runtime === "deno"
  ? await denoPair(deno!)
  : runtime === "bun"
  ? await bunPair(bun!)
  : await nodePair();
const { fd, backend } = pair;
const unit = "µs/call";

record.record(1, "kernel.tcpInfo", unit, perCall(() => backend.tcpInfo(fd)));
const bytes = backend.tcpInfo(fd)!.slice();
const info = decodeTcpInfo(bytes);
if (info.state !== "ESTABLISHED") throw new Error(`tcp_info says ${info.state}`);
record.record(1, "kernel.decodeTcpInfo", unit, perCall(() => decodeTcpInfo(bytes)));
record.record(
  1,
  "kernel.tcpInfo+decode",
  unit,
  perCall(() => (sink += decodeTcpInfo(backend.tcpInfo(fd)!).rttUs)),
);
record.record(
  1,
  "kernel.getsockopt",
  unit,
  perCall(() => (sink += backend.getInt(fd, IPPROTO_TCP, TCP_KEEPIDLE))),
);
record.record(
  1,
  "kernel.setsockopt",
  unit,
  perCall(() => backend.setInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, 30)),
);
record.record(
  1,
  "kernel.getpeername",
  unit,
  perCall(() => (sink += backend.remoteAddress(fd)!.port)),
);
record.record(1, "kernel.dup+close", unit, perCall(() => backend.withDuplicate(fd, () => 0)));
const settings = resolveKeepalive(KEEPALIVE);
const sockopt = { backend, fd };
tuneKeepalive(settings, { sockopt }, POLICY); // the socket now holds every value asked for
record.record(
  1,
  "kernel.retune",
  unit,
  perCall(() => tuneKeepalive(settings, { sockopt }, POLICY)),
);
// The adapters' proof: both endpoints of the duplicate are the socket's own.
const local = backend.localAddress(fd)!;
const remote = backend.remoteAddress(fd)!;
const prove = (held: number): string | undefined =>
  backend.localAddress(held)?.port === local.port &&
    backend.remoteAddress(held)?.port === remote.port
    ? undefined
    : "another socket";
const proven = { backend, fd, prove };
record.record(
  1,
  "kernel.retune.proven",
  unit,
  perCall(() => tuneKeepalive(settings, { sockopt: proven }, POLICY)),
);
record.record(
  1,
  "kernel.detectionBound",
  unit,
  perCall(() => detectionBound({ ...POLICY, keepalive: KEEPALIVE })),
);
if (pair.conn !== undefined) {
  const conn = pair.conn;
  record.record(1, "kernel.denoFind", unit, perCall(() => (sink += findDenoFd(backend, conn)!)));
}
await pair.close();

process.stderr.write(`\n${record.table()}\n`);
process.stderr.write(
  `[kernel ${runtime} ${version}] done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
);
if (sink === -1) process.stderr.write("\n");
// Bun and Deno keep the process alive for a moment after the sockets close.
process.exit(0);
