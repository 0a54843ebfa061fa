/**
 * The socket-option backend for Deno: libc through `Deno.dlopen`, opened on
 * first use only and only with `--allow-ffi`.
 *
 * Deno's own types are not referenced (they clash with `@types/node`); the few
 * members used are declared structurally below.
 *
 * @module
 */

import { type BackendResult, createLinuxBackend, libcCalls, libcSymbols } from "../src/_sockopt.ts";

type FfiFunction = (...args: unknown[]) => unknown;
interface DenoFfi {
  readonly build: { readonly os: string };
  readonly permissions: { querySync(descriptor: { name: "ffi" }): { readonly state: string } };
  dlopen(
    path: string,
    symbols: typeof SYMBOLS,
  ): { readonly symbols: Record<keyof typeof SYMBOLS, FfiFunction> };
  readonly UnsafePointerView: new (pointer: object) => { getInt32(offset?: number): number };
}

const SYMBOLS = {
  ...libcSymbols((_, parameters) => ({
    parameters: parameters.map((type) =>
      type === "pointer" ? "buffer" : type === "uint" ? "u32" : "i32"
    ),
    result: "i32",
  })),
  __errno_location: { parameters: [], result: "pointer" },
};

let loaded: BackendResult | undefined;

/**
 * The Deno FFI backend, built once per process on first call.
 *
 * @returns The backend, or why there is none: `"not Deno"`, `"not Linux"`,
 * `"Deno needs --allow-ffi"`, or the load error. Never throws and never prompts.
 *
 * @example
 * ```ts ignore
 * import { loadDenoBackend } from "./_ffi_deno.ts";
 *
 * const result = loadDenoBackend();
 * if (!result.ok) console.warn(result.reason);
 * ```
 */
export function loadDenoBackend(): BackendResult {
  loaded ??= load();
  return loaded;
}

function load(): BackendResult {
  const deno = (globalThis as unknown as { Deno?: DenoFfi }).Deno;
  if (deno === undefined) return { ok: false, reason: "not Deno" };
  if (deno.build.os !== "linux") return { ok: false, reason: "not Linux" };
  try {
    if (deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return { ok: false, reason: "Deno needs --allow-ffi" };
    }
  } catch {
    return { ok: false, reason: "Deno needs --allow-ffi" };
  }
  try {
    const libc = deno.dlopen("libc.so.6", SYMBOLS).symbols;
    // errno is thread-local and Deno runs FFI calls on the JS thread, so the
    // main thread's errno address is fixed: look it up once.
    const errnoView = new deno.UnsafePointerView(libc.__errno_location() as object);
    return {
      ok: true,
      backend: createLinuxBackend("deno-ffi", libcCalls(libc, () => errnoView.getInt32(0))),
    };
  } catch (error) {
    return {
      ok: false,
      reason: `libc failed to load through Deno FFI: ${(error as Error).message}`,
    };
  }
}
