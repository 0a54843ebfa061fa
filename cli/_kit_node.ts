/**
 * The Node kit: `node:net` through `socket-liveness/node`, `TCP_INFO` through koffi.
 *
 * @module
 */

import { createServer, type Socket } from "node:net";
import { LivenessMonitor } from "../mod.ts";
import { connect, connectionId, tuningReport, watchServer } from "../adapters/node.ts";
import { loadNodeBackend, nodeSocketFd } from "../adapters/_ffi_node.ts";
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

function newMonitor(policy: Policy, events: Events, options: KitOptions): LivenessMonitor<Socket> {
  const ping = options.ping ?? new Uint8Array();
  return new LivenessMonitor<Socket>(monitorOptions(policy, events, (socket) => {
    if (!socket.destroyed) socket.write(ping);
  }));
}

/** Reads the socket (the adapter sees what arrives; the events get it too). */
function watched(monitor: LivenessMonitor<Socket>, socket: Socket, events: Events): Watched {
  const id = connectionId(socket)!;
  const split = lineSplitter(events.line);
  socket.on("data", (chunk: Uint8Array) => {
    events.data?.(chunk.length);
    split(chunk);
  });
  return {
    id,
    report: tuningReport(socket)!,
    local: endpoint(socket.localAddress, socket.localPort),
    remote: endpoint(socket.remoteAddress, socket.remotePort),
    state: () => monitor.state(id),
    info: () => monitor.info(id),
    kernel: () => readKernel(monitor.state(id), loadNodeBackend(), () => nodeSocketFd(socket)),
    acked: () => monitor.acked(id),
    write: (bytes) => void socket.write(bytes),
    close: () => void socket.destroy(),
    dispose: () => monitor.close(),
  };
}

/** The Node kit. */
export const kit: Kit = {
  runtime: "node",
  adapter: specifier("node"),
  connect(host, port, policy, events, options): Promise<Watched> {
    const monitor = newMonitor(policy, events, options);
    return new Promise((resolve, reject) => {
      let connected = false;
      const socket = connect(monitor, { host, port, ffi: options.ffi }, () => {
        connected = true;
        resolve(watched(monitor, socket, events));
      });
      // The reason of a death reaches the monitor through the adapter; this keeps Node from
      // throwing, and reports a failed connect.
      socket.on("error", (error) => {
        if (connected) return;
        monitor.close();
        reject(error);
      });
    });
  },
  async serve(policy, events, options): Promise<Listening> {
    const monitor = newMonitor(policy, events, options);
    const server = createServer();
    watchServer(monitor, server, { ffi: options.ffi });
    const stop = (): void => {
      if (server.listening) server.close();
    };
    const accepted = new Promise<Watched>((resolve) => {
      server.once("connection", (socket: Socket) => {
        socket.on("error", () => {});
        stop();
        resolve(watched(monitor, socket, events));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return { port: (server.address() as { port: number }).port, accepted, close: stop };
  },
};
