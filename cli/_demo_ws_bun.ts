/**
 * The Bun edge kit of `demo --websocket`: `Bun.serve` with its `websocket` handler wrapped by
 * `watchWebSocket` (protocol pings) and its listener tuned by `tuneServer`; beside it `Bun.serve`
 * with Bun's own `idleTimeout` (8 s: Bun's shortest, 1–7 round up to it) and `sendPings`.
 *
 * @module
 */

import { LivenessMonitor } from "../mod.ts";
import {
  type BunWebSocket,
  pingWebSocket,
  tuneServer,
  watchWebSocket,
  type WebSocketHandler,
} from "../adapters/bun.ts";
import {
  type EdgeEvents,
  type EdgeKit,
  edgeMonitorOptions,
  type EdgeServer,
  tagOf,
} from "./_demo_ws_kit.ts";

/** Bun's idle timeout of the own server, in seconds: its shortest. */
const OWN_IDLE_TIMEOUT = 8;

type Ws = BunWebSocket<{ tag: string }>;

/** The part of `Bun.serve` the kit uses (no Bun type package is imported). */
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch(
      request: Request,
      server: { upgrade(request: Request, options: { data: { tag: string } }): boolean },
    ): Response | undefined;
    websocket: WebSocketHandler<Ws>;
  }): { readonly port: number; stop(closeActiveConnections?: boolean): void };
}

function bun(): BunServe {
  const global = (globalThis as unknown as { Bun?: BunServe }).Bun;
  if (global === undefined) throw new Error("The Bun edge kit runs only on Bun");
  return global;
}

function serve(websocket: WebSocketHandler<Ws>) {
  return bun().serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request, server) =>
      server.upgrade(request, { data: { tag: tagOf(request.url) } })
        ? undefined
        : new Response("WebSocket only", { status: 400 }),
    websocket,
  });
}

function opened(events: EdgeEvents) {
  return (ws: Ws): void => events.opened(ws.data.tag, (text) => void ws.send(text));
}

/** The Bun edge kit. */
export const edge: EdgeKit = {
  serverLabel: "Bun.serve + watchWebSocket + tuneServer",
  tunes: "the listener",
  ownLabel: `Bun's idleTimeout ${OWN_IDLE_TIMEOUT} s + sendPings`,
  watched(policy, events): Promise<EdgeServer> {
    const monitor = new LivenessMonitor<Ws>(
      edgeMonitorOptions<Ws>(policy, (ws) => ws.data.tag, pingWebSocket, events),
    );
    const server = serve(watchWebSocket(monitor, { open: opened(events) }));
    const report = tuneServer(monitor, server);
    return Promise.resolve({
      port: server.port,
      bound: monitor.bound(),
      report: () => report,
      close() {
        server.stop(true);
        monitor.close();
      },
    });
  },
  own(events): Promise<EdgeServer> {
    const server = serve({
      idleTimeout: OWN_IDLE_TIMEOUT,
      sendPings: true,
      open: opened(events),
      close: (ws, code) => events.closed(ws.data.tag, code),
    });
    return Promise.resolve({
      port: server.port,
      bound: undefined,
      report: () => undefined,
      close: () => server.stop(true),
    });
  },
};
