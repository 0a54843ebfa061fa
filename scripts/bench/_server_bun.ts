// The Bun benchmark server (protocol in _server.ts): Bun.listen with one handler, wrapped in the
// adapter's watchHandler() when tracked, its listener tuned through tuneServer when tuned.
//
//   bun scripts/bench/_server_bun.ts '{"mode":"tracked","kind":"echo"}'
import {
  type BunSocket,
  type SocketHandler,
  tuneServer,
  tuningReport,
  watchHandler,
} from "../../adapters/bun.ts";
import { loadBunBackend } from "../../adapters/_ffi_bun.ts";
import { countCalls, ONE, readConfig, serve, stats, trackedMonitor } from "./_server.ts";

interface BunServe {
  readonly version: string;
  listen(options: { hostname: string; port: number; socket: SocketHandler<BunSocket> }): {
    readonly port: number;
    stop(closeActive?: boolean): void;
  };
}
const bun = (globalThis as unknown as { Bun: BunServe }).Bun;

const config = readConfig();
if (config.count === true) countCalls(loadBunBackend());
const monitor = config.mode === "plain" || config.mode === "tuned"
  ? undefined
  : trackedMonitor<BunSocket>();
const tuner = config.mode === "tuned" ? trackedMonitor<BunSocket>() : undefined;
let tunedApplied = false;

const handler: SocketHandler<BunSocket> = {
  open(socket) {
    stats.accepted++;
    stats.open++;
    if (
      tunedApplied ||
      monitor !== undefined && tuningReport(socket)?.userTimeout.status === "applied"
    ) {
      stats.applied++;
    }
    if (config.kind === "accept") socket.end(ONE);
  },
  data(socket, data) {
    socket.write(data as Uint8Array);
  },
  close() {
    stats.open--;
  },
  error() {
    // A reset peer; a tracked server's monitor has the reason.
  },
};

const server = bun.listen({
  hostname: "127.0.0.1",
  port: 0,
  socket: monitor === undefined
    ? handler
    : watchHandler(monitor, handler, { ffi: config.mode === "tracked" }),
});
if (tuner !== undefined) tunedApplied = tuneServer(tuner, server).userTimeout.status === "applied";
serve(server.port, "bun", bun.version, () => {
  server.stop(true);
  monitor?.close();
  tuner?.close();
});
