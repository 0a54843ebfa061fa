// Helpers for option validation; messages name the option and the allowed range.

/** A short description of a bad value for an error message. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "object") return "an object";
  if (typeof value === "function") return "a function";
  return `${typeof value} ${String(value)}`;
}

/** Checks that a value is an integer in [min, max]. */
export function integerIn(value: unknown, option: string, min: number, max: number): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Option "${option}" must be an integer from ${min} to ${max}, got ${describe(value)}`,
    );
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Option "${option}" must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/** Checks that a value is a plain object (or undefined when optional). */
export function objectOrUndefined(
  value: unknown,
  option: string,
): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(`Option "${option}" must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Checks that a value is a function (or undefined when optional). */
export function functionOrUndefined<T>(value: unknown, option: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") {
    throw new TypeError(`Option "${option}" must be a function, got ${describe(value)}`);
  }
  return value as T;
}

/** Rejects keys an options object does not know, so a typo is not a silent no-op. */
export function knownKeys(
  object: Record<string, unknown>,
  option: string,
  keys: readonly string[],
): void {
  for (const key of Object.keys(object)) {
    if (!keys.includes(key)) {
      throw new TypeError(
        `Unknown option "${option ? option + "." : ""}${key}": expected one of ${keys.join(", ")}`,
      );
    }
  }
}

/**
 * The message of an error: its `message`, or the value as text.
 *
 * @param error What was thrown.
 * @returns The text.
 */
export function messageOf(error: unknown): string {
  return (error as Error | undefined)?.message ?? String(error);
}
