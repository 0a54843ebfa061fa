// The Deno WebSocket benchmark server (see _ws_server.ts): Deno.serve, every WebSocket echoing;
// when tracked, upgraded by the adapter's upgradeWebSocket (an app-level heartbeat: the text
// "ping", answered by "pong") and the listener tuned by tuneServer, as the README shows (noffi:
// `ffi: false`). Plain is Deno.upgradeWebSocket with its defaults (idleTimeout 30 s).
//
//   deno run -A scripts/bench/_ws_server_deno.ts '{"mode":"tracked"}'
import { tuneServer, upgradeWebSocket } from "../../adapters/deno.ts";
import { closed, opened, readWsConfig, serve, trackedWsMonitor } from "./_ws_server.ts";

interface DenoServe {
  readonly version: { readonly deno: string };
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: (request: Request) => Response,
  ): {
    readonly addr: { readonly transport: string; readonly port: number };
    shutdown(): Promise<void>;
  };
  upgradeWebSocket(request: Request): { socket: WebSocket; response: Response };
}
const deno = (globalThis as unknown as { Deno: DenoServe }).Deno;

const config = readWsConfig();
const monitor = config.mode !== "plain"
  ? trackedWsMonitor<WebSocket>((ws) => ws.send("ping"))
  : undefined;
let applied = false;

function handle(request: Request): Response {
  const { socket, response } = monitor === undefined || config.mode === "tuned"
    ? deno.upgradeWebSocket(request)
    : upgradeWebSocket(monitor, request, { isPong: (message) => message === "pong" });
  socket.binaryType = "arraybuffer";
  let open = false;
  socket.onopen = () => {
    open = true;
    opened(applied);
  };
  socket.onmessage = (event) => socket.send(event.data);
  socket.onclose = () => {
    // Deno may tell one end more than once.
    if (open) closed();
    open = false;
  };
  return response;
}

const server = deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
if (monitor !== undefined) {
  const ffi = config.mode !== "noffi"; // tuned and tracked tune through FFI
  applied = tuneServer(monitor, server, { ffi }).userTimeout.status === "applied";
}
serve(server.addr.port, "deno", deno.version.deno, () => {
  void server.shutdown();
  monitor?.close();
});
