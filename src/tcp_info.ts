/**
 * Decodes Linux's `struct tcp_info` (`getsockopt(fd, IPPROTO_TCP, TCP_INFO)`) from its raw bytes.
 *
 * The layout is data ({@linkcode TCP_INFO_FIELDS}), transcribed from `include/uapi/linux/tcp.h`.
 * The kernel copies `min(optlen, sizeof(struct tcp_info))` bytes, so an older kernel returns a
 * shorter struct: every field it did not fill decodes as `undefined`.
 *
 * @module
 */

import { describe } from "./_validate.ts";

/** A socket's TCP state (`tcpi_state`), named as in `include/net/tcp_states.h` without `TCP_`. */
export type TcpState =
  | "ESTABLISHED"
  | "SYN_SENT"
  | "SYN_RECV"
  | "FIN_WAIT1"
  | "FIN_WAIT2"
  | "TIME_WAIT"
  | "CLOSE"
  | "CLOSE_WAIT"
  | "LAST_ACK"
  | "LISTEN"
  | "CLOSING"
  | "NEW_SYN_RECV"
  | "BOUND_INACTIVE";

/** The sender's congestion state (`tcpi_ca_state`), named as in `enum tcp_ca_state`. */
export type TcpCaState = "Open" | "Disorder" | "CWR" | "Recovery" | "Loss";

/** The `tcpi_options` bits: what the connection negotiated. */
export interface TcpInfoOptions {
  /** `TCPI_OPT_TIMESTAMPS`: TCP timestamps are in use. */
  readonly timestamps: boolean;
  /** `TCPI_OPT_SACK`: selective acknowledgements are in use. */
  readonly sack: boolean;
  /** `TCPI_OPT_WSCALE`: window scaling is in use. */
  readonly windowScaling: boolean;
  /** `TCPI_OPT_ECN`: ECN was negotiated at the handshake. */
  readonly ecn: boolean;
  /** `TCPI_OPT_ECN_SEEN`: at least one packet arrived with ECT set. */
  readonly ecnSeen: boolean;
  /** `TCPI_OPT_SYN_DATA`: data sent or received in the SYN was acknowledged. */
  readonly synData: boolean;
  /** `TCPI_OPT_USEC_TS`: timestamps count microseconds. */
  readonly usecTimestamps: boolean;
  /** `TCPI_OPT_ECN_LOW`: low-latency ECN was configured at the handshake. */
  readonly ecnLow: boolean;
}

/**
 * A decoded `struct tcp_info`. Times carry their unit in the name (`Us`, `Ms`) except `ato`, which
 * is in microseconds too. Fields a kernel did not fill (its struct was shorter) are `undefined`.
 * 64-bit counters become numbers, exact up to 2^53.
 */
export interface TcpInfo {
  /** `tcpi_state`; `"UNKNOWN"` for a number this table does not know. */
  readonly state: TcpState | "UNKNOWN";
  /** `tcpi_ca_state`; `"UNKNOWN"` for a number this table does not know. */
  readonly caState: TcpCaState | "UNKNOWN";
  /** `tcpi_retransmits`: retransmission timeouts in a row for the oldest unacknowledged segment. */
  readonly retransmits: number;
  /** `tcpi_probes`: keepalive or zero-window probes sent and not answered. */
  readonly probes: number;
  /** `tcpi_backoff`: exponential backoff of the retransmission timer. */
  readonly backoff: number;
  /** `tcpi_options`: what the connection negotiated. */
  readonly options: TcpInfoOptions;
  /** `tcpi_snd_wscale`: the peer's window scale shift. */
  readonly sndWscale: number;
  /** `tcpi_rcv_wscale`: this side's window scale shift. */
  readonly rcvWscale: number;
  /** `tcpi_delivery_rate_app_limited` (Linux 4.9+; `false` before). */
  readonly deliveryRateAppLimited: boolean;
  /**
   * `tcpi_fastopen_client_fail` (Linux 5.5+): 0 unspecified, 1 no cookie, 2 data not acked,
   * 3 SYN retransmitted.
   */
  readonly fastopenClientFail: number;
  /** `tcpi_rto`: the retransmission timeout, in microseconds. */
  readonly rtoUs: number;
  /** `tcpi_ato`: the delayed-ACK timeout, in microseconds. */
  readonly ato: number;
  /** `tcpi_snd_mss`: the send maximum segment size, in bytes. */
  readonly sndMss: number;
  /** `tcpi_rcv_mss`: the receive maximum segment size as estimated, in bytes. */
  readonly rcvMss: number;
  /** `tcpi_unacked`: segments sent and not yet acknowledged. */
  readonly unacked: number;
  /** `tcpi_sacked`: segments selectively acknowledged (or, listening, the accept backlog). */
  readonly sacked: number;
  /** `tcpi_lost`: segments deemed lost. */
  readonly lost: number;
  /** `tcpi_retrans`: segments retransmitted and not yet acknowledged. */
  readonly retrans: number;
  /** `tcpi_fackets`: unused since Linux 4.15 (always 0). */
  readonly fackets: number;
  /** `tcpi_last_data_sent`: milliseconds since data was last sent. */
  readonly lastDataSentMs: number;
  /** `tcpi_last_ack_sent`: never filled by Linux (always 0). */
  readonly lastAckSentMs: number;
  /** `tcpi_last_data_recv`: milliseconds since data was last received. */
  readonly lastDataRecvMs: number;
  /** `tcpi_last_ack_recv`: milliseconds since an ACK was last received. */
  readonly lastAckRecvMs: number;
  /** `tcpi_pmtu`: the path MTU, in bytes. */
  readonly pmtu: number;
  /** `tcpi_rcv_ssthresh`: the receive window clamp, in bytes. */
  readonly rcvSsthresh: number;
  /** `tcpi_rtt`: the smoothed round-trip time, in microseconds. */
  readonly rttUs: number;
  /** `tcpi_rttvar`: the round-trip time's mean deviation, in microseconds. */
  readonly rttVarUs: number;
  /** `tcpi_snd_ssthresh`: the slow-start threshold, in segments. */
  readonly sndSsthresh: number;
  /** `tcpi_snd_cwnd`: the congestion window, in segments. */
  readonly sndCwnd: number;
  /** `tcpi_advmss`: the advertised maximum segment size, in bytes. */
  readonly advmss: number;
  /** `tcpi_reordering`: the reordering degree, in segments. */
  readonly reordering: number;
  /** `tcpi_rcv_rtt`: the receiver's round-trip time estimate, in microseconds. */
  readonly rcvRttUs: number;
  /** `tcpi_rcv_space`: the receive buffer space estimate, in bytes. */
  readonly rcvSpace: number;
  /** `tcpi_total_retrans`: segments retransmitted over the connection's life. */
  readonly totalRetrans: number;
  /** `tcpi_pacing_rate`, bytes per second; `Infinity` when unlimited. */
  readonly pacingRate: number | undefined;
  /** `tcpi_max_pacing_rate`, bytes per second; `Infinity` when unlimited. */
  readonly maxPacingRate: number | undefined;
  /** `tcpi_bytes_acked`: bytes sent and acknowledged. */
  readonly bytesAcked: number | undefined;
  /** `tcpi_bytes_received`: bytes received in order. */
  readonly bytesReceived: number | undefined;
  /** `tcpi_segs_out`: segments sent, retransmissions included. */
  readonly segsOut: number | undefined;
  /** `tcpi_segs_in`: segments received. */
  readonly segsIn: number | undefined;
  /** `tcpi_notsent_bytes`: bytes queued and not yet sent. */
  readonly notsentBytes: number | undefined;
  /** `tcpi_min_rtt`: the minimum round-trip time seen, in microseconds. */
  readonly minRttUs: number | undefined;
  /** `tcpi_data_segs_in`: segments received that carried data. */
  readonly dataSegsIn: number | undefined;
  /** `tcpi_data_segs_out`: segments sent that carried data. */
  readonly dataSegsOut: number | undefined;
  /** `tcpi_delivery_rate`: the latest delivery rate sample, bytes per second. */
  readonly deliveryRate: number | undefined;
  /** `tcpi_busy_time`: time spent with data in flight, in microseconds. */
  readonly busyTimeUs: number | undefined;
  /** `tcpi_rwnd_limited`: time limited by the peer's receive window, in microseconds. */
  readonly rwndLimitedUs: number | undefined;
  /** `tcpi_sndbuf_limited`: time limited by the send buffer, in microseconds. */
  readonly sndbufLimitedUs: number | undefined;
  /** `tcpi_delivered`: segments delivered, out-of-order ones included. */
  readonly delivered: number | undefined;
  /** `tcpi_delivered_ce`: delivered segments that carried a CE mark. */
  readonly deliveredCe: number | undefined;
  /** `tcpi_bytes_sent`: data bytes sent, retransmissions included. */
  readonly bytesSent: number | undefined;
  /** `tcpi_bytes_retrans`: data bytes retransmitted. */
  readonly bytesRetrans: number | undefined;
  /** `tcpi_dsack_dups`: duplicate-SACK blocks received. */
  readonly dsackDups: number | undefined;
  /** `tcpi_reord_seen`: reordering events seen. */
  readonly reordSeen: number | undefined;
  /** `tcpi_rcv_ooopack`: out-of-order packets received. */
  readonly rcvOooPack: number | undefined;
  /** `tcpi_snd_wnd`: the peer's advertised receive window after scaling, in bytes. */
  readonly sndWnd: number | undefined;
  /** `tcpi_rcv_wnd`: this side's advertised receive window after scaling, in bytes. */
  readonly rcvWnd: number | undefined;
  /** `tcpi_rehash`: path rehash attempts (PLB or timeout). */
  readonly rehash: number | undefined;
  /** `tcpi_total_rto`: retransmission timeouts, SYN and recurring ones included. */
  readonly totalRto: number | undefined;
  /** `tcpi_total_rto_recoveries`: recoveries from retransmission timeouts. */
  readonly totalRtoRecoveries: number | undefined;
  /** `tcpi_total_rto_time`: time spent recovering from timeouts, in milliseconds. */
  readonly totalRtoTimeMs: number | undefined;
  /** `tcpi_received_ce`: CE marks received (Accurate ECN). */
  readonly receivedCe: number | undefined;
  /** `tcpi_delivered_e1_bytes`: bytes delivered with ECT(1) (Accurate ECN). */
  readonly deliveredE1Bytes: number | undefined;
  /** `tcpi_delivered_e0_bytes`: bytes delivered with ECT(0) (Accurate ECN). */
  readonly deliveredE0Bytes: number | undefined;
  /** `tcpi_delivered_ce_bytes`: bytes delivered with CE (Accurate ECN). */
  readonly deliveredCeBytes: number | undefined;
  /** `tcpi_received_e1_bytes`: bytes received with ECT(1) (Accurate ECN). */
  readonly receivedE1Bytes: number | undefined;
  /** `tcpi_received_e0_bytes`: bytes received with ECT(0) (Accurate ECN). */
  readonly receivedE0Bytes: number | undefined;
  /** `tcpi_received_ce_bytes`: bytes received with CE (Accurate ECN). */
  readonly receivedCeBytes: number | undefined;
}

/** The C type of a field; bitfields live in a `u8` storage unit. */
export type TcpInfoFieldType = "u8" | "u16" | "u32" | "u64";

/** How a raw field value becomes its {@linkcode TcpInfo} property. */
export type TcpInfoFieldDecoding = "number" | "state" | "caState" | "options" | "boolean" | "rate";

/** One field of `struct tcp_info`. */
export interface TcpInfoField {
  /** The C name. */
  readonly name: string;
  /** The {@linkcode TcpInfo} property it decodes to. */
  readonly key: keyof TcpInfo;
  /** Byte offset of the field (of its storage unit, for a bitfield). */
  readonly offset: number;
  /** The C type (of the storage unit, for a bitfield). */
  readonly type: TcpInfoFieldType;
  /**
   * For a bitfield: its first bit in declaration order and its width. The compiler allocates
   * bitfields from the least significant bit on little-endian ABIs, from the most on big-endian.
   */
  readonly bits?: { readonly first: number; readonly width: number };
  /** How the raw value becomes the property (default `"number"`). */
  readonly decoding?: TcpInfoFieldDecoding;
}

const field = (
  name: string,
  key: keyof TcpInfo,
  offset: number,
  type: TcpInfoFieldType,
  extra?: Pick<TcpInfoField, "bits" | "decoding">,
): TcpInfoField =>
  Object.freeze({
    name,
    key,
    offset,
    type,
    ...extra,
    ...(extra?.bits && { bits: Object.freeze({ ...extra.bits }) }),
  });

/**
 * The layout of `struct tcp_info` in `include/uapi/linux/tcp.h`, in order. The first 104 bytes are
 * the original struct that every Linux fills; later fields came with later kernels (248 bytes by
 * Linux 6.7, 276 with the Accurate ECN counters of 6.18).
 *
 * The struct's last `__u32` (the Accurate ECN mode and option bits, bytes 276–279) is left out:
 * its layout changed between kernel releases.
 *
 * @example Find a field's offset
 * ```ts
 * import { TCP_INFO_FIELDS } from "./tcp_info.ts";
 * import assert from "node:assert/strict";
 *
 * const rtt = TCP_INFO_FIELDS.find((f) => f.name === "tcpi_rtt");
 * assert.deepEqual([rtt?.offset, rtt?.type], [68, "u32"]);
 * ```
 */
export const TCP_INFO_FIELDS: readonly TcpInfoField[] = Object.freeze([
  field("tcpi_state", "state", 0, "u8", { decoding: "state" }),
  field("tcpi_ca_state", "caState", 1, "u8", { decoding: "caState" }),
  field("tcpi_retransmits", "retransmits", 2, "u8"),
  field("tcpi_probes", "probes", 3, "u8"),
  field("tcpi_backoff", "backoff", 4, "u8"),
  field("tcpi_options", "options", 5, "u8", { decoding: "options" }),
  field("tcpi_snd_wscale", "sndWscale", 6, "u8", { bits: { first: 0, width: 4 } }),
  field("tcpi_rcv_wscale", "rcvWscale", 6, "u8", { bits: { first: 4, width: 4 } }),
  field("tcpi_delivery_rate_app_limited", "deliveryRateAppLimited", 7, "u8", {
    bits: { first: 0, width: 1 },
    decoding: "boolean",
  }),
  field("tcpi_fastopen_client_fail", "fastopenClientFail", 7, "u8", {
    bits: { first: 1, width: 2 },
  }),
  field("tcpi_rto", "rtoUs", 8, "u32"),
  field("tcpi_ato", "ato", 12, "u32"),
  field("tcpi_snd_mss", "sndMss", 16, "u32"),
  field("tcpi_rcv_mss", "rcvMss", 20, "u32"),
  field("tcpi_unacked", "unacked", 24, "u32"),
  field("tcpi_sacked", "sacked", 28, "u32"),
  field("tcpi_lost", "lost", 32, "u32"),
  field("tcpi_retrans", "retrans", 36, "u32"),
  field("tcpi_fackets", "fackets", 40, "u32"),
  field("tcpi_last_data_sent", "lastDataSentMs", 44, "u32"),
  field("tcpi_last_ack_sent", "lastAckSentMs", 48, "u32"),
  field("tcpi_last_data_recv", "lastDataRecvMs", 52, "u32"),
  field("tcpi_last_ack_recv", "lastAckRecvMs", 56, "u32"),
  field("tcpi_pmtu", "pmtu", 60, "u32"),
  field("tcpi_rcv_ssthresh", "rcvSsthresh", 64, "u32"),
  field("tcpi_rtt", "rttUs", 68, "u32"),
  field("tcpi_rttvar", "rttVarUs", 72, "u32"),
  field("tcpi_snd_ssthresh", "sndSsthresh", 76, "u32"),
  field("tcpi_snd_cwnd", "sndCwnd", 80, "u32"),
  field("tcpi_advmss", "advmss", 84, "u32"),
  field("tcpi_reordering", "reordering", 88, "u32"),
  field("tcpi_rcv_rtt", "rcvRttUs", 92, "u32"),
  field("tcpi_rcv_space", "rcvSpace", 96, "u32"),
  field("tcpi_total_retrans", "totalRetrans", 100, "u32"),
  field("tcpi_pacing_rate", "pacingRate", 104, "u64", { decoding: "rate" }),
  field("tcpi_max_pacing_rate", "maxPacingRate", 112, "u64", { decoding: "rate" }),
  field("tcpi_bytes_acked", "bytesAcked", 120, "u64"),
  field("tcpi_bytes_received", "bytesReceived", 128, "u64"),
  field("tcpi_segs_out", "segsOut", 136, "u32"),
  field("tcpi_segs_in", "segsIn", 140, "u32"),
  field("tcpi_notsent_bytes", "notsentBytes", 144, "u32"),
  field("tcpi_min_rtt", "minRttUs", 148, "u32"),
  field("tcpi_data_segs_in", "dataSegsIn", 152, "u32"),
  field("tcpi_data_segs_out", "dataSegsOut", 156, "u32"),
  field("tcpi_delivery_rate", "deliveryRate", 160, "u64"),
  field("tcpi_busy_time", "busyTimeUs", 168, "u64"),
  field("tcpi_rwnd_limited", "rwndLimitedUs", 176, "u64"),
  field("tcpi_sndbuf_limited", "sndbufLimitedUs", 184, "u64"),
  field("tcpi_delivered", "delivered", 192, "u32"),
  field("tcpi_delivered_ce", "deliveredCe", 196, "u32"),
  field("tcpi_bytes_sent", "bytesSent", 200, "u64"),
  field("tcpi_bytes_retrans", "bytesRetrans", 208, "u64"),
  field("tcpi_dsack_dups", "dsackDups", 216, "u32"),
  field("tcpi_reord_seen", "reordSeen", 220, "u32"),
  field("tcpi_rcv_ooopack", "rcvOooPack", 224, "u32"),
  field("tcpi_snd_wnd", "sndWnd", 228, "u32"),
  field("tcpi_rcv_wnd", "rcvWnd", 232, "u32"),
  field("tcpi_rehash", "rehash", 236, "u32"),
  field("tcpi_total_rto", "totalRto", 240, "u16"),
  field("tcpi_total_rto_recoveries", "totalRtoRecoveries", 242, "u16"),
  field("tcpi_total_rto_time", "totalRtoTimeMs", 244, "u32"),
  field("tcpi_received_ce", "receivedCe", 248, "u32"),
  field("tcpi_delivered_e1_bytes", "deliveredE1Bytes", 252, "u32"),
  field("tcpi_delivered_e0_bytes", "deliveredE0Bytes", 256, "u32"),
  field("tcpi_delivered_ce_bytes", "deliveredCeBytes", 260, "u32"),
  field("tcpi_received_e1_bytes", "receivedE1Bytes", 264, "u32"),
  field("tcpi_received_e0_bytes", "receivedE0Bytes", 268, "u32"),
  field("tcpi_received_ce_bytes", "receivedCeBytes", 272, "u32"),
]);

/** The size of the original `struct tcp_info`, the least any Linux returns. */
export const TCP_INFO_MIN_LENGTH = 104;

const SIZES: Readonly<Record<TcpInfoFieldType, number>> = { u8: 1, u16: 2, u32: 4, u64: 8 };

// Indexed by the kernel's numbers; 0 is unused.
const STATES: readonly (TcpState | undefined)[] = [
  undefined,
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT1",
  "FIN_WAIT2",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "CLOSING",
  "NEW_SYN_RECV",
  "BOUND_INACTIVE",
];
const CA_STATES: readonly TcpCaState[] = ["Open", "Disorder", "CWR", "Recovery", "Loss"];

// The kernel reports an unlimited pacing rate as ~0ULL.
const UNLIMITED = 0xffff_ffff_ffff_ffffn;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Options of {@linkcode decodeTcpInfo}. */
export interface DecodeTcpInfoOptions {
  /** The byte order the kernel wrote in (default: this host's, as `getsockopt` returns it). */
  littleEndian?: boolean;
}

/**
 * Decodes the bytes `getsockopt(TCP_INFO)` returned on Linux. Fields beyond the buffer's length
 * (an older kernel's shorter struct) are `undefined`; bytes beyond the known layout are ignored.
 *
 * @param bytes The struct, at least the original 104 bytes.
 * @param options The byte order, when the bytes did not come from this host.
 * @returns The decoded fields.
 * @throws {TypeError} When `bytes` is not a `Uint8Array` or `options` is malformed.
 * @throws {RangeError} When `bytes` is shorter than 104 bytes.
 *
 * @example Decode a (mostly zero) struct from an old kernel
 * ```ts
 * import { decodeTcpInfo } from "./tcp_info.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new Uint8Array(104);
 * bytes[0] = 1; // TCP_ESTABLISHED
 * bytes[3] = 2; // two keepalive probes unanswered
 * const info = decodeTcpInfo(bytes);
 * assert.equal(info.state, "ESTABLISHED");
 * assert.equal(info.probes, 2);
 * assert.equal(info.bytesAcked, undefined); // Linux 4.1 and later fill it
 * ```
 */
export function decodeTcpInfo(bytes: Uint8Array, options?: DecodeTcpInfoOptions): TcpInfo {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Argument "bytes" must be a Uint8Array, got ${describe(bytes)}`);
  }
  if (bytes.length < TCP_INFO_MIN_LENGTH) {
    throw new RangeError(
      `Argument "bytes" must hold at least ${TCP_INFO_MIN_LENGTH} bytes of struct tcp_info, got ${bytes.length}`,
    );
  }
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw new TypeError(`Argument "options" must be an object, got ${describe(options)}`);
  }
  const littleEndian = options?.littleEndian ?? HOST_LITTLE_ENDIAN;
  if (typeof littleEndian !== "boolean") {
    throw new TypeError(`Option "littleEndian" must be a boolean, got ${describe(littleEndian)}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const info: Record<string, unknown> = {};
  for (const f of TCP_INFO_FIELDS) {
    info[f.key] = f.offset + SIZES[f.type] <= bytes.length
      ? decodeField(view, f, littleEndian)
      : undefined;
  }
  return info as unknown as TcpInfo;
}

function decodeField(view: DataView, f: TcpInfoField, littleEndian: boolean): unknown {
  if (f.type === "u64") {
    const raw = view.getBigUint64(f.offset, littleEndian);
    return f.decoding === "rate" && raw === UNLIMITED ? Infinity : Number(raw);
  }
  let raw = f.type === "u8"
    ? view.getUint8(f.offset)
    : f.type === "u16"
    ? view.getUint16(f.offset, littleEndian)
    : view.getUint32(f.offset, littleEndian);
  if (f.bits !== undefined) {
    const { first, width } = f.bits;
    const shift = littleEndian ? first : SIZES[f.type] * 8 - first - width;
    raw = (raw >>> shift) & ((1 << width) - 1);
  }
  switch (f.decoding) {
    case "state":
      return STATES[raw] ?? "UNKNOWN";
    case "caState":
      return CA_STATES[raw] ?? "UNKNOWN";
    case "boolean":
      return raw !== 0;
    case "options":
      return {
        timestamps: (raw & 1) !== 0,
        sack: (raw & 2) !== 0,
        windowScaling: (raw & 4) !== 0,
        ecn: (raw & 8) !== 0,
        ecnSeen: (raw & 16) !== 0,
        synData: (raw & 32) !== 0,
        usecTimestamps: (raw & 64) !== 0,
        ecnLow: (raw & 128) !== 0,
      } satisfies TcpInfoOptions;
    default:
      return raw;
  }
}

/**
 * Whether {@linkcode decodeTcpInfo} understands what `TCP_INFO` returns on a platform: Linux (and
 * Android, a Linux kernel) only. macOS's `TCP_CONNECTION_INFO` and Windows' `SIO_TCP_INFO` have
 * other layouts.
 *
 * @param platform A platform name as `process.platform` or `Deno.build.os` gives it.
 * @returns `true` where the bytes are Linux's `struct tcp_info`.
 * @throws {TypeError} When `platform` is not a string.
 *
 * @example Check before decoding
 * ```ts
 * import { tcpInfoSupported } from "./tcp_info.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(tcpInfoSupported("linux"), true);
 * assert.equal(tcpInfoSupported("darwin"), false);
 * ```
 */
export function tcpInfoSupported(platform: string): boolean {
  if (typeof platform !== "string") {
    throw new TypeError(`Argument "platform" must be a string, got ${describe(platform)}`);
  }
  return platform === "linux" || platform === "android";
}
