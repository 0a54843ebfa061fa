// What the three WebSocket benchmark servers (_ws_server_bun.ts: Bun.serve, _ws_server_deno.ts:
// Deno.serve + upgradeWebSocket, _ws_server_node.ts: node:http + ws) share. They speak the control
// protocol of _server.ts (ready line, `stats`, `exit`) and count in its `stats`: `accepted` and
// `open` are WebSockets (upgrades completed, not yet closed), `applied` the WebSockets whose
// connection got the user timeout (from the tuned listener, or tuned on its own).
//
// Started as `<runtime> _ws_server_<runtime>.ts '{"mode":"plain"|"tuned"|"tracked"|"noffi"}'`.
// Every WebSocket echoes each message it gets. plain: the runtime's server with its defaults, no
// socket-liveness; tuned: the same, its listener tuned by tuneServer and nothing tracked (what the
// kernel's keepalive and user timeout cost by themselves); tracked: the adapter as the README shows
// it (Bun: watchWebSocket + tuneServer; Deno: upgradeWebSocket + tuneServer; Node:
// watchWebSocketServer) with the monitor below; noffi:
// the same with `ffi: false` (nothing tuned through FFI: what the rest of tracking costs).

import process from "node:process";
import { LivenessMonitor, type MonitorOptions } from "../../mod.ts";
import { checkMode, type Mode, stats } from "./_server.ts";

export { serve, stats } from "./_server.ts";

export interface WsServerConfig {
  readonly mode: Mode;
}

export function readWsConfig(): WsServerConfig {
  const config = JSON.parse(process.argv[2] ?? "{}") as Partial<WsServerConfig>;
  checkMode(config.mode);
  return config as WsServerConfig;
}

/**
 * The monitor of a tracked server: keepalive with a user timeout (set on the listener where the
 * adapter tunes it there), and a 1 s heartbeat through `ping` (a protocol ping on Bun and Node, the
 * text "ping" on Deno), so that each busy connection's deadline comes about once a second and the
 * wheel re-files it. A message answers a ping (`ackOnData`), so a busy connection never owes one;
 * pings sent are counted in `stats.pings`, deaths in `stats.dead`.
 */
export function trackedWsMonitor<W>(ping: (ws: W) => void): LivenessMonitor<W> {
  const options: MonitorOptions<W> = {
    keepalive: { idle: "30s", interval: "5s", count: 4, userTimeout: "50s" },
    heartbeat: {
      interval: "1s",
      timeout: "1s",
      send: (ws) => {
        stats.pings++;
        ping(ws);
      },
    },
    onTransition: (t) => {
      if (t.to === "dead") stats.dead++;
    },
    onWarning: () => {}, // noffi: that keepalive is not tuned is the point
  };
  return new LivenessMonitor<W>(options);
}

/** Counts a WebSocket that opened. */
export function opened(applied: boolean): void {
  stats.accepted++;
  stats.open++;
  if (applied) stats.applied++;
}

/** Counts a WebSocket that closed. */
export function closed(): void {
  stats.open--;
}
