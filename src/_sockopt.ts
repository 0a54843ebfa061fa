/**
 * The socket-option layer every runtime backend implements, and the shared
 * code that turns four raw libc calls into that layer.
 *
 * Runtime-neutral: a backend hands in the libc functions its FFI bound, and
 * everything else (buffers, errno naming, sockaddr decoding) lives here once.
 *
 * @module
 */

import { optionName, platformOptions } from "./_platform.ts";

/** An endpoint as `getsockname`/`getpeername` report it. */
export interface SockAddr {
  /** Dotted IPv4 or RFC 5952 IPv6 text, as Node, Deno and Bun print it. */
  readonly address: string;
  /** The TCP port. */
  readonly port: number;
  /** The address family. */
  readonly family: "IPv4" | "IPv6";
}

/** Integer socket options and TCP state of a file descriptor, through the C library. */
export interface SockoptBackend {
  /** Which FFI does the calls: `"koffi"`, `"deno-ffi"` or `"bun-ffi"`. */
  readonly name: string;
  /**
   * `setsockopt` with a C `int` value.
   *
   * @throws {SockoptError} naming the option and errno when the call fails.
   */
  setInt(fd: number, level: number, option: number, value: number): void;
  /**
   * `getsockopt` of a C `int` value.
   *
   * @throws {SockoptError} naming the option and errno when the call fails.
   */
  getInt(fd: number, level: number, option: number): number;
  /**
   * The raw `TCP_INFO` bytes, or `undefined` where the platform has none.
   * The view is reused by the next call: read it or copy it at once.
   *
   * @throws {SockoptError} when the call fails.
   */
  tcpInfo(fd: number): Uint8Array | undefined;
  /** `getsockname`, or `undefined` when `fd` is not a bound IPv4/IPv6 socket. */
  localAddress(fd: number): SockAddr | undefined;
  /** `getpeername`, or `undefined` when `fd` is not a connected IPv4/IPv6 socket. */
  remoteAddress(fd: number): SockAddr | undefined;
  /**
   * Runs `fn` with a `dup(2)` of `fd`, closed afterwards. The duplicate names the socket `fd` named
   * at the moment of the call, whatever happens to the number `fd` meanwhile (closed and reused by
   * another thread): prove it is the right socket on the duplicate, then tune the duplicate.
   *
   * @throws {SockoptError} When `dup` fails (e.g. `EBADF`: `fd` is closed).
   */
  withDuplicate<T>(fd: number, fn: (duplicate: number) => T): T;
}

/**
 * Unanswered keepalive probes of a socket (`tcpi_probes`, byte 3 of `struct tcp_info`), or
 * `undefined` where `TCP_INFO` cannot be read.
 *
 * @param backend The backend.
 * @param fd The socket's descriptor (of an open socket: its number cannot have been reused).
 * @returns The count, or `undefined`.
 */
export function keepaliveProbesOf(backend: SockoptBackend, fd: number): number | undefined {
  try {
    const info = backend.tcpInfo(fd);
    return info !== undefined && info.length > 3 ? info[3] : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a backend could be built here, and why not. */
export type BackendResult =
  | { readonly ok: true; readonly backend: SockoptBackend }
  | { readonly ok: false; readonly reason: string };

/** A failed libc call: `code` is the errno name, `errno` its number. */
export class SockoptError extends Error {
  /** The errno name, such as `"EBADF"`, or `"E<number>"` for one not listed. */
  readonly code: string;
  /** The errno number. */
  readonly errno: number;

  /**
   * @param call What failed, such as `"setsockopt TCP_KEEPIDLE"`.
   * @param errno The errno the call left.
   */
  constructor(call: string, errno: number) {
    const code = ERRNO_NAMES[errno] ?? `E${errno}`;
    super(`${call} failed: ${code} (${errno})`);
    this.name = "SockoptError";
    this.code = code;
    this.errno = errno;
  }
}

/**
 * The four libc functions a backend binds, as its FFI exposes them: pointer
 * arguments take typed arrays in place, and every call returns the C result.
 */
export interface LibcCalls {
  /** `int setsockopt(int, int, int, const void *, socklen_t)` */
  setsockopt(fd: number, level: number, option: number, value: Uint8Array, length: number): number;
  /** `int getsockopt(int, int, int, void *, socklen_t *)` */
  getsockopt(
    fd: number,
    level: number,
    option: number,
    value: Uint8Array,
    length: Uint32Array,
  ): number;
  /** `int getsockname(int, struct sockaddr *, socklen_t *)` */
  getsockname(fd: number, address: Uint8Array, length: Uint32Array): number;
  /** `int getpeername(int, struct sockaddr *, socklen_t *)` */
  getpeername(fd: number, address: Uint8Array, length: Uint32Array): number;
  /** `int dup(int)` */
  dup(fd: number): number;
  /** `int close(int)` */
  close(fd: number): number;
  /** The calling thread's `errno`, read right after a failed call. */
  errno(): number;
}

/** The libc functions a backend binds (`errno` is read by each FFI its own way). */
export type LibcFunction = Exclude<keyof LibcCalls, "errno">;

/** A C parameter of those functions: an `int`, a `socklen_t` by value, or a pointer. */
export type LibcParameter = "int" | "uint" | "pointer";

/**
 * Each bound function's parameters; every one returns an `int`. The one description that every
 * FFI's own symbol table is spelled from.
 */
const LIBC_PARAMETERS: Readonly<Record<LibcFunction, readonly LibcParameter[]>> = {
  setsockopt: ["int", "int", "int", "pointer", "uint"],
  getsockopt: ["int", "int", "int", "pointer", "pointer"],
  getsockname: ["int", "pointer", "pointer"],
  getpeername: ["int", "pointer", "pointer"],
  dup: ["int"],
  close: ["int"],
};

/**
 * The functions of {@linkcode LibcCalls}, each spelled as an FFI declares a symbol.
 *
 * @param spell What the FFI wants for a function `int name(parameters)`.
 * @returns One declaration per function, by name.
 */
export function libcSymbols<T>(
  spell: (name: LibcFunction, parameters: readonly LibcParameter[]) => T,
): Record<LibcFunction, T> {
  const symbols = {} as Record<LibcFunction, T>;
  for (const [name, parameters] of Object.entries(LIBC_PARAMETERS)) {
    symbols[name as LibcFunction] = spell(name as LibcFunction, parameters);
  }
  return symbols;
}

/**
 * {@linkcode LibcCalls} from the functions an FFI bound as {@linkcode libcSymbols} declared them.
 *
 * @param bound The bound functions, by name.
 * @param errno Reads the calling thread's `errno`.
 * @returns The calls, for {@linkcode createLinuxBackend}.
 */
export function libcCalls(
  bound: Readonly<Record<LibcFunction, unknown>>,
  errno: () => number,
): LibcCalls {
  const calls = bound as unknown as Omit<LibcCalls, "errno">;
  return {
    setsockopt: calls.setsockopt,
    getsockopt: calls.getsockopt,
    getsockname: calls.getsockname,
    getpeername: calls.getpeername,
    dup: calls.dup,
    close: calls.close,
    errno,
  };
}

// Linux <asm-generic/errno-base.h> and <asm-generic/errno.h>: the ones these
// four calls document, plus what a closed or foreign descriptor yields.
const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  9: "EBADF",
  12: "ENOMEM",
  14: "EFAULT",
  22: "EINVAL",
  88: "ENOTSOCK",
  92: "ENOPROTOOPT",
  95: "EOPNOTSUPP",
  105: "ENOBUFS",
  107: "ENOTCONN",
};

const LINUX = platformOptions("linux")!;
const TCP_INFO = LINUX.tcpInfo.supported ? LINUX.tcpInfo : undefined;
const AF_INET = 2;
const AF_INET6 = 10;
// struct tcp_info is about 280 bytes on Linux 6.x; headroom for growth.
const TCP_INFO_CAPACITY = 512;
// sizeof(struct sockaddr_storage)
const SOCKADDR_CAPACITY = 128;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/**
 * Builds a Linux backend from the libc calls one FFI bound. The buffers are
 * allocated once here and reused by every call, so calls allocate nothing
 * but their results.
 *
 * @param name The backend's name.
 * @param libc The bound calls.
 * @returns The backend.
 *
 * @example Wrap calls bound by some FFI
 * ```ts ignore
 * import { createLinuxBackend } from "./_sockopt.ts";
 *
 * const backend = createLinuxBackend("koffi", calls);
 * backend.setInt(fd, 6, 4, 30); // TCP_KEEPIDLE = 30 s
 * ```
 */
export function createLinuxBackend(name: string, libc: LibcCalls): SockoptBackend {
  const intBytes = new Uint8Array(4);
  const intView = new Int32Array(intBytes.buffer);
  const length = new Uint32Array(1);
  const info = new Uint8Array(TCP_INFO_CAPACITY);
  const address = new Uint8Array(SOCKADDR_CAPACITY);
  const addressView = new DataView(address.buffer);

  function readAddress(fd: number, peer: boolean): SockAddr | undefined {
    length[0] = SOCKADDR_CAPACITY;
    const result = peer
      ? libc.getpeername(fd, address, length)
      : libc.getsockname(fd, address, length);
    if (result !== 0) return undefined;
    return decodeLinuxSockAddr(addressView, length[0]);
  }

  return {
    name,
    setInt(fd: number, level: number, option: number, value: number): void {
      if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
        throw new RangeError(
          `Cannot set ${
            optionName(LINUX, level, option)
          }: value must be an integer between ${INT32_MIN} and ${INT32_MAX}, got ${value}`,
        );
      }
      intView[0] = value;
      if (libc.setsockopt(fd, level, option, intBytes, 4) !== 0) {
        throw new SockoptError(`setsockopt ${optionName(LINUX, level, option)}`, libc.errno());
      }
    },
    getInt(fd: number, level: number, option: number): number {
      length[0] = 4;
      if (libc.getsockopt(fd, level, option, intBytes, length) !== 0) {
        throw new SockoptError(`getsockopt ${optionName(LINUX, level, option)}`, libc.errno());
      }
      return intView[0];
    },
    tcpInfo(fd: number): Uint8Array | undefined {
      if (TCP_INFO === undefined) return undefined;
      length[0] = TCP_INFO_CAPACITY;
      if (libc.getsockopt(fd, TCP_INFO.level, TCP_INFO.option, info, length) !== 0) {
        throw new SockoptError("getsockopt TCP_INFO", libc.errno());
      }
      return info.subarray(0, length[0]);
    },
    localAddress(fd: number): SockAddr | undefined {
      return readAddress(fd, false);
    },
    remoteAddress(fd: number): SockAddr | undefined {
      return readAddress(fd, true);
    },
    withDuplicate<T>(fd: number, fn: (duplicate: number) => T): T {
      const duplicate = libc.dup(fd);
      if (duplicate < 0) throw new SockoptError("dup", libc.errno());
      try {
        return fn(duplicate);
      } finally {
        libc.close(duplicate);
      }
    },
  };
}

// sa_family is in host byte order, the port and address in network order.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes a Linux `sockaddr_in` or `sockaddr_in6`.
 *
 * @param view The bytes `getsockname` or `getpeername` wrote.
 * @param length The length the call returned.
 * @returns The endpoint, or `undefined` for other families or short input.
 */
export function decodeLinuxSockAddr(view: DataView, length: number): SockAddr | undefined {
  if (length < 2) return undefined;
  const family = view.getUint16(0, HOST_LITTLE_ENDIAN);
  if (family === AF_INET && length >= 8) {
    const address = `${view.getUint8(4)}.${view.getUint8(5)}.${view.getUint8(6)}.${
      view.getUint8(7)
    }`;
    return { address, port: view.getUint16(2), family: "IPv4" };
  }
  if (family === AF_INET6 && length >= 24) {
    return { address: formatIPv6(view, 8), port: view.getUint16(2), family: "IPv6" };
  }
  return undefined;
}

/**
 * Formats 16 bytes of IPv6 address as RFC 5952 text: lower case, the longest
 * run of two or more zero groups as `::`, and `::ffff:a.b.c.d` for mapped
 * IPv4 (the form Node, Deno and Bun print).
 *
 * @param view Bytes holding the address.
 * @param offset Where the address starts.
 * @returns The text.
 */
export function formatIPv6(view: DataView, offset: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(view.getUint16(offset + 2 * i));
  if (
    groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 &&
    groups[4] === 0 && groups[5] === 0xffff
  ) {
    const at = offset + 12;
    return `::ffff:${view.getUint8(at)}.${view.getUint8(at + 1)}.${view.getUint8(at + 2)}.${
      view.getUint8(at + 3)
    }`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}
