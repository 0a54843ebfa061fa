/**
 * The cut-cable harness for real-socket tests: a private network namespace per test, processes
 * started inside it, and an nftables table that silently drops a TCP port's packets both ways on
 * the input hook (a cut cable: no RST, no ICMP), then removes them again.
 *
 * Traffic never leaves the namespace: it has only its own loopback. Imports only `node:*` modules
 * and `./_skip.ts`, so test files running under `node --test`, `deno test -A` and `bun test` can all
 * use it.
 *
 * @example Cut a connection and wait for the fixture to notice
 * ```ts
 * import { test } from "node:test";
 * import { netnsSkip, scriptCommand, withNetns } from "./_netns.ts";
 *
 * test("a cut cable is noticed", { skip: netnsSkip() }, async () => {
 *   await withNetns(async (ns) => {
 *     const { cmd, args } = scriptCommand(new URL("./fixtures/raw_echo.mjs", import.meta.url));
 *     const echo = ns.spawn(cmd, args);
 *     const { port } = await echo.next((line) => line.event === "listening", 10_000);
 *     await ns.cut(Number(port));
 *     await echo.next((line) => line.event === "error", 20_000);
 *   });
 * });
 * ```
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { inCI, runtime } from "./_skip.ts";

/** Whether this machine can run the namespace tests, and if not, why. */
export type NetnsAvailability = { ok: true } | { ok: false; reason: string };

/** One line a child printed on stdout, parsed as JSON. */
export type JsonLine = Record<string, unknown>;

/** How a child ended: its exit code, or the signal that ended it. */
export interface ChildExit {
  code: number | null;
  signal: string | null;
}

/** Options for {@linkcode Netns.spawn}. */
export interface SpawnOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Working directory; this process's by default. */
  cwd?: string;
}

/** Options for {@linkcode Netns.exec}. */
export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** How long the command may run; 10 s by default. */
  timeoutMs?: number;
}

/** Options for {@linkcode withNetns}. */
export interface WithNetnsOptions {
  /** How long `fn` may take before it is abandoned and the namespace torn down; 30 s by default. */
  timeoutMs?: number;
}

/**
 * How late past its documented bound a test may see a detection through a real cut. A bound counts
 * from the peer's last sign of life, which is never after the cut is in force (or a hang is sent),
 * so tests start their clock then (after the fixture is ready: process start is not counted), and
 * what this allows is only the machinery between the kernel's verdict and the test reading it:
 *
 * - kernel timer slop: with `CONFIG_HZ=250` the timer wheel files a 1–2 s keepalive or
 *   retransmission timer at an 8-jiffy (32 ms) granularity, and each probe timer is armed from when
 *   the one before fired, so lateness adds up along the chain. Measured on this 2-core machine
 *   (Linux 6.18): the five timers from a last answer to a `2s:1s:3` keepalive death, 50–134 ms
 *   late together (34 runs of `tests/cut_test.ts` over Node 24, Deno and Bun); node:net's eleven
 *   (1 s + 10 × 1 s), about 300 ms (`tests/netns_test.ts`);
 * - the scheduler: the fixture's event loop, then the test's, wake on 2 cores shared with another
 *   runner (a heartbeat's bound already counts its monitor's ticks);
 * - the JSON line through a pipe to the test: under 5 ms measured.
 *
 * In those runs every detection came at least 196 ms before its bound (cut tests: 384 ms): the
 * tests cut half a second or more after the last answered probe, and the kernel counts from that
 * answer. Where a probe is answered just before the cut the slop shows: in 10 runs of
 * `tests/stress_test.ts` (2,000 connections, two runners at once) the latest death was 96 ms past
 * the bound, counted from before the cut. So 300 ms leaves a busy machine room to run timers late,
 * and fails a cut test whose detection comes 0.5–0.7 s later than today's (10–14 % of the 5 s
 * keepalive bound; the old 1.5 s margin let 2 s through).
 */
export const DETECTION_TOLERANCE_MS = 300;

/** Milliseconds from `since` to when this process read `line` from `child`. */
export function after(child: NetnsChild, line: JsonLine, since: number): number {
  return Math.round(child.receivedAt(line) - since);
}

/**
 * Checks that a detection came within its bound plus `tolerance`, and says how it went (on stderr,
 * which every runner shows).
 */
export function withinBound(
  what: string,
  detectedMs: number,
  boundMs: number,
  tolerance: number = DETECTION_TOLERANCE_MS,
): void {
  process.stderr.write(
    `# ${runtime} ${what}: ${detectedMs} ms (bound ${boundMs} ms, ${
      detectedMs - boundMs
    } ms over)\n`,
  );
  assert.ok(
    detectedMs <= boundMs + tolerance,
    `${what}: ${detectedMs} ms, over the bound ${boundMs} ms + ${tolerance} ms`,
  );
}

const PREFIX = "sl-";
const TABLE = "sl_cut";
const COMMAND_TIMEOUT_MS = 10_000;
const KILL_WAIT_MS = 5_000;
const TAIL_CHARS = 2_000;

let counter = 0;
let probed: NetnsAvailability | undefined;
/** Namespaces this process created and has not deleted yet, for the exit hook. */
const live = new Set<string>();
let exitHookInstalled = false;

// ---- runtimes --------------------------------------------------------------------------------

export { runtime, type RuntimeName } from "./_skip.ts";

const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;

/**
 * The command that runs a script with the same runtime (and binary) as this test, so a fixture
 * started by a Deno test runs on that Deno.
 *
 * @param script The script, as a `file:` URL or a path.
 * @param args Arguments passed to the script.
 * @returns The command and its arguments, ready for {@linkcode Netns.spawn}.
 */
export function scriptCommand(script: URL | string, args: string[] = []): {
  cmd: string;
  args: string[];
} {
  const path = script instanceof URL ? fileURLToPath(script) : script;
  if (deno !== undefined) return { cmd: deno.execPath(), args: ["run", "-A", path, ...args] };
  return { cmd: process.execPath, args: [path, ...args] };
}

// ---- commands --------------------------------------------------------------------------------

const tools = new Map<string, string>();

/** `ip` and `nft` live in sbin, which a test runner's PATH may lack. */
function tool(name: string): string {
  let path = tools.get(name);
  if (path === undefined) {
    const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/bin"];
    path = dirs.filter(Boolean).map((dir) => join(dir, name)).find((file) => existsSync(file)) ??
      name;
    tools.set(name, path);
  }
  return path;
}

/** A bare name like `nft` or `ss` found the way {@linkcode tool} finds it; a path as it is. */
function command(cmd: string): string {
  return cmd.includes("/") ? cmd : tool(cmd);
}

function tail(text: string): string {
  const trimmed = text.trimEnd();
  return trimmed.length > TAIL_CHARS ? `…${trimmed.slice(-TAIL_CHARS)}` : trimmed;
}

function describe(cmd: string, args: string[]): string {
  return [cmd, ...args].join(" ");
}

/** Runs a command to completion; for the probe and the exit hook, where nothing may wait. */
function runSync(
  cmd: string,
  args: string[],
  input?: string,
): { ok: true; stdout: string } | { ok: false; error: string } {
  const result = spawnSync(cmd, args, {
    input,
    encoding: "utf8",
    timeout: COMMAND_TIMEOUT_MS,
    stdio: ["pipe", "pipe", "pipe"],
  });
  if (result.error) return { ok: false, error: `${describe(cmd, args)}: ${result.error.message}` };
  if (result.status !== 0) {
    const how = result.signal ? `signal ${result.signal}` : `exit code ${result.status}`;
    return { ok: false, error: `${describe(cmd, args)} failed (${how}): ${tail(result.stderr)}` };
  }
  return { ok: true, stdout: result.stdout };
}

/** Runs a command to completion within a bound; resolves with stdout, rejects with stderr. */
function run(cmd: string, args: string[], options: ExecOptions = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk);
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${describe(cmd, args)}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout);
      const how = timedOut
        ? `timed out after ${timeoutMs} ms`
        : signal
        ? `signal ${signal}`
        : `exit code ${code}`;
      reject(new Error(`${describe(cmd, args)} failed (${how}): ${tail(stderr)}`));
    });
    child.stdin.on("error", () => {}); // a command that exits without reading its input
    child.stdin.end(options.input ?? "");
  });
}

// ---- availability and leftovers ----------------------------------------------------------------

function nextName(): string {
  return `${PREFIX}${process.pid}-${++counter}`;
}

function probe(): NetnsAvailability {
  if (process.platform !== "linux") {
    return { ok: false, reason: `network namespaces need Linux, this is ${process.platform}` };
  }
  const uid = process.getuid?.();
  if (uid !== 0) return { ok: false, reason: `network namespaces need root, this is uid ${uid}` };
  const name = nextName();
  const added = runSync(tool("ip"), ["netns", "add", name]);
  if (!added.ok) return { ok: false, reason: `cannot create a network namespace: ${added.error}` };
  try {
    // Proves the kernel's nf_tables works in a namespace, not only that nft is installed.
    const nft = runSync(
      tool("ip"),
      ["netns", "exec", name, tool("nft"), "-f", "-"],
      "add table inet sl_probe\ndelete table inet sl_probe\n",
    );
    if (!nft.ok) {
      return { ok: false, reason: `cannot run nft in a network namespace: ${nft.error}` };
    }
  } finally {
    deleteNamespaceSync(name);
  }
  return { ok: true };
}

/**
 * Whether this machine can run the namespace tests: Linux, root, and `ip netns` and `nft` working.
 * Probed once per process. In CI (`CI` set to any truthy value: `true`, `1`, `yes`…) an unusable
 * machine is a failure instead, so a broken runner cannot pass by skipping. `LIVENESS_SKIP_NETNS=1`
 * skips on purpose, CI or not.
 *
 * @returns `{ ok: true }`, or `{ ok: false, reason }`.
 * @throws {Error} In CI when namespaces are unavailable and `LIVENESS_SKIP_NETNS` is not `1`;
 * call it inside a test so that this fails the test rather than the file.
 */
export function netnsAvailable(): NetnsAvailability {
  if (process.env.LIVENESS_SKIP_NETNS === "1") {
    return { ok: false, reason: "network namespace tests skipped: LIVENESS_SKIP_NETNS=1" };
  }
  probed ??= probe();
  if (!probed.ok && inCI) {
    throw new Error(
      `Network namespace tests cannot run in CI: ${probed.reason}; set LIVENESS_SKIP_NETNS=1 to skip them`,
    );
  }
  return probed.ok
    ? probed
    : { ok: false, reason: `network namespace tests skipped: ${probed.reason}` };
}

/**
 * The `skip` option of a test that needs namespaces, decided when the test is defined (see
 * `tests/_skip.ts`: an in-body `t.skip()` counts as passed on Deno): `false` when they work here,
 * otherwise the reason. In CI it is `false` without probing: the test runs, and its
 * {@linkcode withNetns} fails with the reason. `LIVENESS_SKIP_NETNS=1` skips on purpose, CI or not.
 *
 * @returns What to pass as the test's `skip` option.
 */
export function netnsSkip(): string | false {
  if (process.env.LIVENESS_SKIP_NETNS === "1") {
    return "network namespace tests skipped: LIVENESS_SKIP_NETNS=1";
  }
  if (inCI) return false;
  const availability = netnsAvailable();
  return availability.ok ? false : availability.reason;
}

function pidsIn(name: string): number[] {
  const listed = runSync(tool("ip"), ["netns", "pids", name]);
  return listed.ok ? listed.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Ends everything still running in a namespace, then deletes it. Errors are ignored. */
function deleteNamespaceSync(name: string): void {
  for (const pid of pidsIn(name)) killPid(pid);
  runSync(tool("ip"), ["netns", "delete", name]);
  live.delete(name);
}

/** Every namespace name `ip netns list` shows. */
export function namespaceNames(): string[] {
  const listed = runSync(tool("ip"), ["netns", "list"]);
  // Lines look like `sl-123-1 (id: 0)`, or only the name when it has no id yet.
  return listed.ok
    ? listed.stdout.split("\n").map((line) => line.split(" ")[0]).filter(Boolean)
    : [];
}

/**
 * Deletes the namespaces of earlier runs that died before cleaning up (killed, or the runner timed
 * out): those named `sl-<pid>-<n>` whose process no longer exists.
 */
function removeStaleNamespaces(): void {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return;
  for (const name of namespaceNames()) {
    const pid = new RegExp(`^${PREFIX}(\\d+)-\\d+$`).exec(name)?.[1];
    if (pid !== undefined && !existsSync(`/proc/${pid}`)) deleteNamespaceSync(name);
  }
}

removeStaleNamespaces();

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A runner that exits while a test still runs (its own timeout, a crash) skips `finally`.
  process.on("exit", () => {
    for (const name of [...live]) deleteNamespaceSync(name);
  });
}

// ---- children --------------------------------------------------------------------------------

/** A process started inside a namespace, its stdout read as JSON lines. */
export class NetnsChild {
  /** The process id (`ip netns exec` execs the command, so this is the command's own). */
  readonly pid: number;
  /** Every JSON line printed so far, in order. */
  readonly lines: JsonLine[] = [];
  /** Settles when the process has ended and its output is read. */
  readonly exited: Promise<ChildExit>;
  readonly #label: string;
  readonly #child: ChildProcess;
  readonly #taken = new Set<number>();
  readonly #arrivals: number[] = []; // performance.now() when each line was read, by index
  readonly #waiters = new Set<() => void>();
  #exit: ChildExit | null = null;
  #partial = "";
  #stderr = "";
  #other = ""; // stdout lines that are not JSON, for error messages

  /**
   * Starts `cmd` with `ip netns exec`; use {@linkcode Netns.spawn}.
   *
   * @param namespace The namespace to run in.
   * @param cmd The command.
   * @param args Its arguments.
   * @param options Environment and working directory.
   */
  constructor(namespace: string, cmd: string, args: string[], options: SpawnOptions = {}) {
    this.#label = `${describe(cmd, args)} (in ${namespace})`;
    this.#child = spawn(tool("ip"), ["netns", "exec", namespace, command(cmd), ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.pid = this.#child.pid ?? -1;
    this.#child.stdout!.setEncoding("utf8").on("data", (chunk: string) => this.#read(chunk));
    this.#child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-TAIL_CHARS);
    });
    this.#child.stdin!.on("error", () => {}); // writes after the child died
    this.exited = new Promise((resolve) => {
      const done = (exit: ChildExit): void => {
        if (this.#exit !== null) return;
        this.#exit = exit;
        this.#wake();
        resolve(exit);
      };
      this.#child.on("error", (error) => {
        this.#stderr += `\n${error.message}`;
        done({ code: null, signal: null });
      });
      this.#child.on("close", (code, signal) => {
        this.#read("\n"); // a last line without its newline
        done({ code, signal });
      });
    });
  }

  /**
   * When a line was read, from `performance.now()`: the moment this process saw it, however long
   * after that a {@linkcode NetnsChild.next} call returns it.
   *
   * @param line One of {@linkcode NetnsChild.lines}.
   * @returns The time it was read.
   * @throws {RangeError} When the line is not one of this child's.
   */
  receivedAt(line: JsonLine): number {
    const index = this.lines.indexOf(line);
    if (index === -1) throw new RangeError("receivedAt: not a line of this child");
    return this.#arrivals[index];
  }

  /** The last part of what the child wrote to stderr. */
  get stderr(): string {
    return tail(this.#stderr);
  }

  /**
   * Waits for the first line, not returned by an earlier call, that matches. Lines printed before
   * the call count, so a wait cannot miss a line that came early.
   *
   * @param predicate Chooses the line.
   * @param timeoutMs How long to wait.
   * @returns The line.
   * @throws {Error} On timeout or when the child ends first, with its stderr tail.
   */
  next(predicate: (line: JsonLine) => boolean, timeoutMs: number): Promise<JsonLine> {
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      const check = (): void => {
        try {
          const index = this.lines.findIndex((line, i) => !this.#taken.has(i) && predicate(line));
          if (index !== -1) {
            this.#taken.add(index);
            finish();
            resolve(this.lines[index]);
          } else if (this.#exit !== null) {
            finish();
            const { code, signal } = this.#exit;
            const how = signal ? `signal ${signal}` : `exit code ${code}`;
            reject(
              new Error(`${this.#label} ended (${how}) before a matching line${this.#context()}`),
            );
          }
        } catch (error) {
          finish();
          reject(error);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(`${this.#label} printed no matching line in ${timeoutMs} ms${this.#context()}`),
        );
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Writes one JSON line to the child's stdin.
   *
   * @param value What to write.
   */
  write(value: unknown): void {
    this.#child.stdin!.write(`${JSON.stringify(value)}\n`);
  }

  /**
   * Writes one line of text to the child's stdin, as it is (a fixture command like `hang`).
   *
   * @param line The text, without the newline.
   */
  command(line: string): void {
    this.#child.stdin!.write(`${line}\n`);
  }

  /**
   * Kills the child with SIGKILL and waits until it has ended.
   *
   * @returns How it ended.
   * @throws {Error} When it has not ended within 5 s.
   */
  async kill(): Promise<ChildExit> {
    if (this.#exit === null) this.#child.kill("SIGKILL");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.#label} did not end within ${KILL_WAIT_MS} ms of SIGKILL`)),
        KILL_WAIT_MS,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #read(chunk: string): void {
    const parts = (this.#partial + chunk).split("\n");
    this.#partial = parts.pop() ?? "";
    for (const text of parts) {
      if (text.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        value = undefined;
      }
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        this.lines.push(value as JsonLine);
        this.#arrivals.push(performance.now());
      } else {
        this.#other = (this.#other + text + "\n").slice(-TAIL_CHARS);
      }
    }
    this.#wake();
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #context(): string {
    const lines = this.lines.slice(-10).map((line) => JSON.stringify(line)).join("\n");
    return [
      `\n-- last stdout lines --\n${lines || "(none)"}`,
      this.#other ? `\n-- other stdout --\n${tail(this.#other)}` : "",
      `\n-- stderr tail --\n${this.stderr || "(empty)"}`,
    ].join("");
  }
}

// ---- the namespace ---------------------------------------------------------------------------

function checkPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`${name} must be an integer from 1 to 65535, got ${port}`);
  }
}

/** A private network namespace with only a loopback interface; made by {@linkcode withNetns}. */
export class Netns {
  /** The namespace's name, as `ip netns` knows it. */
  readonly name: string;
  readonly #children = new Set<NetnsChild>();

  /**
   * Wraps an existing namespace; use {@linkcode withNetns}, which also creates and deletes it.
   *
   * @param name The namespace's name.
   */
  constructor(name: string) {
    this.name = name;
  }

  /**
   * Starts a process in the namespace. It is killed when the namespace is torn down.
   *
   * @param cmd The command.
   * @param args Its arguments.
   * @param options Environment and working directory.
   * @returns The running child.
   */
  spawn(cmd: string, args: string[], options?: SpawnOptions): NetnsChild {
    const child = new NetnsChild(this.name, cmd, args, options);
    this.#children.add(child);
    return child;
  }

  /**
   * Runs a command in the namespace to completion.
   *
   * @param cmd The command.
   * @param args Its arguments.
   * @param options Its stdin and time limit (10 s by default).
   * @returns Its stdout.
   * @throws {Error} When it fails or times out, with its stderr.
   */
  exec(cmd: string, args: string[], options?: ExecOptions): Promise<string> {
    return run(tool("ip"), ["netns", "exec", this.name, command(cmd), ...args], options);
  }

  /**
   * Cuts the cable for one TCP port: drops every packet to or from it, in both directions, without
   * RST or ICMP. Adds to earlier cuts; {@linkcode Netns.heal} removes them all.
   *
   * @param port The port, usually a listener's.
   * @param direction Which way to drop; only `"both"` so far.
   */
  async cut(port: number, direction: "both" = "both"): Promise<void> {
    if (direction !== "both") throw new RangeError(`direction must be "both", got ${direction}`);
    checkPort("port", port);
    await this.#drop(String(port));
  }

  /**
   * Cuts the cable for a range of TCP ports, like {@linkcode Netns.cut}.
   *
   * @param from The first port.
   * @param to The last port, included.
   */
  async cutPorts(from: number, to: number): Promise<void> {
    checkPort("from", from);
    checkPort("to", to);
    if (from > to) throw new RangeError(`from must not exceed to, got ${from} and ${to}`);
    await this.#drop(from === to ? String(from) : `${from}-${to}`);
  }

  /** Removes every cut: the `inet sl_cut` table goes, and traffic flows again. */
  async heal(): Promise<void> {
    // `add` first makes the delete succeed when nothing was cut (nft 1.0.6 has no `destroy`).
    await this.#nft(`add table inet ${TABLE}\ndelete table inet ${TABLE}\n`);
  }

  /** Kills every child and everything else in the namespace, then deletes it. */
  async close(): Promise<void> {
    const ended = Promise.allSettled([...this.#children].map((child) => child.kill()));
    for (const pid of pidsIn(this.name)) killPid(pid); // what the children started in turn
    const stuck = (await ended).filter((result) => result.status === "rejected");
    try {
      await run(tool("ip"), ["netns", "delete", this.name]);
    } finally {
      live.delete(this.name);
    }
    if (stuck.length > 0) {
      throw new Error(`${stuck.length} process(es) in ${this.name} did not end after SIGKILL`);
    }
  }

  async #drop(ports: string): Promise<void> {
    // Only the input hook: a packet dropped on output would be a local send error for the sender's
    // kernel, which retransmits differently; dropped on input it is lost on the wire, as in a cut.
    const rules = ["input"].flatMap((chain) => [
      `add chain inet ${TABLE} ${chain} { type filter hook ${chain} priority filter; policy accept; }`,
      `add rule inet ${TABLE} ${chain} tcp dport ${ports} drop`,
      `add rule inet ${TABLE} ${chain} tcp sport ${ports} drop`,
    ]);
    await this.#nft([`add table inet ${TABLE}`, ...rules, ""].join("\n"));
  }

  async #nft(script: string): Promise<void> {
    await this.exec("nft", ["-f", "-"], { input: script });
  }
}

/**
 * Runs `fn` with a fresh network namespace whose loopback is up, then always tears it down: every
 * process in it is killed and the namespace deleted, whether `fn` resolves, throws or times out.
 *
 * @param fn The test body.
 * @param options The time limit for `fn` (30 s by default).
 * @returns What `fn` resolved with.
 * @throws {Error} When namespaces are unavailable here (with the reason: see
 * {@linkcode netnsAvailable}); what `fn` threw; a timeout; or a failure to create or delete the
 * namespace.
 */
export async function withNetns<T>(
  fn: (ns: Netns) => Promise<T>,
  options: WithNetnsOptions = {},
): Promise<T> {
  const availability = netnsAvailable();
  if (!availability.ok) throw new Error(availability.reason);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const name = nextName();
  installExitHook();
  live.add(name);
  const ns = new Netns(name);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let result: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    await run(tool("ip"), ["netns", "add", name]);
    await ns.exec("ip", ["link", "set", "lo", "up"]);
    const body = fn(ns);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        body.catch(() => {}); // it fails later, as its children die; nobody is listening then
        reject(new Error(`withNetns: the test body did not settle within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    result = { ok: true, value: await Promise.race([body, timeout]) };
  } catch (error) {
    result = { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
  try {
    await ns.close();
  } catch (error) {
    deleteNamespaceSync(name);
    if (result.ok) throw error;
  }
  if (!result.ok) throw result.error;
  return result.value;
}
