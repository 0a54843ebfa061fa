/**
 * A private network namespace for the demo's cut cable: created with `ip netns`, its loopback up,
 * a port cut with an nftables drop rule on the input hook, and always deleted (at the end, on a
 * signal, or when the process exits). Traffic in it never leaves it: it has only its loopback.
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import process from "node:process";

const PREFIX = "slcli-";
const TABLE = "slcli_cut";
const COMMAND_TIMEOUT_MS = 10_000;

let counter = 0;
const live = new Set<string>();
let hooked = false;

/** `ip` and `nft` live in sbin, which PATH may lack. */
function tool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/bin"];
  return dirs.filter(Boolean).map((dir) => join(dir, name)).find((path) => existsSync(path));
}

function tail(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > 500 ? `…${trimmed.slice(-500)}` : trimmed;
}

/** Runs a command to completion within 10 s; resolves with stdout, rejects with stderr. */
function run(cmd: string, args: readonly string[], input = ""): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), COMMAND_TIMEOUT_MS);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk);
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk);
    child.stdin.on("error", () => {});
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(" ")}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else {
        const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
        reject(new Error(`${cmd} ${args.join(" ")} failed (${how}): ${tail(stderr)}`));
      }
    });
    child.stdin.end(input);
  });
}

function pidsIn(ip: string, name: string): number[] {
  const listed = spawnSync(ip, ["netns", "pids", name], { encoding: "utf8", timeout: 5_000 });
  return (listed.stdout ?? "").split(/\s+/).filter(Boolean).map(Number);
}

/** Kills what runs in a namespace and deletes it; synchronous, for exit hooks. Never throws. */
function deleteSync(ip: string, name: string): void {
  for (const pid of pidsIn(ip, name)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  spawnSync(ip, ["netns", "delete", name], { timeout: 5_000 });
  live.delete(name);
}

/** Deletes namespaces of earlier demos whose process is gone (killed before cleaning up). */
function removeStale(ip: string): void {
  const listed = spawnSync(ip, ["netns", "list"], { encoding: "utf8", timeout: 5_000 });
  for (const line of (listed.stdout ?? "").split("\n")) {
    const name = line.split(" ")[0];
    const pid = new RegExp(`^${PREFIX}(\\d+)-\\d+$`).exec(name)?.[1];
    if (pid !== undefined && !existsSync(`/proc/${pid}`)) deleteSync(ip, name);
  }
}

/** A namespace made by {@linkcode createNamespace}. */
export interface Namespace {
  /** Its name, as `ip netns` knows it. */
  readonly name: string;
  /** Starts a process in it. */
  spawn(cmd: string, args: readonly string[]): ChildProcess;
  /** Drops every TCP packet to or from `port` on the input hook: a cut cable, no RST, no ICMP. */
  cut(port: number): Promise<void>;
  /** Kills everything in it and deletes it. Never throws. */
  close(): Promise<void>;
}

/**
 * Creates a namespace with its loopback up, after checking that this machine allows it (Linux,
 * root, `ip netns` and `nft` working inside it).
 *
 * @returns The namespace, or why there can be none here.
 */
export async function createNamespace(): Promise<
  { ok: true; ns: Namespace } | { ok: false; reason: string }
> {
  if (process.platform !== "linux") {
    return { ok: false, reason: `network namespaces need Linux, this is ${process.platform}` };
  }
  const uid = process.getuid?.();
  if (uid !== 0) return { ok: false, reason: `a network namespace needs root, this is uid ${uid}` };
  const ip = tool("ip");
  const nft = tool("nft");
  if (ip === undefined) return { ok: false, reason: "ip (iproute2) is not installed" };
  if (nft === undefined) return { ok: false, reason: "nft (nftables) is not installed" };
  removeStale(ip);
  const name = `${PREFIX}${process.pid}-${++counter}`;
  if (!hooked) {
    hooked = true;
    process.on("exit", () => {
      for (const left of [...live]) deleteSync(ip, left);
    });
  }
  try {
    await run(ip, ["netns", "add", name]);
  } catch (error) {
    return { ok: false, reason: `cannot create a network namespace: ${(error as Error).message}` };
  }
  live.add(name);
  const exec = (cmd: string, args: readonly string[], input?: string) =>
    run(ip, ["netns", "exec", name, cmd, ...args], input);
  try {
    await exec(ip, ["link", "set", "lo", "up"]);
    // Proves nf_tables works in the namespace, not only that nft is installed.
    await exec(nft, ["-f", "-"], `add table inet ${TABLE}\ndelete table inet ${TABLE}\n`);
  } catch (error) {
    deleteSync(ip, name);
    return {
      ok: false,
      reason: `cannot use nftables in a network namespace: ${(error as Error).message}`,
    };
  }
  let closed = false;
  return {
    ok: true,
    ns: {
      name,
      spawn: (cmd, args) =>
        spawn(ip, ["netns", "exec", name, cmd, ...args], { stdio: ["pipe", "pipe", "pipe"] }),
      async cut(port) {
        // Only the input hook: dropped there a packet is lost on the wire, as in a cut; dropped on
        // output it would be a local send error, which the sender's kernel handles differently.
        await exec(
          nft,
          ["-f", "-"],
          [
            `add table inet ${TABLE}`,
            `add chain inet ${TABLE} input { type filter hook input priority filter; policy accept; }`,
            `add rule inet ${TABLE} input tcp dport ${port} drop`,
            `add rule inet ${TABLE} input tcp sport ${port} drop`,
            "",
          ].join("\n"),
        );
      },
      close() {
        if (!closed) {
          closed = true;
          deleteSync(ip, name);
        }
        return Promise.resolve();
      },
    },
  };
}
