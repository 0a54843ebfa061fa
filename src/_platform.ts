/**
 * Socket option numbers and kernel limits per platform, as plain data.
 *
 * Runtime-neutral: nothing here touches a socket. The backends in `adapters/`
 * read these tables, and reports use `supported: false` entries to say why a
 * control is unavailable instead of failing.
 *
 * @module
 */

/** A liveness control a platform may offer. */
export type Control =
  | "keepAlive"
  | "keepIdle"
  | "keepInterval"
  | "keepCount"
  | "userTimeout"
  | "tcpInfo";

/** All controls, in the order a report lists them. */
export const CONTROLS: readonly Control[] = [
  "keepAlive",
  "keepIdle",
  "keepInterval",
  "keepCount",
  "userTimeout",
  "tcpInfo",
];

/** The unit of an option's integer value; `struct` options are read whole. */
export type OptionUnit = "flag" | "seconds" | "milliseconds" | "probes" | "struct";

/** A control the platform implements with a `getsockopt`/`setsockopt` option. */
export interface SupportedOption {
  /** Discriminant: the platform offers this control. */
  readonly supported: true;
  /** The C constant, as error messages and reports name it. */
  readonly name: string;
  /** The `level` argument of `setsockopt`. */
  readonly level: number;
  /** The `optname` argument of `setsockopt`. */
  readonly option: number;
  /** What the integer value means. */
  readonly unit: OptionUnit;
  /** Inclusive `[min, max]` the kernel accepts; `undefined` for read-only structs. */
  readonly range: readonly [number, number] | undefined;
  /** The first OS release that has the option, when older ones lack it. */
  readonly since?: string;
  /** A caveat a report should repeat. */
  readonly note?: string;
}

/** A control the platform does not offer, with the reason to report. */
export interface UnsupportedOption {
  /** Discriminant: the platform lacks this control. */
  readonly supported: false;
  /** Why, in a phrase a report can print as is. */
  readonly reason: string;
}

/** Whether and how a platform offers one control. */
export type OptionSupport = SupportedOption | UnsupportedOption;

/** Windows' legacy `WSAIoctl` that sets idle and interval together, in milliseconds. */
export interface KeepAliveIoctl {
  /** The C constant. */
  readonly name: "SIO_KEEPALIVE_VALS";
  /** The `dwIoControlCode` argument of `WSAIoctl`. */
  readonly code: number;
  /** `struct tcp_keepalive { onoff, keepalivetime, keepaliveinterval }`, all `u_long`. */
  readonly unit: "milliseconds";
  /** A caveat a report should repeat. */
  readonly note: string;
}

/** The option table of one platform: one entry per control, plus extras. */
export interface PlatformOptions extends Readonly<Record<Control, OptionSupport>> {
  /** The `process.platform` name the table is for. */
  readonly platform: "linux" | "darwin" | "win32";
  /** Present on Windows only. */
  readonly keepAliveIoctl?: KeepAliveIoctl;
}

// 2^31 - 1: the option value is a C int.
const INT_MAX = 0x7fffffff;
// xnu rejects keepalive times above UINT32_MAX / TCP_RETRANSHZ (1000 Hz).
const XNU_SECONDS_MAX = 4294967;

const LINUX_SOL_SOCKET = 1;
const BSD_SOL_SOCKET = 0xffff;
const IPPROTO_TCP = 6;

// Linux: include/uapi/linux/tcp.h, asm-generic/socket.h; limits from
// net/ipv4/tcp.c (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT).
const LINUX: PlatformOptions = {
  platform: "linux",
  keepAlive: option("SO_KEEPALIVE", LINUX_SOL_SOCKET, 9, "flag", [0, 1]),
  keepIdle: option("TCP_KEEPIDLE", IPPROTO_TCP, 4, "seconds", [1, 32767]),
  keepInterval: option("TCP_KEEPINTVL", IPPROTO_TCP, 5, "seconds", [1, 32767]),
  keepCount: option("TCP_KEEPCNT", IPPROTO_TCP, 6, "probes", [1, 127]),
  userTimeout: option("TCP_USER_TIMEOUT", IPPROTO_TCP, 18, "milliseconds", [0, INT_MAX], {
    since: "Linux 2.6.37",
    note: "0 means the system default",
  }),
  tcpInfo: option("TCP_INFO", IPPROTO_TCP, 11, "struct", undefined, {
    note: "struct tcp_info; tcpi_state is byte 0",
  }),
};

// macOS: xnu bsd/netinet/tcp.h and bsd/sys/socket.h; limits from
// bsd/netinet/tcp_usrreq.c (tcp_ctloutput).
const DARWIN: PlatformOptions = {
  platform: "darwin",
  keepAlive: option("SO_KEEPALIVE", BSD_SOL_SOCKET, 0x8, "flag", [0, 1]),
  keepIdle: option("TCP_KEEPALIVE", IPPROTO_TCP, 0x10, "seconds", [0, XNU_SECONDS_MAX]),
  keepInterval: option("TCP_KEEPINTVL", IPPROTO_TCP, 0x101, "seconds", [0, XNU_SECONDS_MAX]),
  keepCount: option("TCP_KEEPCNT", IPPROTO_TCP, 0x102, "probes", [0, INT_MAX]),
  userTimeout: option("TCP_RXT_CONNDROPTIME", IPPROTO_TCP, 0x80, "seconds", [0, XNU_SECONDS_MAX], {
    note: "approximates TCP_USER_TIMEOUT: drops after retransmitting this long, in whole seconds",
  }),
  tcpInfo: option("TCP_CONNECTION_INFO", IPPROTO_TCP, 0x106, "struct", undefined, {
    note: "struct tcp_connection_info, not Linux's tcp_info layout",
  }),
};

// Windows: ws2def.h, ws2ipdef.h, mstcpip.h and the "IPPROTO_TCP socket
// options" page of the Winsock docs.
const WIN32: PlatformOptions = {
  platform: "win32",
  keepAlive: option("SO_KEEPALIVE", BSD_SOL_SOCKET, 0x8, "flag", [0, 1]),
  keepIdle: option("TCP_KEEPIDLE", IPPROTO_TCP, 3, "seconds", [0, INT_MAX], {
    since: "Windows 10 1709",
  }),
  keepInterval: option("TCP_KEEPINTVL", IPPROTO_TCP, 17, "seconds", [0, INT_MAX], {
    since: "Windows 10 1709",
  }),
  keepCount: option("TCP_KEEPCNT", IPPROTO_TCP, 16, "probes", [0, 255], {
    since: "Windows 10 1703",
  }),
  userTimeout: unsupported(
    "no TCP_USER_TIMEOUT on Windows (TCP_MAXRT bounds retransmission in seconds instead)",
  ),
  tcpInfo: unsupported("Windows reports TCP state through the SIO_TCP_INFO ioctl, not getsockopt"),
  keepAliveIoctl: {
    name: "SIO_KEEPALIVE_VALS",
    // _WSAIOW(IOC_VENDOR, 4) = IOC_IN | IOC_VENDOR | 4
    code: 0x98000004,
    unit: "milliseconds",
    note: "sets idle and interval together; the probe count stays the system's (10 since Vista)",
  },
};

const TABLES: Readonly<Record<string, PlatformOptions>> = {
  linux: LINUX,
  darwin: DARWIN,
  win32: WIN32,
};

/**
 * The socket option table of a platform.
 *
 * @param platform A `process.platform`-style name: `"linux"`, `"darwin"` or `"win32"`.
 * @returns The table, or `undefined` for a platform it does not know.
 *
 * @example Read the keepalive idle option on Linux
 * ```ts
 * import { platformOptions } from "./_platform.ts";
 *
 * const idle = platformOptions("linux")?.keepIdle;
 * if (idle?.supported) console.log(idle.name, idle.option); // TCP_KEEPIDLE 4
 * ```
 */
export function platformOptions(platform: string): PlatformOptions | undefined {
  return Object.hasOwn(TABLES, platform) ? TABLES[platform] : undefined;
}

/**
 * The C name of an option, for error messages.
 *
 * @param table The platform's table.
 * @param level The `level` argument of the call.
 * @param option The `optname` argument of the call.
 * @returns The name, such as `"TCP_KEEPIDLE"`, or `"option <level>/<option>"` when unknown.
 *
 * @example Name a Linux option
 * ```ts
 * import { optionName, platformOptions } from "./_platform.ts";
 *
 * optionName(platformOptions("linux")!, 6, 4); // "TCP_KEEPIDLE"
 * ```
 */
export function optionName(table: PlatformOptions, level: number, option: number): string {
  for (const control of CONTROLS) {
    const entry = table[control];
    if (entry.supported && entry.level === level && entry.option === option) return entry.name;
  }
  return `option ${level}/${option}`;
}

function option(
  name: string,
  level: number,
  optionNumber: number,
  unit: OptionUnit,
  range: readonly [number, number] | undefined,
  extra: { since?: string; note?: string } = {},
): SupportedOption {
  return { supported: true, name, level, option: optionNumber, unit, range, ...extra };
}

function unsupported(reason: string): UnsupportedOption {
  return { supported: false, reason };
}
