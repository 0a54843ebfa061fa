// The Node benchmark server (protocol in _server.ts): node:net, watched through watchServer when
// tracked, its listener tuned through tuneServer when tuned.
//
//   node scripts/bench/_server_node.ts '{"mode":"tracked","kind":"echo"}'
import type { Buffer } from "node:buffer";
import { createServer, type Socket } from "node:net";
import process from "node:process";
import type { LivenessMonitor } from "../../mod.ts";
import { tuneServer, tuningReport, watchServer } from "../../adapters/node.ts";
import { loadNodeBackend } from "../../adapters/_ffi_node.ts";
import { countCalls, ONE, readConfig, serve, stats, trackedMonitor } from "./_server.ts";

const config = readConfig();
if (config.count === true) countCalls(loadNodeBackend());
const monitor: LivenessMonitor<Socket> | undefined =
  config.mode === "plain" || config.mode === "tuned" ? undefined : trackedMonitor<Socket>();
const tuner = config.mode === "tuned" ? trackedMonitor<Socket>() : undefined;
let tunedApplied = false;

function onClose(): void {
  stats.open--;
}

function echo(this: Socket, data: Buffer): void {
  this.write(data);
}

const server = createServer({ noDelay: true }, (socket) => {
  stats.accepted++;
  stats.open++;
  socket.on("error", () => {}); // a reset peer; a tracked server's monitor has the reason
  socket.on("close", onClose);
  if (
    tunedApplied || monitor !== undefined && tuningReport(socket)?.userTimeout.status === "applied"
  ) {
    stats.applied++;
  }
  if (config.kind === "accept") socket.end(ONE);
  else socket.on("data", echo);
});
if (monitor !== undefined) watchServer(monitor, server, { ffi: config.mode === "tracked" });

server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => {
  const { port } = server.address() as { port: number };
  if (tuner !== undefined) {
    tunedApplied = tuneServer(tuner, server).userTimeout.status === "applied";
  }
  serve(port, "node", process.versions.node, () => {
    server.close();
    monitor?.close();
    tuner?.close();
  });
});
