/**
 * How a connection ended, in the kernel's words: read from `TCP_INFO` while the runtime still holds
 * the descriptor, for the two cases where the runtime's own report misleads.
 *
 * - **A lost error.** A write that meets the kernel's verdict first takes its error (`send` clears
 *   `SO_ERROR` as it returns it); a runtime that then reads the end of the stream reports an end
 *   and an orderly close (Bun does). The socket's TCP state says otherwise: `CLOSE` with
 *   retransmissions or probes unanswered, or a closed window, is a time-out.
 * - **A stall.** Linux applies `TCP_USER_TIMEOUT` to zero-window probes too: a peer that is alive
 *   but reads nothing is timed out like a vanished one. The difference is in the view: its window
 *   (`tcpi_snd_wnd`) is 0 and it answered the probes (`tcpi_probes` 0, an ACK within the user
 *   timeout), while no data was retransmitted (`tcpi_retransmits` 0).
 *
 * Runtime-neutral; the offsets are those of {@linkcode TCP_INFO_FIELDS}.
 *
 * @module
 */

import { STALLED_ERROR_NAME } from "./errors.ts";
import type { SockoptBackend } from "./_sockopt.ts";
import { TCP_INFO_FIELDS } from "./tcp_info.ts";

/** The fields of `struct tcp_info` a verdict reads. */
export interface EndView {
  /** `tcpi_state` as its number (7 is `TCP_CLOSE`). */
  readonly state: number;
  /** `tcpi_retransmits`: retransmission time-outs in a row. */
  readonly retransmits: number;
  /** `tcpi_probes`: keepalive or zero-window probes unanswered. */
  readonly probes: number;
  /** `tcpi_snd_wnd`: the peer's window, or `undefined` where the kernel does not report it. */
  readonly sndWnd: number | undefined;
  /** `tcpi_last_ack_recv`: milliseconds since the peer's last ACK. */
  readonly lastAckRecvMs: number;
}

/** What the kernel's view says of a connection's end. */
export interface KernelEnd {
  /** The kernel timed the connection out (`ETIMEDOUT`), whatever the runtime reported. */
  readonly timedOut: boolean;
  /** The peer was alive but its window stayed closed: a stall, not a vanished peer. */
  readonly stalled: boolean;
}

/**
 * The last look at a live connection's window, kept for a runtime that reports a time-out only
 * after closing the descriptor (Bun): when it was taken, whether the peer's window was closed, and
 * when the peer's last ACK came (`performance.now()` milliseconds).
 */
export interface WindowLook {
  /** When the look was taken. */
  at: number;
  /** Whether the peer's window was 0. */
  closed: boolean;
  /** When the peer's last ACK came. */
  lastAckAt: number;
}

const TCP_CLOSE = 7;
const offsetOf = (name: string): number => TCP_INFO_FIELDS.find((f) => f.name === name)!.offset;
const STATE = offsetOf("tcpi_state");
const RETRANSMITS = offsetOf("tcpi_retransmits");
const PROBES = offsetOf("tcpi_probes");
const LAST_ACK_RECV = offsetOf("tcpi_last_ack_recv");
const SND_WND = offsetOf("tcpi_snd_wnd");
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The fields a verdict reads, from raw `TCP_INFO` bytes (no decoding of the rest, no allocation
 * beyond the result).
 *
 * @param bytes What `getsockopt(TCP_INFO)` wrote.
 * @returns The view, or `undefined` when the bytes are too short to hold its first fields.
 */
export function endViewOf(bytes: Uint8Array): EndView | undefined {
  if (bytes.length < LAST_ACK_RECV + 4) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    state: bytes[STATE],
    retransmits: bytes[RETRANSMITS],
    probes: bytes[PROBES],
    sndWnd: bytes.length >= SND_WND + 4 ? view.getUint32(SND_WND, LITTLE_ENDIAN) : undefined,
    lastAckRecvMs: view.getUint32(LAST_ACK_RECV, LITTLE_ENDIAN),
  };
}

/**
 * Reads a socket's view, or `undefined` when it cannot be read (the descriptor is closed, the
 * platform has no `TCP_INFO`).
 *
 * @param backend The socket-option backend.
 * @param fd The socket's descriptor, still held by the runtime.
 * @returns The view.
 */
export function readEndView(backend: SockoptBackend, fd: number): EndView | undefined {
  try {
    const bytes = backend.tcpInfo(fd);
    return bytes === undefined ? undefined : endViewOf(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Whether a view shows a stall: the peer's window closed, no data retransmitted, its probes
 * answered within the user timeout.
 *
 * @param view The view.
 * @param userTimeoutMs The user timeout set on the socket (0: none, and no stall is timed out).
 * @returns Whether the peer is alive and not reading.
 */
export function windowStalled(view: EndView, userTimeoutMs: number): boolean {
  return userTimeoutMs > 0 && view.sndWnd === 0 && view.retransmits === 0 && view.probes === 0 &&
    view.lastAckRecvMs < userTimeoutMs;
}

/**
 * The verdict of a socket's view at its end.
 *
 * @param view The view, read before the runtime closed the descriptor.
 * @param userTimeoutMs The user timeout set on the socket (0: none).
 * @returns The verdict, or `undefined` when the connection is still open or its end shows no
 * time-out (an orderly close cannot be told from a reset here: the runtime's report stands).
 */
export function kernelEnd(view: EndView, userTimeoutMs: number): KernelEnd | undefined {
  if (view.state !== TCP_CLOSE) return undefined;
  const stalled = windowStalled(view, userTimeoutMs);
  if (!stalled && view.retransmits === 0 && view.probes === 0) return undefined;
  return { timedOut: true, stalled };
}

/**
 * A look at a live connection's window, to keep.
 *
 * @param view The view.
 * @param now `performance.now()`.
 * @returns The look.
 */
export function windowLook(view: EndView, now: number): WindowLook {
  return { at: now, closed: view.sndWnd === 0, lastAckAt: now - view.lastAckRecvMs };
}

/**
 * A look at a live connection's window from raw `TCP_INFO` bytes, written into `into` when given
 * (a look per connection, updated in place: no allocation per sample).
 *
 * @param bytes What `getsockopt(TCP_INFO)` wrote.
 * @param now `performance.now()`.
 * @param into The connection's previous look, to update.
 * @returns The look, or `undefined` when the kernel does not report the peer's window.
 */
export function windowLookOf(
  bytes: Uint8Array,
  now: number,
  into?: WindowLook,
): WindowLook | undefined {
  if (bytes.length < SND_WND + 4) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const look = into ?? { at: 0, closed: false, lastAckAt: 0 };
  look.at = now;
  look.closed = view.getUint32(SND_WND, LITTLE_ENDIAN) === 0;
  look.lastAckAt = now - view.getUint32(LAST_ACK_RECV, LITTLE_ENDIAN);
  return look;
}

/**
 * Whether the last look before a time-out shows a stall: taken at most `maxAgeMs` before it, the
 * window closed, and the peer's last ACK within the user timeout of the time-out.
 *
 * @param look The last look.
 * @param now When the time-out was reported.
 * @param userTimeoutMs The user timeout (0: none).
 * @param maxAgeMs How old the look may be.
 * @returns Whether the time-out was a stall.
 */
export function lookStalled(
  look: WindowLook | undefined,
  now: number,
  userTimeoutMs: number,
  maxAgeMs: number,
): boolean {
  return look !== undefined && userTimeoutMs > 0 && look.closed && now - look.at <= maxAgeMs &&
    now - look.lastAckAt < userTimeoutMs;
}

/**
 * The error a death is reported with, given what the kernel said: the runtime's own, or (a stall)
 * an error named {@linkcode STALLED_ERROR_NAME} whose `cause` is the runtime's.
 *
 * @param error What the runtime reported.
 * @param stalled Whether the kernel's view showed a stall.
 * @param userTimeoutMs The user timeout, for the message.
 * @returns The error to hand to `monitor.failed()`.
 */
export function deathError(error: unknown, stalled: boolean, userTimeoutMs: number): unknown {
  if (!stalled) return error;
  const stall = new Error(
    `The peer stopped reading: its receive window stayed closed past the user timeout (${userTimeoutMs} ms) while data waited to be sent, and it answered the kernel's probes`,
    { cause: error },
  );
  stall.name = STALLED_ERROR_NAME;
  return stall;
}

/**
 * The error for a time-out the runtime lost (a write took it): what the runtime would have said.
 *
 * @returns An `ETIMEDOUT` error.
 */
export function lostTimeout(): Error {
  return Object.assign(
    new Error(
      "read ETIMEDOUT: the kernel timed the connection out (TCP_INFO), though the runtime reported an end",
    ),
    { code: "ETIMEDOUT", errno: -110, syscall: "read" },
  );
}
