/**
 * Which package the CLI runs from: its version, and whether it came from npm (`socket-liveness`,
 * the build in `dist/`) or from JSR (`@liveness/socket`, the TypeScript source), so that messages
 * name the specifiers the user imports.
 *
 * @module
 */

// deno.json is published to JSR with the source, and tsup inlines it into the npm build;
// scripts/check_package.ts checks that package.json has the same version.
import config from "../deno.json" with { type: "json" };

/** The package's version, e.g. `0.1.0`. */
export const VERSION: string = config.version;

/** A registry the package is published to. */
export type Registry = "npm" | "jsr";

/**
 * The registry a module was loaded from, by its URL: JSR serves the TypeScript source
 * (`https://jsr.io/@liveness/socket/…/cli/main.ts`, or `node_modules/@jsr/liveness__socket/` through
 * JSR's npm compatibility), npm ships the build (`node_modules/socket-liveness/dist/cli.js`). A
 * checkout's source is what JSR publishes.
 *
 * @param url A module's URL.
 * @returns The registry.
 */
export function registryOf(url: string): Registry {
  const { hostname, pathname } = new URL(url);
  if (hostname === "jsr.io" || pathname.includes("/@jsr/")) return "jsr";
  return /\.[cm]?js$/.test(pathname) ? "npm" : "jsr";
}

/** The registry this CLI was loaded from. */
export const registry: Registry = registryOf(import.meta.url);

/**
 * The specifier of the package or one of its entry points, as the registry the CLI came from
 * names it.
 *
 * @param entry An entry point (`node`, `deno`, `bun`), or none for the core.
 * @param from The registry (default: the one this CLI came from).
 * @returns E.g. `socket-liveness/node` or `@liveness/socket/node`.
 */
export function specifier(entry?: "node" | "deno" | "bun", from: Registry = registry): string {
  const name = from === "jsr" ? "@liveness/socket" : "socket-liveness";
  return entry === undefined ? name : `${name}/${entry}`;
}
