/**
 * What `demo --websocket` needs from a runtime's edge server, one small kit per runtime
 * (`_demo_ws_bun.ts`: `Bun.serve`, `_demo_ws_deno.ts`: `Deno.serve`, `_demo_ws_node.ts`:
 * `node:http` + `ws`): a server watched through the adapter, and the same server left to the
 * runtime's own idle timer. Only the running runtime's kit is loaded, with a dynamic import.
 *
 * @module
 */

import type {
  ConnectionState,
  DetectionBound,
  KeepaliveOptions,
  MonitorOptions,
  TransitionReason,
  TuningReport,
} from "../mod.ts";
import type { RuntimeName } from "./_runtime.ts";

/** What a watched server's monitor applies, in milliseconds. */
export interface EdgePolicy {
  readonly keepalive: KeepaliveOptions;
  readonly heartbeat?: { readonly interval: number; readonly timeout: number };
  readonly resolution: number;
}

/** A state change of a watched WebSocket. */
export interface EdgeChange {
  readonly from: ConnectionState;
  readonly to: ConnectionState;
  readonly reason: TransitionReason;
  /** What ended it, for a death with an error. */
  readonly error?: string;
}

/** What a server tells about its WebSockets, each known by its tag (the path of its URL). */
export interface EdgeEvents {
  /** A WebSocket opened; `push` sends it a text message (a no-op once it is closed). */
  opened(tag: string, push: (text: string) => void): void;
  /** The monitor moved a watched WebSocket (watched servers only). */
  transition(tag: string, change: EdgeChange): void;
  /** The heartbeat pinged a watched WebSocket (watched servers only). */
  ping(tag: string): void;
  /** The runtime closed a WebSocket, with this close code (the runtime's own servers only). */
  closed(tag: string, code: number): void;
}

/** A server of the demo, listening on 127.0.0.1. */
export interface EdgeServer {
  readonly port: number;
  /** The monitor's detection bounds (watched servers only). */
  readonly bound: DetectionBound | undefined;
  /** What tuning achieved: the listener's report, or on Node the first connection's. */
  report(): TuningReport | undefined;
  close(): void;
}

/** A runtime's edge servers. */
export interface EdgeKit {
  /** The watched server, for people: `Bun.serve + watchWebSocket + tuneServer`. */
  readonly serverLabel: string;
  /** The runtime's own mechanism, for people: `Bun's idleTimeout 8 s + sendPings`. */
  readonly ownLabel: string;
  /** Where keepalive is set: once on the listener, or on each connection's socket. */
  readonly tunes: "the listener" | "each connection";
  /** Why this runtime's server cannot run here, if it cannot (`ws` not installed). */
  readonly unavailable?: string;
  /** Serves WebSockets watched by a monitor with this policy, the listener tuned by it. */
  watched(policy: EdgePolicy, events: EdgeEvents): Promise<EdgeServer>;
  /** Serves WebSockets left to the runtime's own idle timer. */
  own(events: EdgeEvents): Promise<EdgeServer>;
}

/**
 * The tag a client put in its URL's path: `/hung` is `hung`.
 *
 * @param url The request's URL (absolute, or a path).
 * @returns The tag.
 */
export function tagOf(url: string): string {
  return new URL(url, "http://localhost").pathname.slice(1);
}

/**
 * Monitor options for a policy, with the events wired.
 *
 * @param policy The policy.
 * @param tag The tag of a WebSocket.
 * @param send Sends the heartbeat's ping.
 * @param events Where transitions and pings go.
 * @returns The options.
 */
export function edgeMonitorOptions<W>(
  policy: EdgePolicy,
  tag: (ws: W) => string,
  send: (ws: W) => void,
  events: EdgeEvents,
): MonitorOptions<W> {
  return {
    keepalive: policy.keepalive,
    resolution: policy.resolution,
    heartbeat: policy.heartbeat === undefined ? undefined : {
      interval: policy.heartbeat.interval,
      timeout: policy.heartbeat.timeout,
      send: (ws) => {
        events.ping(tag(ws));
        send(ws);
      },
    },
    onTransition: (t) =>
      events.transition(tag(t.context), {
        from: t.from,
        to: t.to,
        reason: t.reason,
        ...(t.error === undefined ? {} : { error: (t.error as Error)?.message ?? String(t.error) }),
      }),
    onWarning: () => {}, // the tuning report is shown; a warning would break the table
  };
}

/**
 * Loads the edge kit of a runtime (only the running one works).
 *
 * @param name The runtime.
 * @returns Its kit.
 */
export async function loadEdgeKit(name: RuntimeName): Promise<EdgeKit> {
  switch (name) {
    case "node":
      return (await import("./_demo_ws_node.ts")).edge;
    case "deno":
      return (await import("./_demo_ws_deno.ts")).edge;
    case "bun":
      return (await import("./_demo_ws_bun.ts")).edge;
  }
}
