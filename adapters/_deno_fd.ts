/**
 * Finds the file descriptor under a `Deno.TcpConn`, which Deno does not expose.
 *
 * A descriptor is only returned once its `getsockname` AND `getpeername` both
 * equal the conn's `localAddr` and `remoteAddr`; a TCP 4-tuple names one live
 * socket, so a match is unambiguous.
 *
 * Speed comes from how Linux numbers descriptors: a new socket gets the lowest
 * free one. So the search tries, in order, the conn's cached descriptor, a
 * descriptor already seen carrying the conn's 4-tuple, the known free holes
 * below the frontier (released or closed descriptors), then the frontier (the
 * lowest descriptor never examined). Each candidate costs two FFI calls. Only
 * when all that fails does it rescan every descriptor up to the frontier plus
 * a margin, which also repairs state that went stale because a conn was
 * closed without {@linkcode DenoFdFinder.release}.
 *
 * Runtime-neutral: it needs only a {@linkcode SockoptBackend}.
 *
 * @module
 */

import { platformOptions, type SupportedOption } from "../src/_platform.ts";
import type { SockAddr, SockoptBackend } from "../src/_sockopt.ts";
import { plainAddress } from "../src/_kit.ts";

/** The part of a `Deno.NetAddr` the search compares. */
export interface NetAddrLike {
  /** IP address text. */
  readonly hostname: string;
  /** TCP port. */
  readonly port: number;
}

/** The part of a `Deno.TcpConn` the search reads. */
export interface ConnLike {
  /** The conn's own endpoint. */
  readonly localAddr: NetAddrLike;
  /** The peer's endpoint. */
  readonly remoteAddr: NetAddrLike;
}

/** Tuning for {@linkcode DenoFdFinder}; the defaults suit servers with many conns. */
export interface DenoFdFinderOptions {
  /** Free holes tried before the frontier. Default 8. */
  readonly holeTries?: number;
  /** Consecutive free descriptors at the frontier taken as the end of the table. Default 64. */
  readonly freeRunLimit?: number;
  /** How far past the frontier the fallback scan looks, across free gaps. Default 1024. */
  readonly scanMargin?: number;
}

// What the finder believes about a descriptor.
const UNKNOWN = 0; // never examined, or free
const OWNED = 1; // matched to a conn this finder returned
const SEEN = 2; // a connected TCP socket with a known 4-tuple, not yet claimed
const FOREIGN = 3; // open but not a connected TCP socket (pipe, listener, epoll...)

// Every socket has SO_KEEPALIVE, so reading it tells a free descriptor
// (EBADF) from an open one that is not a connected TCP socket.
const KEEPALIVE = platformOptions("linux")!.keepAlive as SupportedOption;
const EBADF = 9;
// Thrown inside a search whose budget ran out; caught by find().
const OVER_BUDGET = Symbol("over budget");

/**
 * Maps Deno conns to descriptors, keeping hints so the usual lookup costs two
 * to four FFI calls however many conns are open.
 *
 * @example Find and later release a conn's descriptor
 * ```ts ignore
 * import { DenoFdFinder } from "./_deno_fd.ts";
 *
 * const finder = new DenoFdFinder(backend);
 * const fd = finder.find(conn);
 * // ... use fd while conn is open ...
 * conn.close();
 * finder.release(conn);
 * ```
 */
export class DenoFdFinder {
  /** FFI calls made so far, for benchmarks and tests. */
  calls = 0;
  #backend: SockoptBackend;
  #holeTries: number;
  #freeRunLimit: number;
  #scanMargin: number;
  #state = new Uint8Array(1024);
  #keys: (string | undefined)[] = [];
  #byKey = new Map<string, number>();
  #connFd = new WeakMap<object, number>();
  // Free descriptors below the frontier, ascending: where new sockets land.
  #holes: number[] = [];
  // Every descriptor below this one has been examined.
  #frontier = 0;
  // The calls count at which the current search gives up.
  #limit = Infinity;

  /**
   * @param backend The backend whose `localAddress`/`remoteAddress` the search calls.
   * @param options Search tuning.
   */
  constructor(backend: SockoptBackend, options: DenoFdFinderOptions = {}) {
    this.#backend = backend;
    this.#holeTries = options.holeTries ?? 8;
    this.#freeRunLimit = options.freeRunLimit ?? 64;
    this.#scanMargin = options.scanMargin ?? 1024;
  }

  /**
   * The descriptor of `conn`.
   *
   * @param conn An open `Deno.TcpConn` (or anything with the same addresses).
   * @param budget At most this many FFI calls: beyond it the search gives up (what it learnt is
   * kept). Default: no limit.
   * @returns The descriptor whose local and remote endpoints both match, or
   * `undefined` when none does (the conn is closed, or not TCP) or the budget ran out.
   */
  find(conn: ConnLike, budget: number = Infinity): number | undefined {
    this.#limit = this.calls + budget;
    try {
      return this.#find(conn);
    } catch (error) {
      if (error === OVER_BUDGET) return undefined;
      throw error;
    } finally {
      this.#limit = Infinity;
    }
  }

  #find(conn: ConnLike): number | undefined {
    const key = connKey(conn);
    if (key === undefined) return undefined;

    const cached = this.#connFd.get(conn);
    if (cached !== undefined && this.#examine(cached) === key) {
      return this.#claim(cached, key, conn);
    }

    const known = this.#byKey.get(key);
    if (known !== undefined && known !== cached && this.#examine(known) === key) {
      return this.#claim(known, key, conn);
    }

    const holes = this.#holes;
    for (let i = 0, tried = 0; i < holes.length && tried < this.#holeTries; tried++) {
      const fd = holes[i];
      const found = this.#examine(fd);
      if (found === key) return this.#claim(fd, key, conn);
      // #examine removed fd from the holes unless it is still free.
      if (holes[i] === fd) i++;
    }

    // Every descriptor is examined at the frontier once in the finder's life,
    // so walking it as far as needed costs O(1) amortised per conn.
    const found = this.#advance(key, Infinity, this.#freeRunLimit);
    if (found !== undefined) return this.#claim(found, key, conn);
    return this.#rescan(key, conn);
  }

  /**
   * The descriptor last matched to `conn` (or seen carrying its 4-tuple), without proving it
   * again: for a conn whose peer is gone (`getpeername` fails), while the conn is still open, so
   * that its number cannot have been reused.
   *
   * @param conn A conn passed to {@linkcode find} before.
   * @returns The descriptor, or `undefined` when none was ever matched or seen.
   */
  known(conn: ConnLike): number | undefined {
    const cached = this.#connFd.get(conn);
    if (cached !== undefined) return cached;
    const key = connKey(conn);
    return key === undefined ? undefined : this.#byKey.get(key);
  }

  /**
   * Forgets a conn's descriptor, so it becomes the first place the next
   * search looks. Call it when the conn closes.
   *
   * @param connOrFd The conn passed to {@linkcode find}, or its descriptor.
   */
  release(connOrFd: ConnLike | number): void {
    let fd: number | undefined;
    if (typeof connOrFd === "number") {
      fd = connOrFd;
    } else {
      fd = this.#connFd.get(connOrFd);
      this.#connFd.delete(connOrFd);
    }
    if (fd === undefined || !(fd >= 0 && fd < this.#frontier) || this.#state[fd] === UNKNOWN) {
      return;
    }
    this.#forget(fd);
    this.#addHole(fd);
  }

  // Classifies fd afresh; returns its 4-tuple key when it is a connected TCP
  // socket, or undefined.
  #examine(fd: number): string | undefined {
    if (this.calls >= this.#limit) throw OVER_BUDGET;
    if (fd >= this.#state.length) this.#grow(fd);
    const backend = this.#backend;
    this.calls++;
    const remote = backend.remoteAddress(fd);
    let key: string | undefined;
    let state = FOREIGN;
    if (remote !== undefined) {
      this.calls++;
      const local = backend.localAddress(fd);
      if (local !== undefined) {
        key = addrKey(local, remote);
        state = SEEN;
      }
    } else if (this.#isFree(fd)) {
      state = UNKNOWN;
    }
    if (key !== undefined && this.#keys[fd] === key) return key;
    this.#forget(fd);
    if (fd < this.#frontier) {
      if (state === UNKNOWN) this.#addHole(fd);
      else this.#removeHole(fd);
    }
    this.#state[fd] = state;
    if (key !== undefined) {
      this.#keys[fd] = key;
      this.#byKey.set(key, fd);
    }
    return key;
  }

  #isFree(fd: number): boolean {
    this.calls++;
    try {
      this.#backend.getInt(fd, KEEPALIVE.level, KEEPALIVE.option);
      return false;
    } catch (error) {
      return (error as { errno?: unknown }).errno === EBADF;
    }
  }

  // Examines descriptors from the frontier up to (not including) limit, or
  // until maxFreeRun free ones in a row. Free ones at the top of the table do
  // not move the frontier: the next socket likely lands there.
  #advance(key: string, limit: number, maxFreeRun: number): number | undefined {
    let fd = this.#frontier;
    let freeRun = 0;
    for (; fd < limit && freeRun < maxFreeRun; fd++) {
      const found = this.#examine(fd);
      if (found === key) break;
      if (this.#state[fd] === UNKNOWN) {
        freeRun++;
      } else {
        // Descriptors between the old frontier and here are now known.
        for (let hole = fd - freeRun; hole < fd; hole++) this.#addHole(hole);
        this.#frontier = fd + 1;
        freeRun = 0;
      }
    }
    if (fd >= limit || freeRun >= maxFreeRun) return undefined;
    for (let hole = fd - freeRun; hole < fd; hole++) this.#addHole(hole);
    this.#frontier = Math.max(this.#frontier, fd + 1);
    return fd;
  }

  // The bounded fallback: everything below the frontier (unclaimed first,
  // then claimed ones that may have gone stale), then past it by the margin.
  #rescan(key: string, conn: ConnLike): number | undefined {
    const top = this.#frontier;
    for (const claimed of [false, true]) {
      for (let fd = 0; fd < top; fd++) {
        if ((this.#state[fd] === OWNED) !== claimed) continue;
        if (this.#examine(fd) === key) return this.#claim(fd, key, conn);
      }
    }
    const found = this.#advance(key, top + this.#scanMargin, Infinity);
    return found === undefined ? undefined : this.#claim(found, key, conn);
  }

  #claim(fd: number, key: string, conn: ConnLike): number {
    this.#state[fd] = OWNED;
    this.#keys[fd] = key;
    this.#byKey.set(key, fd);
    this.#connFd.set(conn, fd);
    return fd;
  }

  #forget(fd: number): void {
    const key = this.#keys[fd];
    if (key !== undefined) {
      if (this.#byKey.get(key) === fd) this.#byKey.delete(key);
      this.#keys[fd] = undefined;
    }
    this.#state[fd] = UNKNOWN;
  }

  #addHole(fd: number): void {
    const holes = this.#holes;
    const at = lowerBound(holes, fd);
    if (holes[at] !== fd) holes.splice(at, 0, fd);
  }

  #removeHole(fd: number): void {
    const holes = this.#holes;
    const at = lowerBound(holes, fd);
    if (holes[at] === fd) holes.splice(at, 1);
  }

  #grow(fd: number): void {
    let size = this.#state.length;
    while (size <= fd) size *= 2;
    const state = new Uint8Array(size);
    state.set(this.#state);
    this.#state = state;
  }
}

const finders = new WeakMap<SockoptBackend, DenoFdFinder>();

function finderOf(backend: SockoptBackend): DenoFdFinder {
  let finder = finders.get(backend);
  if (finder === undefined) {
    finder = new DenoFdFinder(backend);
    finders.set(backend, finder);
  }
  return finder;
}

/**
 * The descriptor of a Deno conn, through one shared finder per backend.
 *
 * @param backend The Deno FFI backend.
 * @param conn An open `Deno.TcpConn`.
 * @param budget At most this many FFI calls (default: no limit).
 * @returns The descriptor matching both endpoints, or `undefined`.
 *
 * @example
 * ```ts ignore
 * import { loadDenoBackend } from "./_ffi_deno.ts";
 * import { findDenoFd, releaseDenoFd } from "./_deno_fd.ts";
 *
 * const result = loadDenoBackend();
 * if (result.ok) {
 *   const fd = findDenoFd(result.backend, conn);
 *   conn.close();
 *   releaseDenoFd(result.backend, conn);
 * }
 * ```
 */
export function findDenoFd(
  backend: SockoptBackend,
  conn: ConnLike,
  budget?: number,
): number | undefined {
  return finderOf(backend).find(conn, budget);
}

/**
 * The descriptor the shared finder of `backend` last matched to a conn, without proving it again
 * (see {@linkcode DenoFdFinder.known}): only while the conn is open.
 *
 * @param backend The backend passed to {@linkcode findDenoFd}.
 * @param conn The conn.
 * @returns The descriptor, or `undefined`.
 */
export function knownDenoFd(backend: SockoptBackend, conn: ConnLike): number | undefined {
  return finderOf(backend).known(conn);
}

/**
 * Tells the shared finder of `backend` that a conn or descriptor was closed.
 *
 * @param backend The backend passed to {@linkcode findDenoFd}.
 * @param connOrFd The conn, or its descriptor.
 */
export function releaseDenoFd(backend: SockoptBackend, connOrFd: ConnLike | number): void {
  finderOf(backend).release(connOrFd);
}

/**
 * Whether descriptor `fd` is `conn`'s socket now: both its endpoints equal the conn's.
 *
 * @param backend A socket-option backend.
 * @param fd A descriptor (e.g. a `dup` of the one {@linkcode findDenoFd} returned).
 * @param conn The conn.
 * @returns `true` only when both endpoints match.
 */
export function isDenoConnFd(backend: SockoptBackend, fd: number, conn: ConnLike): boolean {
  const key = connKey(conn);
  const local = backend.localAddress(fd);
  const remote = backend.remoteAddress(fd);
  return key !== undefined && local !== undefined && remote !== undefined &&
    addrKey(local, remote) === key;
}

function connKey(conn: ConnLike): string | undefined {
  const local = conn.localAddr;
  const remote = conn.remoteAddr;
  if (typeof local?.hostname !== "string" || typeof remote?.hostname !== "string") return undefined;
  return key(local.hostname, local.port, remote.hostname, remote.port);
}

function addrKey(local: SockAddr, remote: SockAddr): string {
  return key(local.address, local.port, remote.address, remote.port);
}

// In the kit's one form of an address: runtimes and getsockname print them differently.
function key(localHost: string, localPort: number, remoteHost: string, remotePort: number): string {
  return `${plainAddress(localHost)} ${localPort} ${plainAddress(remoteHost)} ${remotePort}`;
}

function lowerBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle;
  }
  return low;
}
