/**
 * The socket-option backend for Node: libc through koffi, an optional
 * dependency loaded on first use only.
 *
 * @module
 */

import { createRequire } from "node:module";
import process from "node:process";
import { type BackendResult, createLinuxBackend, libcCalls, libcSymbols } from "../src/_sockopt.ts";

// The few koffi members used; koffi's own types would make it a hard dependency.
interface KoffiFunction {
  (...args: unknown[]): number;
}
interface Koffi {
  load(path: string): { func(prototype: string): KoffiFunction };
  errno(): number;
}

let loaded: BackendResult | undefined;

/**
 * The koffi backend, built once per process on first call.
 *
 * @returns The backend, or why there is none: `"not Linux"`, `"koffi not installed"`,
 * or the load error. Never throws.
 *
 * @example Set TCP_KEEPIDLE on a socket
 * ```ts ignore
 * import { loadNodeBackend, nodeSocketFd } from "./_ffi_node.ts";
 *
 * const result = loadNodeBackend();
 * const fd = nodeSocketFd(socket);
 * if (result.ok && fd !== undefined) result.backend.setInt(fd, 6, 4, 30);
 * ```
 */
export function loadNodeBackend(): BackendResult {
  loaded ??= load();
  return loaded;
}

function load(): BackendResult {
  if (process.platform !== "linux") return { ok: false, reason: "not Linux" };
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)("koffi") as Koffi;
  } catch (error) {
    if ((error as { code?: unknown }).code === "MODULE_NOT_FOUND") {
      return { ok: false, reason: "koffi not installed" };
    }
    return { ok: false, reason: `koffi failed to load: ${(error as Error).message}` };
  }
  try {
    const libc = koffi.load("libc.so.6");
    const C = { int: "int", uint: "uint32_t", pointer: "void *" } as const;
    const bound = libcSymbols((name, parameters) =>
      libc.func(`int ${name}(${parameters.map((type) => C[type]).join(", ")})`)
    );
    return {
      ok: true,
      backend: createLinuxBackend("koffi", libcCalls(bound, () => koffi.errno())),
    };
  } catch (error) {
    return { ok: false, reason: `libc failed to load through koffi: ${(error as Error).message}` };
  }
}

/**
 * The file descriptor under a `node:net` socket.
 *
 * @param socket A connected `net.Socket` (typed loosely: `_handle` is internal).
 * @returns The descriptor, or `undefined` before connect, after close, or on Windows.
 *
 * @example
 * ```ts ignore
 * import { nodeSocketFd } from "./_ffi_node.ts";
 *
 * server.on("connection", (socket) => console.log(nodeSocketFd(socket)));
 * ```
 */
export function nodeSocketFd(socket: object): number | undefined {
  const fd = (socket as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === "number" && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}
