/**
 * What both demos (`demo`, `demo --websocket`) share: a terminal screen with a log above a table
 * redrawn in place, bounded waits.
 *
 * @module
 */

import type { Output } from "./_runtime.ts";

/** The internal command that runs a demo's scenario in its own process (in its namespace). */
export const CUT_WORKER = "__demo-cut";

/**
 * A promise that rejects when `promise` has not settled within `ms`.
 *
 * @param promise What to wait for.
 * @param ms How long.
 * @param what What is awaited, for the error.
 * @returns `promise`'s outcome.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Waits `ms`, or less once `stop()` says so (checked every 100 ms).
 *
 * @param ms How long at most.
 * @param stop Whether to stop waiting.
 * @returns When done.
 */
export function sleepUnless(ms: number, stop: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const end = performance.now() + ms;
    const check = (): void => {
      if (stop() || performance.now() >= end) resolve();
      else setTimeout(check, Math.min(100, end - performance.now()));
    };
    check();
  });
}

/** Terminal rendering: a log that scrolls above a table that is redrawn in place. */
export class Screen {
  #out: Output;
  #drawn = 0;

  /** @param out Where to draw. */
  constructor(out: Output) {
    this.#out = out;
  }

  /**
   * Prints a log line above the table, and the table again.
   *
   * @param text The line.
   * @param table The table's lines.
   */
  log(text: string, table: string[]): void {
    this.#clear();
    this.#out.line(text);
    this.draw(table);
  }

  /**
   * Draws the table in place of the last one.
   *
   * @param table The table's lines.
   */
  draw(table: string[]): void {
    this.#clear();
    this.#out.raw(`${table.join("\n")}\n`);
    this.#drawn = table.length;
  }

  #clear(): void {
    if (this.#drawn > 0) this.#out.raw(`\x1b[${this.#drawn}F\x1b[J`);
    this.#drawn = 0;
  }
}
