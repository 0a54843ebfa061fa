/**
 * A `node:net` server's listening socket, as the Node adapter's TCP and WebSocket paths find and
 * tune it (`./node.ts`, `./_node_ws.ts`).
 *
 * @module
 */

import { Server, type Socket } from "node:net";
import type { ListenerWhere } from "../src/_kit.ts";
import { nodeSocketFd } from "./_ffi_node.ts";

/**
 * The object a server's listening socket is known by: its handle, new on every `listen()`.
 *
 * @param server The server.
 * @returns Its handle, or the server while it has none.
 */
export function listenerOf(server: Server): object {
  const handle = (server as unknown as { _handle?: unknown })._handle;
  return typeof handle === "object" && handle !== null ? handle : server;
}

/**
 * Where a server listens, as `tuneListener` wants it.
 *
 * @param server The server.
 * @returns Its descriptor and address, or why there is none to tune.
 */
export function whereOf(server: Server): ListenerWhere {
  const address = server.address();
  if (address === null) return { address: "the server is not listening" };
  if (typeof address === "string") {
    return { address: "a pipe or Unix socket listener, where TCP keepalive does not apply" };
  }
  return { fd: nodeSocketFd(server), address: { address: address.address, port: address.port } };
}

/**
 * The server an accepted socket came from, when its connections inherit from its listener: not
 * when the server sets keepalive on each itself (`createServer({ keepAlive: true })`).
 *
 * @param socket The accepted socket.
 * @returns Its server, or `undefined`.
 */
export function inheritingServer(socket: Socket): Server | undefined {
  const server = (socket as unknown as { server?: unknown }).server;
  if (!(server instanceof Server)) return undefined;
  return (server as unknown as { keepAlive?: unknown }).keepAlive === true ? undefined : server;
}
