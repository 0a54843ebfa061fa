/**
 * How a test says it cannot run here, so that every runner reports it as skipped and CI cannot pass
 * by skipping what it must run.
 *
 * A skip is declared when the test is defined — `test(name, { skip: reason }, fn)` — never with
 * `t.skip()` inside the body: Deno's `node:test` counts an in-body skip as passed, and only a
 * definition-time skip shows as `ignored` there (Node: `skipped`, Bun: `skip`), which
 * `scripts/test.mjs` counts per runtime. Every condition a test skips on is known when the file
 * loads (which runtime, which platform, whether namespaces or koffi work), so this costs nothing.
 *
 * Two kinds of skip:
 *
 * - **Elsewhere**: the test is about another runtime or platform (a Deno-only test under Node, a
 *   Unix-socket test on Windows). Legitimate anywhere, CI included: pass the reason as it is.
 * - **Must run**: the test is about this runtime and platform but needs something the machine may
 *   lack (network namespaces: root, `ip netns`, `nft`; koffi for setsockopt under Node). Wrap the
 *   reason in {@linkcode mustRun}: outside CI it skips with the reason; in CI (any truthy `CI`) it
 *   does not skip, and the test fails on its missing precondition, saying why.
 *
 * Imports only `node:*` modules, so every runner can load it.
 *
 * @module
 */
import process from "node:process";

/**
 * Whether an environment flag is set: anything but unset, empty, `0`, `false`, `no` or `off`
 * (case and surrounding spaces ignored). So `CI=true`, `CI=1` and `CI=yes` all mean CI.
 *
 * @param value The variable's value.
 * @returns Whether it is truthy.
 */
export function truthy(value: string | undefined): boolean {
  if (value === undefined) return false;
  return !["", "0", "false", "no", "off"].includes(value.trim().toLowerCase());
}

/** A runtime, as its test runner is named. */
export type RuntimeName = "node" | "deno" | "bun";

/** The runtime running this code. */
export const runtime: RuntimeName = "Deno" in globalThis
  ? "deno"
  : process.versions.bun !== undefined
  ? "bun"
  : "node";

/**
 * The `skip` option of a test about one runtime (its adapter, its API): an "elsewhere" skip, `false`
 * on that runtime.
 *
 * @param wanted The runtime the test is about.
 * @returns What to pass as `skip`.
 */
export function onlyOn(wanted: RuntimeName): string | false {
  return runtime === wanted ? false : `${wanted} only`;
}

/** Whether this run is CI's: the `CI` variable is {@linkcode truthy}. */
export const inCI: boolean = truthy(process.env.CI);

/**
 * The `skip` option of a test CI must run: the reason outside CI, `false` in CI (the test then runs
 * and must fail on what it lacks, with the reason in its message).
 *
 * @param reason Why the test cannot run here, or `false` when it can.
 * @returns What to pass as `skip`.
 */
export function mustRun(reason: string | false): string | false {
  return reason === false || inCI ? false : reason;
}
