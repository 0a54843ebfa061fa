// The peer fixture of tests/fixtures/PROTOCOL.md, started inside a private network namespace and
// read line by line: what the cut and lifecycle suites share.
import assert from "node:assert/strict";
import process from "node:process";
import { type JsonLine, type Netns, type NetnsChild, scriptCommand } from "./_netns.ts";
import { runtime } from "./_skip.ts";

// The Node 20 leg runs a bundle of the suites against the built package, with its own fixture.
const FIXTURE = process.env.LIVENESS_PEER_FIXTURE ??
  new URL(`./fixtures/${runtime}_peer.ts`, import.meta.url);

/** A running fixture: its lines, its `ready` line, and the port it listens on. */
export interface Peer {
  child: NetnsChild;
  ready: JsonLine;
  port: number;
}

/** Starts this runtime's fixture in `ns` with `config` and waits for `ready`. */
export async function startPeer(ns: Netns, config: Record<string, unknown>): Promise<Peer> {
  const { cmd, args } = scriptCommand(FIXTURE, [JSON.stringify(config)]);
  const child = ns.spawn(cmd, args);
  const ready = await child.next(
    (line) => line.event === "ready" || line.event === "error",
    15_000,
  );
  assert.equal(ready.event, "ready", String(ready.message));
  return { child, ready, port: Number(ready.port) };
}

/** Matches a transition of `side` (to `to`, when given). */
export const transition = (side: string, to?: string) => (line: JsonLine): boolean =>
  line.event === "transition" && line.side === side && (to === undefined || line.to === to);

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
