// The Deno benchmark server (protocol in _server.ts): Deno.listen, or the adapter's listen() when
// tracked (reads and writes through the WatchedConn; with FFI the descriptor is found and tuned on
// accept); its listener tuned through tuneServer when tuned.
//
//   deno run -A scripts/bench/_server_deno.ts '{"mode":"tracked","kind":"echo"}'
import { listen, tuneServer, type WatchedConn } from "../../adapters/deno.ts";
import { loadDenoBackend } from "../../adapters/_ffi_deno.ts";
import { countCalls, ONE, readConfig, serve, stats, trackedMonitor } from "./_server.ts";

/** What both Deno.TcpConn and WatchedConn offer. */
interface Conn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  setNoDelay(noDelay?: boolean): void;
}
interface Listener extends AsyncIterable<Conn> {
  readonly addr: { readonly port: number };
  close(): void;
}
interface DenoServe {
  readonly version: { readonly deno: string };
  listen(options: { hostname: string; port: number; tcpBacklog?: number }): Listener;
}
const deno = (globalThis as unknown as { Deno: DenoServe }).Deno;

const config = readConfig();
if (config.count === true) countCalls(loadDenoBackend());
const monitor = config.mode === "plain" || config.mode === "tuned"
  ? undefined
  : trackedMonitor<WatchedConn>();
const tuner = config.mode === "tuned" ? trackedMonitor<WatchedConn>() : undefined;
const where = { hostname: "127.0.0.1", port: 0, tcpBacklog: 4096 };
const listener: Listener = monitor === undefined
  ? deno.listen(where)
  : listen(monitor, { ...where, ffi: config.mode === "tracked" });
const tunedApplied = tuner !== undefined &&
  tuneServer(tuner, listener as unknown as Parameters<typeof tuneServer>[1]).userTimeout.status ===
    "applied";

function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed (a tracked conn the monitor closed).
  }
}

async function writeAll(conn: Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
}

async function handle(conn: Conn): Promise<void> {
  try {
    if (config.kind === "accept") {
      await writeAll(conn, ONE);
      return;
    }
    const buffer = new Uint8Array(16_384);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      await writeAll(conn, buffer.subarray(0, n));
    }
  } catch {
    // A reset peer; a tracked server's monitor has the reason.
  } finally {
    closeQuietly(conn);
    stats.open--;
  }
}

async function acceptAll(): Promise<void> {
  try {
    for await (const conn of listener) {
      stats.accepted++;
      stats.open++;
      conn.setNoDelay(true);
      if (
        tunedApplied || (conn as Partial<WatchedConn>).report?.userTimeout.status === "applied"
      ) stats.applied++;
      void handle(conn);
    }
  } catch {
    // The listener was closed.
  }
}

void acceptAll();
serve(listener.addr.port, "deno", deno.version.deno, () => {
  closeQuietly(listener);
  monitor?.close();
  tuner?.close();
});
