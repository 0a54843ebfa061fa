// The JSON lines every benchmark script prints, in the shape core.ts uses (runtime, version, n,
// metric, median, min, max, runs, unit; goal and met where a goal applies), so that run.mjs
// collects and tabulates them alike. Runtime-neutral: node:process only.

import process from "node:process";

/** A goal on the median: an upper bound (`max`) or a lower bound (`min`). */
export interface Goal {
  readonly max?: number;
  readonly min?: number;
  readonly text: string;
}

/** One measurement line. */
export interface Result {
  readonly runtime: string;
  readonly version: string;
  readonly n: number;
  readonly metric: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
  readonly unit: string;
  readonly goal?: string;
  readonly met?: boolean;
  /** What the reader needs to know about this line (a goal measured differently, a skip). */
  readonly note?: string;
}

/** Linear interpolation between the closest ranks of a sorted array. */
export function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/** Four significant digits, as core.ts prints. */
export function round(x: number): number {
  return Number(x.toPrecision(4));
}

/** Collects results, prints each as a JSON line on stdout, and a table on stderr at the end. */
export class Recorder {
  readonly results: Result[] = [];
  readonly #runtime: string;
  readonly #version: string;

  constructor(runtime: string, version: string) {
    this.#runtime = runtime;
    this.#version = version;
  }

  /** Records the median and range of `samples` (at least one) against an optional goal. */
  record(
    n: number,
    metric: string,
    unit: string,
    samples: readonly number[],
    goal?: Goal,
    note?: string,
  ): Result | undefined {
    if (samples.length === 0) return undefined;
    const sorted = [...samples].sort((a, b) => a - b);
    const median = quantile(sorted, 0.5);
    const result: Result = {
      runtime: this.#runtime,
      version: this.#version,
      n,
      metric,
      median: round(median),
      min: round(sorted[0]),
      max: round(sorted[sorted.length - 1]),
      runs: sorted.length,
      unit,
      ...(goal === undefined ? {} : {
        goal: goal.text,
        met: (goal.max === undefined || median <= goal.max) &&
          (goal.min === undefined || median >= goal.min),
      }),
      ...(note === undefined ? {} : { note }),
    };
    this.results.push(result);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result;
  }

  /** A readable table of what was recorded. */
  table(): string {
    const rows = this.results.map((r) => [
      r.metric,
      String(r.n),
      `${r.median}`,
      `${r.min}–${r.max}`,
      r.unit,
      String(r.runs),
      r.goal === undefined ? "" : `${r.met ? "met" : "NOT MET"}: ${r.goal}`,
    ]);
    const head = ["metric", "n", "median", "min–max", "unit", "runs", "goal"];
    const width = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
    const line = (cells: string[]): string =>
      cells.map((cell, c) => c === 0 ? cell.padEnd(width[c]) : cell.padStart(width[c])).join("  ")
        .trimEnd();
    return [line(head), ...rows.map(line)].join("\n");
  }
}

/** `--quick`, `--full` and `--only a,b` (from the given choices), as every script here takes them. */
export function commonArgs<G extends string>(
  argv: readonly string[],
  groups: readonly G[],
  usage: string,
  extra: Record<string, (value: string) => void> = {},
): { quick: boolean; groups: Set<G> } {
  let quick = false;
  let chosen = new Set<G>(groups);
  const fail = (message: string): never => {
    process.stderr.write(`${message}\nUsage: ${usage}\n`);
    process.exit(2);
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = (): string => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) fail(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === "--quick") quick = true;
    else if (flag === "--full") quick = false;
    else if (flag === "--only") {
      chosen = new Set(
        value().split(",").filter(Boolean).map((name) => {
          if (!(groups as readonly string[]).includes(name)) {
            fail(`--only takes ${groups.join(", ")}, got ${name}`);
          }
          return name as G;
        }),
      );
    } else if (extra[flag] !== undefined) extra[flag](value());
    else fail(`Unknown argument ${argv[i]}`);
  }
  return { quick, groups: chosen };
}
