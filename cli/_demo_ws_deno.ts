/**
 * The Deno edge kit of `demo --websocket`: `Deno.serve` upgrading through the adapter's
 * `upgradeWebSocket` (Deno has no ping API: the heartbeat is the text `ping`, answered by `pong`)
 * with its listener tuned by `tuneServer`; beside it `Deno.serve` upgrading with Deno's own
 * `idleTimeout` of 1 s.
 *
 * @module
 */

import { LivenessMonitor } from "../mod.ts";
import { tuneServer, upgradeWebSocket } from "../adapters/deno.ts";
import {
  type EdgeEvents,
  type EdgeKit,
  edgeMonitorOptions,
  type EdgeServer,
  tagOf,
} from "./_demo_ws_kit.ts";

/** Deno's idle timeout of the own server, in seconds. */
const OWN_IDLE_TIMEOUT = 1;

/** The part of Deno's API the kit uses. */
interface DenoServe {
  serve(
    options: { hostname: string; port: number; onListen?: () => void },
    handler: (request: Request) => Response,
  ): {
    readonly addr: { readonly transport: string; readonly port: number };
    shutdown(): Promise<void>;
  };
  upgradeWebSocket(
    request: Request,
    options: { idleTimeout: number },
  ): { socket: WebSocket; response: Response };
}

function deno(): DenoServe {
  const global = (globalThis as unknown as { Deno?: DenoServe }).Deno;
  if (global === undefined) throw new Error("The Deno edge kit runs only on Deno");
  return global;
}

function serve(handler: (request: Request, tag: string) => Response) {
  return deno().serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => handler(request, tagOf(request.url)),
  );
}

function opened(events: EdgeEvents, socket: WebSocket, tag: string): void {
  socket.addEventListener("open", () => {
    events.opened(tag, (text) => {
      if (socket.readyState === 1) socket.send(text);
    });
  });
}

/** The Deno edge kit. */
export const edge: EdgeKit = {
  serverLabel: "Deno.serve + upgradeWebSocket + tuneServer",
  tunes: "the listener",
  ownLabel: `Deno's idleTimeout ${OWN_IDLE_TIMEOUT} s`,
  watched(policy, events): Promise<EdgeServer> {
    const tags = new WeakMap<WebSocket, string>();
    const monitor = new LivenessMonitor<WebSocket>(
      edgeMonitorOptions<WebSocket>(
        policy,
        (ws) => tags.get(ws) ?? "?",
        (ws) => ws.send("ping"),
        events,
      ),
    );
    const server = serve((request, tag) => {
      const { socket, response } = upgradeWebSocket(monitor, request, {
        isPong: (message) => message === "pong",
      });
      tags.set(socket, tag);
      opened(events, socket, tag);
      return response;
    });
    const report = tuneServer(monitor, server);
    return Promise.resolve({
      port: server.addr.port,
      bound: monitor.bound(),
      report: () => report,
      close() {
        void server.shutdown().catch(() => {});
        monitor.close();
      },
    });
  },
  own(events): Promise<EdgeServer> {
    const server = serve((request, tag) => {
      const { socket, response } = deno().upgradeWebSocket(request, {
        idleTimeout: OWN_IDLE_TIMEOUT,
      });
      opened(events, socket, tag);
      let told = false;
      socket.addEventListener("close", (event) => {
        if (told) return; // Deno tells one end more than once: the first is its verdict
        told = true;
        events.closed(tag, event.code);
      });
      return response;
    });
    return Promise.resolve({
      port: server.addr.port,
      bound: undefined,
      report: () => undefined,
      close: () => void server.shutdown().catch(() => {}),
    });
  },
};
