// The Node WebSocket benchmark server (see _ws_server.ts): node:http with a `ws` WebSocketServer,
// every WebSocket echoing; when tracked, watched by watchWebSocketServer (protocol pings; the HTTP
// server's listener tuned once, at the first WebSocket), as the README shows (noffi: `ffi: false`:
// each TCP socket tuned through Node's own setKeepAlive). Plain is `ws` with its defaults.
//
//   node scripts/bench/_ws_server_node.ts '{"mode":"tracked"}'
import { createServer } from "node:http";
import process from "node:process";
import { type WebSocket, WebSocketServer } from "ws";
import {
  pingWebSocket,
  tuneServer,
  tuningReport,
  watchWebSocketServer,
} from "../../adapters/node.ts";
import { closed, opened, readWsConfig, serve, trackedWsMonitor } from "./_ws_server.ts";

const config = readWsConfig();
const monitor = config.mode !== "plain" ? trackedWsMonitor<WebSocket>(pingWebSocket) : undefined;
const tracking = monitor !== undefined && config.mode !== "tuned";
let tunedApplied = false;

const server = createServer((_request, response) => void response.writeHead(400).end());
const wss = new WebSocketServer({ server });
if (tracking) watchWebSocketServer(monitor, wss, { ffi: config.mode === "tracked" });
wss.on("connection", (ws) => {
  opened(tunedApplied || tracking && tuningReport(ws)?.userTimeout.status === "applied");
  ws.on("error", () => {}); // a reset peer; a tracked server's monitor has the reason
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on("close", closed);
});

server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => {
  const { port } = server.address() as { port: number };
  if (monitor !== undefined && !tracking) {
    tunedApplied = tuneServer(monitor, server).userTimeout.status === "applied";
  }
  serve(port, "node", process.versions.node, () => {
    wss.close();
    server.close();
    monitor?.close();
  });
});
