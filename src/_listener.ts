/**
 * Listening sockets among the process's descriptors: found by their address, proven, and read for
 * what they hold. Linux copies `SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` and
 * `TCP_USER_TIMEOUT` from a listening socket to every connection it accepts, so a listener tuned
 * once tunes every later connection at no cost per connection; the connections it accepted (or
 * held in its accept queue) before it was tuned are found here too, to be tuned one by one.
 *
 * Runtime-neutral: a {@linkcode SockoptBackend} does the calls, and the runtime may hand in the
 * list of its open descriptors (`/proc/self/fd`); without one the table is walked until a long run
 * of free descriptors.
 *
 * @module
 */

import { platformOptions, type SupportedOption } from "./_platform.ts";
import type { SockAddr, SockoptBackend } from "./_sockopt.ts";

/** An address and port as a runtime reports a listener's (the host may be a name). */
export interface ListenAddress {
  /** The address text, or a host name such as `"localhost"`. */
  readonly address: string;
  /** The port. */
  readonly port: number;
}

/** One socket found by {@linkcode scanPort}. */
export interface FoundSocket {
  /** Its descriptor (examined, not held: prove it on a `dup(2)` before tuning). */
  readonly fd: number;
  /** `getsockname`. */
  readonly local: SockAddr;
  /** `getpeername`, for a connected socket. */
  readonly remote?: SockAddr;
}

/** What {@linkcode scanPort} found on one port. */
export interface PortScan {
  /** Listening sockets (`SO_ACCEPTCONN`) bound to the port. */
  readonly listeners: FoundSocket[];
  /** Connected sockets whose local port is the port. */
  readonly connections: FoundSocket[];
}

const LINUX = platformOptions("linux")!;
const KEEPALIVE = LINUX.keepAlive as SupportedOption;
const TCP_INFO = LINUX.tcpInfo as SupportedOption;
const SOL_SOCKET = KEEPALIVE.level;
const SO_ACCEPTCONN = 30;
const SO_PROTOCOL = 38;
const IPPROTO_TCP = TCP_INFO.level;
const ENOTSOCK = 88;
// Without a list of descriptors: free ones in a row taken as the end of the table.
const FREE_RUN_LIMIT = 1024;
// tcpi_unacked: for a listener, the connections in its accept queue (Linux's tcp_get_info).
const ACCEPT_QUEUE_OFFSET = 24;
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Every TCP socket of this process bound to `port`: the listeners, and the connected sockets whose
 * local port it is (those a listener on it accepted).
 *
 * @param backend The socket-option backend.
 * @param port The port.
 * @param descriptors The open descriptors, when the runtime can list them.
 * @returns What was found.
 */
export function scanPort(
  backend: SockoptBackend,
  port: number,
  descriptors: readonly number[] | undefined,
): PortScan {
  const listeners: FoundSocket[] = [];
  const connections: FoundSocket[] = [];
  const visit = (fd: number): boolean => {
    let accepting: number;
    try {
      accepting = backend.getInt(fd, SOL_SOCKET, SO_ACCEPTCONN);
    } catch (error) {
      // ENOTSOCK: open, not a socket. Anything else counts as free, EBADF and errors the walk cannot
      // read alike: a backend that fails every descriptor so ends the walk instead of running on.
      return (error as { errno?: unknown }).errno === ENOTSOCK;
    }
    const local = backend.localAddress(fd);
    if (local === undefined || local.port !== port || !isTcp(backend, fd)) return true;
    if (accepting === 1) {
      listeners.push({ fd, local });
    } else {
      const remote = backend.remoteAddress(fd);
      if (remote !== undefined) connections.push({ fd, local, remote });
    }
    return true;
  };
  if (descriptors !== undefined) {
    for (const fd of descriptors) visit(fd);
  } else {
    for (let fd = 0, free = 0; free < FREE_RUN_LIMIT; fd++) free = visit(fd) ? 0 : free + 1;
  }
  return { listeners, connections };
}

function isTcp(backend: SockoptBackend, fd: number): boolean {
  try {
    return backend.getInt(fd, SOL_SOCKET, SO_PROTOCOL) === IPPROTO_TCP;
  } catch {
    return false;
  }
}

/**
 * The one listener of a scan that is the server's, or why there is none.
 *
 * @param scan What {@linkcode scanPort} found on the server's port.
 * @param wanted The server's address as its runtime reports it.
 * @returns The listener, or the reason.
 */
export function chooseListener(scan: PortScan, wanted: ListenAddress): FoundSocket | string {
  const where = `${wanted.address}:${wanted.port}`;
  const literal = isAddress(wanted.address);
  const matching = scan.listeners.filter((found) =>
    !literal || sameAddress(found.local.address, wanted.address)
  );
  if (matching.length === 1) return matching[0];
  if (matching.length === 0) {
    return `no listening socket on ${where} among this process's descriptors`;
  }
  const addresses = [...new Set(matching.map((found) => plainAddress(found.local.address)))];
  if (addresses.length > 1) {
    return `${matching.length} listening sockets on port ${wanted.port} (${
      addresses.join(", ")
    }) could be the one at "${wanted.address}": which is this server's cannot be told; listen on an address rather than a host name`;
  }
  return `${matching.length} listening sockets on ${where} (SO_REUSEPORT): which one is this server's cannot be told`;
}

/**
 * Whether a connected socket's local address is one a listener bound to `listener` accepts on.
 *
 * @param listener The listener's address (`0.0.0.0` or `::` accept on any).
 * @param local The connection's local address.
 * @returns Whether it can be the listener's.
 */
export function acceptedBy(listener: SockAddr, local: SockAddr): boolean {
  if (local.port !== listener.port) return false;
  return isWildcard(listener.address) || sameAddress(listener.address, local.address);
}

/**
 * Why descriptor `fd` is not the listener at `address`, or `undefined` when it is.
 *
 * @param backend The socket-option backend.
 * @param fd A descriptor (a `dup(2)` taken for tuning).
 * @param address The listener's address.
 * @returns The reason, or `undefined`.
 */
export function notThisListener(
  backend: SockoptBackend,
  fd: number,
  address: ListenAddress,
): string | undefined {
  let accepting: number | undefined;
  try {
    accepting = backend.getInt(fd, SOL_SOCKET, SO_ACCEPTCONN);
  } catch {
    accepting = undefined;
  }
  const local = backend.localAddress(fd);
  if (
    accepting === 1 && local !== undefined && local.port === address.port &&
    (!isAddress(address.address) || sameAddress(local.address, address.address))
  ) return undefined;
  const what = accepting === 1 ? "listening" : "not listening";
  const at = local === undefined ? "?" : `${local.address}:${local.port}`;
  return `descriptor ${fd} is ${what} on ${at}, not this server's ${address.address}:${address.port}`;
}

/**
 * The connections waiting in a listener's accept queue.
 *
 * @param backend The socket-option backend.
 * @param fd The listener's descriptor.
 * @returns The count, or 0 when `TCP_INFO` cannot be read.
 */
export function acceptQueue(backend: SockoptBackend, fd: number): number {
  try {
    const info = backend.tcpInfo(fd);
    if (info === undefined || info.length < ACCEPT_QUEUE_OFFSET + 4) return 0;
    return new DataView(info.buffer, info.byteOffset, info.byteLength)
      .getUint32(ACCEPT_QUEUE_OFFSET, HOST_LITTLE_ENDIAN);
  } catch {
    return 0;
  }
}

/**
 * Whether a text is an IP address (not a host name such as `"localhost"`).
 *
 * @param text The text.
 * @returns Whether it is an IPv4 or IPv6 address.
 */
export function isAddress(text: string): boolean {
  return text.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(text);
}

function isWildcard(address: string): boolean {
  const plain = plainAddress(address);
  return plain === "0.0.0.0" || plain === "::";
}

/**
 * Whether two address texts name the same address, as runtimes and `getsockname` print them:
 * case, brackets and a zone id are ignored, and `::ffff:1.2.3.4` is `1.2.3.4`.
 *
 * @param a One address.
 * @param b The other.
 * @returns Whether they are the same.
 */
export function sameAddress(a: string, b: string): boolean {
  return plainAddress(a) === plainAddress(b);
}

/**
 * An address in the one form {@linkcode sameAddress} compares.
 *
 * @param text An address as a runtime or `getsockname` prints it.
 * @returns Lower case, without brackets or zone, IPv4-mapped IPv6 as IPv4.
 */
export function plainAddress(text: string): string {
  let address = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = address.indexOf("%");
  if (zone >= 0) address = address.slice(0, zone);
  address = address.toLowerCase();
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/** One end of a connection as the runtime reports it. */
export interface Endpoint {
  /** The address text, in whatever form the runtime prints it. */
  readonly address: string;
  /** The port. */
  readonly port: number;
}

/** Both ends of a connection as the runtime reports them. */
export interface Endpoints {
  /** This side. */
  readonly local: Endpoint;
  /** The peer. */
  readonly remote: Endpoint;
}

/**
 * Why descriptor `fd` is not the socket whose ends are `endpoints`, or `undefined` when
 * `getsockname` and `getpeername` both match.
 *
 * @param backend The socket-option backend.
 * @param fd The descriptor (a `dup(2)` taken for tuning).
 * @param endpoints The socket's ends as its runtime reports them.
 * @returns The reason, or `undefined`.
 */
export function notThisSocket(
  backend: SockoptBackend,
  fd: number,
  endpoints: Endpoints,
): string | undefined {
  const local = backend.localAddress(fd);
  const remote = backend.remoteAddress(fd);
  if (sameEndpoint(local, endpoints.local) && sameEndpoint(remote, endpoints.remote)) {
    return undefined;
  }
  return `descriptor ${fd} is ${show(local)} -> ${show(remote)}, not this socket's ${
    show(endpoints.local)
  } -> ${show(endpoints.remote)}`;
}

function sameEndpoint(kernel: SockAddr | undefined, end: Endpoint): boolean {
  return kernel !== undefined && kernel.port === end.port &&
    sameAddress(kernel.address, end.address);
}

function show(end: Endpoint | undefined): string {
  return end === undefined ? "?" : `${end.address}:${end.port}`;
}
