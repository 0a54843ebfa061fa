/**
 * What each runtime's own keepalive API sets, and how the rest is reached with `setsockopt`. Data
 * only, mirroring the adapters (`adapters/node.ts`, `deno.ts`, `bun.ts`); `plan` feeds it to the
 * core's `tuneKeepalive` to tell what each runtime will report.
 *
 * @module
 */

/** One runtime (or range of versions) as the adapters see it. */
export interface RuntimeCapability {
  /** Short id for `--json` and `--runtime` filtering. */
  readonly id: "node20" | "node24" | "deno" | "bun";
  /** Which runtime it is. */
  readonly runtime: "node" | "deno" | "bun";
  /** For people. */
  readonly label: string;
  /** The runtime's own keepalive call. */
  readonly api: string;
  /** Which controls that call sets (SO_KEEPALIVE always). */
  readonly native: { readonly idle: boolean; readonly interval: boolean; readonly count: boolean };
  /** Interval and count are set natively only along with an idle time. */
  readonly needsIdle: boolean;
  /** What the runtime sets by itself whenever an idle time is set. */
  readonly fixedWithIdle?: { readonly interval: number; readonly count: number };
  /** How `setsockopt` is reached for the rest. */
  readonly ffi: {
    /** The FFI. */
    readonly via: string;
    /** The npm package to install, if any (koffi: an optional dependency from npm, none from JSR). */
    readonly install?: string;
    /** A permission to grant, if any. */
    readonly permission?: string;
    /** The adapter's report note when the FFI is unavailable. */
    readonly missing: string;
  };
}

/** Node before 24.19, Node 24.19+ and 26, Deno 2, Bun 1.x. */
export const CAPABILITIES: readonly RuntimeCapability[] = [
  {
    id: "node20",
    runtime: "node",
    label: "Node 20, 22, 24.0-24.18",
    api: "socket.setKeepAlive(true, initialDelay)",
    native: { idle: true, interval: false, count: false },
    needsIdle: true,
    fixedWithIdle: { interval: 1000, count: 10 },
    ffi: {
      via: "koffi",
      install: "koffi",
      missing: "koffi not installed",
    },
  },
  {
    id: "node24",
    runtime: "node",
    label: "Node 24.19+, 26",
    api: "socket.setKeepAlive(true, initialDelay, interval, count)",
    native: { idle: true, interval: true, count: true },
    needsIdle: true,
    fixedWithIdle: { interval: 1000, count: 10 },
    ffi: {
      via: "koffi",
      install: "koffi",
      missing: "koffi not installed",
    },
  },
  {
    id: "deno",
    runtime: "deno",
    label: "Deno 2",
    api: "conn.setKeepAlive() (on/off only)",
    native: { idle: false, interval: false, count: false },
    needsIdle: false,
    ffi: {
      via: "Deno.dlopen",
      permission: "--allow-ffi",
      missing: "Deno needs --allow-ffi",
    },
  },
  {
    id: "bun",
    runtime: "bun",
    label: "Bun 1.x",
    api: "socket.setKeepAlive(true, initialDelay)",
    native: { idle: true, interval: false, count: false },
    needsIdle: true,
    fixedWithIdle: { interval: 1000, count: 10 },
    ffi: {
      via: "bun:ffi (built in)",
      missing: "bun:ffi is unavailable",
    },
  },
];
