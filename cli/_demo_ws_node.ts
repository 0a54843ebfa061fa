/**
 * The Node edge kit of `demo --websocket`: `node:http` with a `ws` `WebSocketServer`, watched by
 * `watchWebSocketServer` (protocol pings; each TCP socket tuned through its upgrade request);
 * beside it the same server with the `ws` README's recipe: an `isAlive` flag per WebSocket, swept
 * every second (a WebSocket that did not answer the previous sweep's ping is terminated).
 *
 * The `ws` package is loaded where the CLI is installed (it is not a dependency of
 * socket-liveness): without it the kit says so.
 *
 * @module
 */

import { createServer, type IncomingMessage, type Server } from "node:http";
import { createRequire } from "node:module";
import { LivenessMonitor } from "../mod.ts";
import {
  type NodeWebSocket,
  type NodeWebSocketServer,
  pingWebSocket,
  tuningReport,
  watchWebSocketServer,
} from "../adapters/node.ts";
import type { TuningReport } from "../mod.ts";
import {
  type EdgeEvents,
  type EdgeKit,
  edgeMonitorOptions,
  type EdgeServer,
  tagOf,
} from "./_demo_ws_kit.ts";

/** How often the own server's sweep runs, in ms. */
const SWEEP_MS = 1000;

/** The part of a `ws` WebSocket the kit uses. */
interface Ws extends NodeWebSocket {
  send(data: string): void;
  ping(): void;
}

/** The part of a `ws` WebSocketServer the kit uses. */
interface Wss extends NodeWebSocketServer {
  readonly clients: Set<Ws>;
  close(): void;
}

/** The `ws` package, or why it cannot be loaded. */
function loadWs(): { ok: true; Server: new (options: { server: Server }) => Wss } | {
  ok: false;
  reason: string;
} {
  try {
    const ws = createRequire(import.meta.url)("ws") as {
      WebSocketServer: new (options: { server: Server }) => Wss;
    };
    return { ok: true, Server: ws.WebSocketServer };
  } catch (error) {
    const missing = (error as { code?: string }).code === "MODULE_NOT_FOUND";
    return {
      ok: false,
      reason: missing
        ? "node:http + ws needs the ws package where socket-liveness is installed (npm install ws)"
        : `the ws package failed to load: ${(error as Error).message}`,
    };
  }
}

const loaded = loadWs();

async function serve(
  events: EdgeEvents,
  onConnection: (ws: Ws, tag: string) => void,
  watch?: (wss: Wss) => void,
): Promise<{ server: Server; wss: Wss; port: number }> {
  if (!loaded.ok) throw new Error(loaded.reason);
  const server = createServer((_request, response) => void response.writeHead(400).end());
  const wss = new loaded.Server({ server });
  watch?.(wss);
  wss.on("connection", (ws: Ws, request: IncomingMessage) => {
    const tag = tagOf(request.url ?? "/");
    ws.on("error", () => {}); // the monitor, or the close, tells the end
    events.opened(tag, (text) => {
      if (ws.readyState === 1) ws.send(text);
    });
    onConnection(ws, tag);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, wss, port: (server.address() as { port: number }).port };
}

/** The Node edge kit. */
export const edge: EdgeKit = {
  serverLabel: "node:http + ws + watchWebSocketServer",
  tunes: "each connection",
  ownLabel: `the ws isAlive sweep every ${SWEEP_MS / 1000} s`,
  unavailable: loaded.ok ? undefined : loaded.reason,
  async watched(policy, events): Promise<EdgeServer> {
    const tags = new WeakMap<Ws, string>();
    const monitor = new LivenessMonitor<Ws>(
      edgeMonitorOptions<Ws>(policy, (ws) => tags.get(ws) ?? "?", pingWebSocket, events),
    );
    let first: TuningReport | undefined;
    const { server, wss, port } = await serve(
      events,
      (ws, tag) => {
        tags.set(ws, tag);
        first ??= tuningReport(ws);
      },
      (wss) => watchWebSocketServer(monitor, wss),
    );
    return {
      port,
      bound: monitor.bound(),
      report: () => first,
      close() {
        wss.close();
        server.close();
        monitor.close();
      },
    };
  },
  async own(events): Promise<EdgeServer> {
    const alive = new WeakMap<Ws, boolean>();
    const { server, wss, port } = await serve(events, (ws, tag) => {
      alive.set(ws, true);
      ws.on("pong", () => alive.set(ws, true));
      ws.on("close", (code: number) => events.closed(tag, code));
    });
    // The recipe of the ws README: terminate what did not answer the previous sweep's ping.
    const sweep = setInterval(() => {
      for (const ws of wss.clients) {
        if (alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        alive.set(ws, false);
        ws.ping();
      }
    }, SWEEP_MS);
    return {
      port,
      bound: undefined,
      report: () => undefined,
      close() {
        clearInterval(sweep);
        wss.close();
        server.close();
      },
    };
  },
};
