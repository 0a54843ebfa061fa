/**
 * What `probe` and `demo` need from a runtime, one small kit per runtime (`_kit_node.ts`,
 * `_kit_deno.ts`, `_kit_bun.ts`), each built on that runtime's adapter and FFI backend. Only the
 * running runtime's kit is loaded, with a dynamic import.
 *
 * @module
 */

import {
  type ConnectionId,
  type ConnectionInfo,
  type ConnectionState,
  decodeTcpInfo,
  type KeepaliveSpec,
  type MonitorOptions,
  type TcpInfo,
  type TransitionReason,
  type TuningReport,
} from "../mod.ts";
import type { BackendResult } from "../src/_sockopt.ts";
import type { RuntimeName } from "./_runtime.ts";

/** The monitor options a kit applies, in milliseconds. */
export interface Policy {
  readonly keepalive: KeepaliveSpec;
  readonly heartbeat?: { readonly interval: number; readonly timeout: number };
  readonly idleTimeout?: number;
  readonly resolution?: number;
}

/** A state change of the watched connection. */
export interface Change {
  readonly from: ConnectionState;
  readonly to: ConnectionState;
  readonly reason: TransitionReason;
  readonly error?: unknown;
}

/** What a kit reports about its connection. */
export interface Events {
  /** Every transition of the monitor. */
  transition(change: Change): void;
  /** The peer ended its side (FIN). */
  end?(): void;
  /** A heartbeat ping was just sent. */
  ping?(): void;
  /** Bytes arrived. */
  data?(length: number): void;
  /** A complete line arrived (without its newline). */
  line?(line: string): void;
}

/** How a kit connects or serves. */
export interface KitOptions {
  /** Whether the adapter may tune through FFI. */
  readonly ffi: boolean;
  /** The heartbeat ping's bytes (needed with a heartbeat). */
  readonly ping?: Uint8Array;
}

/** The kernel's view of a socket, or why there is none. */
export type Kernel = { readonly ok: true; readonly info: TcpInfo } | {
  readonly ok: false;
  readonly reason: string;
};

/** One watched connection and its monitor. */
export interface Watched {
  readonly id: ConnectionId;
  readonly report: TuningReport;
  readonly local: string;
  readonly remote: string;
  /** The monitor's state, `undefined` once forgotten. */
  state(): ConnectionState | undefined;
  /** The monitor's details. */
  info(): ConnectionInfo | undefined;
  /** `TCP_INFO` through the adapter's FFI backend. */
  kernel(): Kernel;
  /** A heartbeat answer arrived. */
  acked(): void;
  /** Writes bytes. */
  write(bytes: Uint8Array): void;
  /** Closes this side; the monitor records `closed` unless the connection is already dead. */
  close(): void;
  /** Stops the monitor. */
  dispose(): void;
}

/** A listener that accepts one connection. */
export interface Listening {
  readonly port: number;
  readonly accepted: Promise<Watched>;
  close(): void;
}

/** A runtime's kit. */
export interface Kit {
  readonly runtime: RuntimeName;
  /** The adapter's entry point, for people. */
  readonly adapter: string;
  /** Connects to `host:port` through the adapter; rejects with the runtime's error. */
  connect(
    host: string,
    port: number,
    policy: Policy,
    events: Events,
    options: KitOptions,
  ): Promise<Watched>;
  /** Listens on 127.0.0.1 (a free port) through the adapter and accepts one connection. */
  serve(policy: Policy, events: Events, options: KitOptions): Promise<Listening>;
}

/**
 * Monitor options for a policy, with the events wired and the heartbeat sending the ping.
 *
 * @param policy The policy.
 * @param events Where transitions go.
 * @param send Writes the ping to a connection.
 * @returns The options.
 */
export function monitorOptions<C>(
  policy: Policy,
  events: Events,
  send: (context: C) => void,
): MonitorOptions<C> {
  return {
    keepalive: policy.keepalive,
    idleTimeout: policy.idleTimeout,
    resolution: policy.resolution,
    heartbeat: policy.heartbeat === undefined ? undefined : {
      interval: policy.heartbeat.interval,
      timeout: policy.heartbeat.timeout,
      send: (context) => {
        events.ping?.();
        send(context);
      },
    },
    onTransition: (t) =>
      events.transition({
        from: t.from,
        to: t.to,
        reason: t.reason,
        ...(t.error === undefined ? {} : { error: t.error }),
      }),
    onEnd: () => events.end?.(),
  };
}

const GONE: Kernel = { ok: false, reason: "the socket is closed" };

/**
 * Reads and decodes `TCP_INFO`, never on a connection the monitor no longer holds open (its
 * descriptor may already belong to another socket).
 *
 * @param state The monitor's state of the connection.
 * @param loaded The adapter's FFI backend, or why there is none.
 * @param fd The connection's descriptor.
 * @returns The kernel's view, or why there is none.
 */
export function readKernel(
  state: ConnectionState | undefined,
  loaded: BackendResult,
  fd: () => number | undefined,
): Kernel {
  if (state === undefined || state === "dead" || state === "closed") return GONE;
  if (!loaded.ok) return { ok: false, reason: loaded.reason };
  const descriptor = fd();
  if (descriptor === undefined) return { ok: false, reason: "no descriptor for this socket" };
  try {
    const bytes = loaded.backend.tcpInfo(descriptor);
    if (bytes === undefined) return { ok: false, reason: "TCP_INFO is read on Linux only" };
    return { ok: true, info: decodeTcpInfo(bytes.slice()) };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

/**
 * Splits chunks into lines (a trailing `\r` dropped).
 *
 * @param onLine Called per complete line; without it chunks are ignored.
 * @returns Takes each chunk.
 */
export function lineSplitter(onLine?: (line: string) => void): (chunk: Uint8Array) => void {
  if (onLine === undefined) return () => {};
  const decoder = new TextDecoder();
  let pending = "";
  return (chunk) => {
    const lines = (pending + decoder.decode(chunk, { stream: true })).split("\n");
    pending = lines.pop()!;
    for (const line of lines) onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
  };
}

/**
 * `host:port`, with brackets around IPv6.
 *
 * @param host The address.
 * @param port The port.
 * @returns The endpoint text.
 */
export function endpoint(host: string | undefined, port: number | undefined): string {
  const h = host ?? "?";
  return `${h.includes(":") ? `[${h}]` : h}:${port ?? "?"}`;
}

/**
 * Loads the kit of a runtime (only the running one works).
 *
 * @param name The runtime.
 * @returns Its kit.
 */
export async function loadKit(name: RuntimeName): Promise<Kit> {
  switch (name) {
    case "node":
      return (await import("./_kit_node.ts")).kit;
    case "deno":
      return (await import("./_kit_deno.ts")).kit;
    case "bun":
      return (await import("./_kit_bun.ts")).kit;
  }
}
