// The edge-server scenario suites (stream_test.ts, websocket_test.ts): a server fixture and a client
// fixture started in a private network namespace (tests/_netns.ts) and read line by line, and how a
// death the server reports is checked against its bound.
import assert from "node:assert/strict";
import {
  DETECTION_TOLERANCE_MS,
  type JsonLine,
  type Netns,
  type NetnsChild,
  scriptCommand,
  withinBound,
} from "./_netns.ts";

export { after } from "./_netns.ts";

/**
 * How late past its bound a death may be seen: the cut tests' allowance (DETECTION_TOLERANCE_MS,
 * 300 ms: kernel timer slop, two event loops, a pipe), and 100 ms more for the runtime's HTTP or
 * WebSocket layer between the kernel's error and the adapter (and, in the WebSocket suite, a second
 * server, the runtime's own mechanism, running beside the watched one in the same namespace).
 */
export const TOLERANCE_MS: number = DETECTION_TOLERANCE_MS + 100;

/** A server fixture: its lines, its `ready` line, and its ports. */
export interface Server {
  child: NetnsChild;
  ready: JsonLine;
  ports: number[];
}

/** Starts the server fixture `script` in `ns` with `config` and waits for `ready`. */
export async function startServer(
  ns: Netns,
  script: URL,
  config: Record<string, unknown>,
): Promise<Server> {
  const { cmd, args } = scriptCommand(script, [JSON.stringify(config)]);
  const child = ns.spawn(cmd, args);
  const ready = await child.next((l) => l.event === "ready" || l.event === "error", 20_000);
  assert.equal(ready.event, "ready", String(ready.message));
  return { child, ready, ports: ready.ports as number[] };
}

/** Starts the client fixture `script` in `ns` with its `groups` and waits until all are open. */
export async function startClients(
  ns: Netns,
  script: URL,
  groups: { port: number; tag: string; count: number }[],
  readyMs: number,
): Promise<NetnsChild> {
  const { cmd, args } = scriptCommand(script, [JSON.stringify({ groups })]);
  const child = ns.spawn(cmd, args);
  const ready = await child.next((l) => l.event === "ready" || l.event === "error", readyMs);
  assert.equal(ready.event, "ready", String(ready.message));
  return child;
}

/** Matches the server's line for the end of the connection tagged `tag`. */
export const gone = (tag: string): (line: JsonLine) => boolean => (line: JsonLine): boolean =>
  line.event === "gone" && line.tag === tag;

/** {@linkcode withinBound} with this suite's tolerance. */
export function within(
  what: string,
  detectedMs: number,
  boundMs: number,
  tolerance: number = TOLERANCE_MS,
): void {
  withinBound(what, detectedMs, boundMs, tolerance);
}
