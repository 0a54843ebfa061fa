/**
 * Maps what Node, Deno and Bun report when a connection fails to one {@linkcode DeathReason}.
 *
 * @module
 */

/** Why a connection was declared dead. */
export type DeathReason =
  /** The kernel's keepalive probes went unanswered (`ETIMEDOUT` on an idle connection). */
  | "keepalive-timeout"
  /** Sent data stayed unacknowledged past `TCP_USER_TIMEOUT` (or the kernel's retransmissions). */
  | "user-timeout"
  /**
   * The peer is alive but stopped reading: its receive window stayed closed past `TCP_USER_TIMEOUT`
   * while data waited to be sent (Linux applies the user timeout to zero-window probes too). Told
   * apart from `user-timeout` by the kernel's view (`TCP_INFO`: the peer's window was 0 and it
   * still answered the probes); the death's error is a {@linkcode STALLED_ERROR_NAME} error whose
   * `cause` is the runtime's.
   */
  | "stalled"
  /** An application ping went unacknowledged past the heartbeat timeout. */
  | "heartbeat-timeout"
  /** No traffic either way for the idle timeout. */
  | "idle-timeout"
  /** The peer reset the connection (`ECONNRESET`, `ECONNABORTED`). */
  | "reset"
  /** Writing to a connection the peer had closed (`EPIPE`). */
  | "broken-pipe"
  /** The peer's host or network became unreachable (`EHOSTUNREACH`, `ENETUNREACH`, ...). */
  | "unreachable"
  /** The peer refused the connection (`ECONNREFUSED`). */
  | "refused"
  /** The connection was not established within the monitor's `connectTimeout`. */
  | "connect-timeout"
  /** Any other error; the original error is kept beside the reason. */
  | "error";

// Keyed by every reason, so that the compiler flags one left out; the order is the metrics' order.
const REASON_KEYS: Record<DeathReason, true> = {
  "keepalive-timeout": true,
  "user-timeout": true,
  "stalled": true,
  "heartbeat-timeout": true,
  "idle-timeout": true,
  "reset": true,
  "broken-pipe": true,
  "unreachable": true,
  "refused": true,
  "connect-timeout": true,
  "error": true,
};

/** Every {@linkcode DeathReason}, in one fixed order (the monitor's stats and the metrics use it). */
export const DEATH_REASONS: readonly DeathReason[] = Object.freeze(
  Object.keys(REASON_KEYS) as DeathReason[],
);

const BY_CODE: Record<string, DeathReason> = {
  ETIMEDOUT: "keepalive-timeout",
  ECONNRESET: "reset",
  ECONNABORTED: "reset",
  EPIPE: "broken-pipe",
  EHOSTUNREACH: "unreachable",
  ENETUNREACH: "unreachable",
  EHOSTDOWN: "unreachable",
  ENETDOWN: "unreachable",
  ENETRESET: "reset",
  ECONNREFUSED: "refused",
};

/**
 * The `name` of the error an adapter reports for a `"stalled"` death: it wraps the runtime's
 * time-out error (its `cause`) once the kernel's view showed the peer's window closed.
 */
export const STALLED_ERROR_NAME = "StalledError";

// Deno's error classes (`Deno.errors.*`) are told apart by `name`; so is the adapters' stall.
const BY_NAME: Record<string, DeathReason> = {
  [STALLED_ERROR_NAME]: "stalled",
  TimedOut: "keepalive-timeout",
  ConnectionReset: "reset",
  ConnectionAborted: "reset",
  BrokenPipe: "broken-pipe",
  NetworkUnreachable: "unreachable",
  HostUnreachable: "unreachable",
  ConnectionRefused: "refused",
};

// Linux errno values, for runtimes that report a number (`errno`) without a code.
const BY_ERRNO: Record<number, string> = {
  32: "EPIPE",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  102: "ENETRESET",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  112: "EHOSTDOWN",
  113: "EHOSTUNREACH",
};

/** What the classifier knows about the connection besides the error. */
export interface ClassifyContext {
  /** Whether `TCP_USER_TIMEOUT` is set on the connection. */
  userTimeout?: boolean;
  /** Whether data had been sent since the peer last sent anything (so it may be unacknowledged). */
  dataInFlight?: boolean;
}

/**
 * Classifies an error from any runtime: Node's `err.code` (`"ETIMEDOUT"`, `"ECONNRESET"`, ...),
 * Deno's error classes (`Deno.errors.TimedOut`, `ConnectionReset`, `BrokenPipe`, ...), Bun's
 * `close(socket, err)` errors with `err.code`, a bare `errno`, and errors wrapped in `cause`.
 *
 * A timeout is `"user-timeout"` when `TCP_USER_TIMEOUT` is set and data was in flight (the
 * retransmission path), otherwise `"keepalive-timeout"`; an error named
 * {@linkcode STALLED_ERROR_NAME} (an adapter's, once the kernel showed the peer's window closed) is
 * `"stalled"`. Anything else is `"error"`.
 *
 * @param error What the runtime reported.
 * @param context What is known about the connection.
 * @returns The reason of death.
 *
 * @example Classify a Node error
 * ```ts
 * import { classifyError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
 * assert.equal(classifyError(error), "reset");
 * ```
 */
export function classifyError(error: unknown, context?: ClassifyContext): DeathReason {
  const reason = classify(error, 0);
  if (reason === "keepalive-timeout" && context?.userTimeout && context.dataInFlight) {
    return "user-timeout";
  }
  return reason;
}

function classify(error: unknown, depth: number): DeathReason {
  if (error === null || typeof error !== "object" || depth > 4) return "error";
  const { code, name, errno, cause } = error as {
    code?: unknown;
    name?: unknown;
    errno?: unknown;
    cause?: unknown;
  };
  if (typeof code === "string" && Object.hasOwn(BY_CODE, code)) return BY_CODE[code];
  if (typeof name === "string" && Object.hasOwn(BY_NAME, name)) return BY_NAME[name];
  if (typeof errno === "number") {
    const known = BY_ERRNO[Math.abs(errno)];
    if (known !== undefined) return BY_CODE[known];
  }
  return cause === undefined ? "error" : classify(cause, depth + 1);
}
