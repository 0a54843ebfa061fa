/**
 * The Deno kit: `Deno.connect`/`Deno.listen` through `socket-liveness/deno`, `TCP_INFO` through
 * `Deno.dlopen` on the descriptor the adapter's finder proves (needs `--allow-ffi`).
 *
 * @module
 */

import { LivenessMonitor } from "../mod.ts";
import { connect, listen, type WatchedConn } from "../adapters/deno.ts";
import { loadDenoBackend } from "../adapters/_ffi_deno.ts";
import { findDenoFd } from "../adapters/_deno_fd.ts";
import { specifier } from "./_package.ts";
import {
  endpoint,
  type Events,
  type Kit,
  type KitOptions,
  lineSplitter,
  type Listening,
  monitorOptions,
  type Policy,
  readKernel,
  type Watched,
} from "./_kit.ts";

function newMonitor(
  policy: Policy,
  events: Events,
  options: KitOptions,
): LivenessMonitor<WatchedConn> {
  const ping = options.ping ?? new Uint8Array();
  return new LivenessMonitor<WatchedConn>(monitorOptions(policy, events, (conn) => {
    conn.write(ping).catch(() => {}); // a failed write reaches the monitor through the adapter
  }));
}

/** Reads until the peer's FIN or an error; the adapter reports both to the monitor. */
async function readAll(conn: WatchedConn, events: Events): Promise<void> {
  const buffer = new Uint8Array(65_536);
  const split = lineSplitter(events.line);
  try {
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      events.data?.(n);
      split(buffer.subarray(0, n));
    }
  } catch {
    // The monitor has the error and its reason.
  }
}

function watched(
  monitor: LivenessMonitor<WatchedConn>,
  conn: WatchedConn,
  events: Events,
): Watched {
  void readAll(conn, events);
  const id = conn.id;
  return {
    id,
    report: conn.report,
    local: endpoint(conn.localAddr.hostname, conn.localAddr.port),
    remote: endpoint(conn.remoteAddr.hostname, conn.remoteAddr.port),
    state: () => monitor.state(id),
    info: () => monitor.info(id),
    kernel: () => {
      const loaded = loadDenoBackend();
      return readKernel(
        monitor.state(id),
        loaded,
        () => loaded.ok ? findDenoFd(loaded.backend, conn.conn) : undefined,
      );
    },
    acked: () => monitor.acked(id),
    write: (bytes) => void conn.write(bytes).catch(() => {}),
    close: () => {
      try {
        conn.close();
      } catch {
        // Already closed by the adapter (declared dead).
      }
    },
    dispose: () => monitor.close(),
  };
}

/** The Deno kit. */
export const kit: Kit = {
  runtime: "deno",
  adapter: specifier("deno"),
  async connect(host, port, policy, events, options): Promise<Watched> {
    const monitor = newMonitor(policy, events, options);
    let conn: WatchedConn;
    try {
      conn = await connect(monitor, { hostname: host, port, ffi: options.ffi });
    } catch (error) {
      monitor.close();
      throw error;
    }
    return watched(monitor, conn, events);
  },
  serve(policy, events, options): Promise<Listening> {
    const monitor = newMonitor(policy, events, options);
    const listener = listen(monitor, { hostname: "127.0.0.1", port: 0, ffi: options.ffi });
    const stop = (): void => {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    };
    const accepted = listener.accept().then((conn) => {
      stop();
      return watched(monitor, conn, events);
    });
    return Promise.resolve({ port: listener.addr.port, accepted, close: stop });
  },
};
