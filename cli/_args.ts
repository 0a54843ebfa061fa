/**
 * Hand-written argument parsing: `--flag value`, `--flag=value`, boolean `--flag`, `--` and
 * positionals. Every error names the flag and what is allowed, and exits with code 2.
 *
 * @module
 */

/** Bad usage: printed with a pointer to the command's help, exit code 2. */
export class UsageError extends Error {
  /** The command whose help to point at, if any. */
  readonly command: string | undefined;

  /**
   * @param message What is wrong, naming the flag and what is allowed.
   * @param command The command whose help explains it.
   */
  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** One flag a command accepts. */
export interface FlagSpec {
  /** `--name`. */
  readonly name: string;
  /** The placeholder of its value (`DURATION`, `SPEC`); none for a boolean flag. */
  readonly value?: string;
  /** One line of help. */
  readonly help: string;
}

/** Flags by name (`true` for a boolean flag) and positionals in order. */
export interface ParsedArgs {
  readonly flags: ReadonlyMap<string, string | true>;
  readonly positionals: readonly string[];
}

/**
 * Parses a command's arguments against its flags.
 *
 * @param args The arguments after the command name.
 * @param specs The flags it accepts (`--help` is always accepted, `-h` is its alias).
 * @param command The command's name, for error messages.
 * @param maxPositionals How many positionals it takes.
 * @returns The flags and positionals.
 * @throws {UsageError} For an unknown flag, a missing value, a repeated flag or a stray positional.
 */
export function parseArgs(
  args: readonly string[],
  specs: readonly FlagSpec[],
  command: string,
  maxPositionals = 0,
): ParsedArgs {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (onlyPositionals || !arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    if (arg === "--") {
      onlyPositionals = true;
      continue;
    }
    if (arg === "-h" || arg === "--help") {
      flags.set("--help", true);
      continue;
    }
    const equals = arg.indexOf("=");
    const name = equals === -1 ? arg : arg.slice(0, equals);
    const spec = byName.get(name);
    if (spec === undefined) {
      const allowed = [...specs.map((s) => s.name), "--help"].join(", ");
      throw new UsageError(`unknown option ${name} for ${command}; allowed: ${allowed}`, command);
    }
    if (flags.has(name)) throw new UsageError(`${name} is given twice`, command);
    if (spec.value === undefined) {
      if (equals !== -1) throw new UsageError(`${name} takes no value, got "${arg}"`, command);
      flags.set(name, true);
      continue;
    }
    let value: string;
    if (equals !== -1) value = arg.slice(equals + 1);
    else {
      const next = args[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2)) {
        throw new UsageError(`${name} needs a value: ${name} ${spec.value}`, command);
      }
      value = next;
      i++;
    }
    if (value === "") throw new UsageError(`${name} needs a value: ${name} ${spec.value}`, command);
    flags.set(name, value);
  }
  if (positionals.length > maxPositionals && !flags.has("--help")) {
    const extra = positionals[maxPositionals];
    throw new UsageError(
      maxPositionals === 0
        ? `${command} takes no arguments, got "${extra}"`
        : `${command} takes ${maxPositionals} argument${
          maxPositionals === 1 ? "" : "s"
        }, got also "${extra}"`,
      command,
    );
  }
  return { flags, positionals };
}

/**
 * Formats flag specs as help lines, aligned.
 *
 * @param specs The flags.
 * @returns One line per flag, indented by two spaces.
 */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const left = specs.map((spec) =>
    spec.value === undefined ? spec.name : `${spec.name} ${spec.value}`
  );
  const width = Math.max(...left.map((text) => text.length)) + 2;
  return specs.map((spec, i) => `  ${left[i].padEnd(width)}${spec.help}`).join("\n");
}
