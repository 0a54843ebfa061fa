/**
 * The socket-option backend for Bun: libc through `bun:ffi`, opened on first
 * use only.
 *
 * `bun:ffi` is reached through Bun's `require` rather than a static import, so
 * this file type-checks under `tsc` and `deno check`, which do not know it.
 *
 * @module
 */

import { type BackendResult, createLinuxBackend, libcCalls, libcSymbols } from "../src/_sockopt.ts";

type FfiFunction = (...args: unknown[]) => unknown;
interface BunFfi {
  dlopen(
    path: string,
    symbols: typeof SYMBOLS,
  ): { readonly symbols: Record<keyof typeof SYMBOLS, FfiFunction> };
  readonly read: { i32(pointer: number, offset?: number): number };
}
interface BunGlobal {
  readonly Bun?: unknown;
  readonly process?: { readonly platform?: string };
}

const SYMBOLS = {
  ...libcSymbols((_, parameters) => ({
    args: parameters.map((type) => type === "pointer" ? "ptr" : type === "uint" ? "u32" : "i32"),
    returns: "i32",
  })),
  __errno_location: { args: [], returns: "ptr" },
};

let loaded: BackendResult | undefined;

/**
 * The Bun FFI backend, built once per process on first call.
 *
 * @returns The backend, or why there is none: `"not Bun"`, `"not Linux"`, or the
 * load error. Never throws.
 *
 * @example
 * ```ts ignore
 * import { bunSocketFd, loadBunBackend } from "./_ffi_bun.ts";
 *
 * const result = loadBunBackend();
 * const fd = bunSocketFd(socket);
 * if (result.ok && fd !== undefined) result.backend.setInt(fd, 6, 4, 30);
 * ```
 */
export function loadBunBackend(): BackendResult {
  loaded ??= load();
  return loaded;
}

function load(): BackendResult {
  const global = globalThis as unknown as BunGlobal;
  if (global.Bun === undefined) return { ok: false, reason: "not Bun" };
  if (global.process?.platform !== "linux") return { ok: false, reason: "not Linux" };
  try {
    // Bun's require, not node:module: a literal import would break tsc and deno check.
    const ffi = (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
    const libc = ffi.dlopen("libc.so.6", SYMBOLS).symbols;
    // errno is thread-local and Bun runs FFI calls on the JS thread, so the
    // main thread's errno address is fixed: look it up once.
    const errnoAddress = libc.__errno_location() as number;
    return {
      ok: true,
      backend: createLinuxBackend(
        "bun-ffi",
        libcCalls(libc, () => ffi.read.i32(errnoAddress, 0)),
      ),
    };
  } catch (error) {
    return {
      ok: false,
      reason: `libc failed to load through bun:ffi: ${(error as Error).message}`,
    };
  }
}

/**
 * The file descriptor of a `Bun.listen` or `Bun.connect` socket.
 *
 * @param socket The socket Bun handed to a handler or returned from `Bun.connect`.
 * @returns The descriptor, or `undefined` when Bun reports none (closed, or TLS over a pipe).
 *
 * @example
 * ```ts ignore
 * import { bunSocketFd } from "./_ffi_bun.ts";
 *
 * Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => console.log(bunSocketFd(s)), data() {} } });
 * ```
 */
export function bunSocketFd(socket: object): number | undefined {
  const fd = (socket as { fd?: unknown }).fd;
  return typeof fd === "number" && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}
