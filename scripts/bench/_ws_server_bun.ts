// The Bun WebSocket benchmark server (see _ws_server.ts): Bun.serve, every WebSocket echoing; when
// tracked, the handler wrapped by watchWebSocket (protocol pings) and the listener tuned by
// tuneServer, as the README shows (noffi: `ffi: false`). Plain keeps Bun's defaults (idleTimeout
// 120 s, sendPings).
//
//   bun scripts/bench/_ws_server_bun.ts '{"mode":"tracked"}'
import {
  type BunWebSocket,
  pingWebSocket,
  tuneServer,
  watchWebSocket,
  type WebSocketHandler,
} from "../../adapters/bun.ts";
import { closed, opened, readWsConfig, serve, trackedWsMonitor } from "./_ws_server.ts";

interface BunServe {
  readonly version: string;
  serve(options: {
    hostname: string;
    port: number;
    fetch(request: Request, server: { upgrade(request: Request): boolean }): Response | undefined;
    websocket: WebSocketHandler<BunWebSocket>;
  }): { readonly port: number; stop(closeActiveConnections?: boolean): void };
}
const bun = (globalThis as unknown as { Bun: BunServe }).Bun;

const config = readWsConfig();
const monitor = config.mode !== "plain" ? trackedWsMonitor<BunWebSocket>(pingWebSocket) : undefined;
let applied = false;

const handler: WebSocketHandler<BunWebSocket> = {
  open() {
    opened(applied);
  },
  message(ws, message) {
    ws.send(message);
  },
  close() {
    closed();
  },
};

const server = bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (request, server) =>
    server.upgrade(request) ? undefined : new Response("upgrade only", { status: 400 }),
  websocket: monitor === undefined || config.mode === "tuned"
    ? handler
    : watchWebSocket(monitor, handler),
});
if (monitor !== undefined) {
  const ffi = config.mode !== "noffi"; // tuned and tracked tune through FFI
  applied = tuneServer(monitor, server, { ffi }).userTimeout.status === "applied";
}
serve(server.port, "bun", bun.version, () => {
  server.stop(true);
  monitor?.close();
});
