/**
 * The process's open descriptors, for the adapters whose runtime has `node:fs` (Node's and Bun's):
 * where a listener or an accepted connection is looked for by its address.
 *
 * @module
 */

import { readdirSync } from "node:fs";

/**
 * The process's open descriptors, from `/proc/self/fd`, in order.
 *
 * @returns The descriptors, or `undefined` where there is no `/proc/self/fd`.
 */
export function descriptors(): readonly number[] | undefined {
  try {
    return readdirSync("/proc/self/fd").map(Number).filter(Number.isInteger).sort((a, b) => a - b);
  } catch {
    return undefined;
  }
}
