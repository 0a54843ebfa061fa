/**
 * `probe HOST:PORT`: one connection through this runtime's adapter, its tuning report, then its
 * state, the kernel's view and every transition, live, until it dies or the user stops it.
 *
 * @module
 */

import { classifyError, type DeathReason } from "../mod.ts";
import { type FlagSpec, type ParsedArgs, UsageError } from "./_args.ts";
import {
  duration,
  formatReport,
  type KernelJson,
  kernelJson,
  REASONS,
  seconds,
} from "./_format.ts";
import { type Change, type Events, loadKit, type Watched } from "./_kit.ts";
import { describeTuning, TUNING_FLAGS, tuningFrom } from "./_options.ts";
import { onInterrupt, type Output, runtime, runtimeVersion } from "./_runtime.ts";

/** The flags of `probe`. */
export const PROBE_FLAGS: readonly FlagSpec[] = [
  ...TUNING_FLAGS,
  {
    name: "--ping",
    value: "TEXT",
    help:
      'the heartbeat ping\'s bytes (escapes \\n \\r \\t \\xHH), e.g. "PING\\n"; any reply answers it',
  },
  {
    name: "--no-ffi",
    help: "tune with the runtime's own API only (TCP_INFO is still read)",
  },
  { name: "--runtime", value: "NAME", help: "run under node, deno or bun" },
  { name: "--json", help: "JSON lines on stdout" },
];

const SAMPLE_MS = 1000;

/**
 * Parses `HOST:PORT` (`[v6]:PORT` for IPv6).
 *
 * @param text The argument.
 * @returns Host and port.
 * @throws {UsageError} When it is not `HOST:PORT` with a port from 1 to 65535.
 */
export function parseTarget(text: string | undefined): { host: string; port: number } {
  if (text === undefined) {
    throw new UsageError("probe needs HOST:PORT, e.g. probe 127.0.0.1:8080", "probe");
  }
  const match = /^\[([^\]]+)\]:([^:]*)$/.exec(text) ?? /^([^:[\]]+):([^:]*)$/.exec(text);
  if (match === null) {
    throw new UsageError(
      `probe needs HOST:PORT (IPv6 in brackets, [::1]:8080), got "${text}"`,
      "probe",
    );
  }
  const port = /^\d+$/.test(match[2]) ? Number(match[2]) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new UsageError(
      `the port of HOST:PORT must be from 1 to 65535, got "${match[2]}"`,
      "probe",
    );
  }
  return { host: match[1], port };
}

/** Decodes `\n`, `\r`, `\t`, `\0`, `\\` and `\xHH` in `--ping`. */
function unescape(text: string): Uint8Array {
  const decoded = text.replace(/\\(x[0-9a-fA-F]{2}|[nrt0\\])/g, (_, code: string) => {
    if (code.startsWith("x")) return String.fromCharCode(parseInt(code.slice(1), 16));
    return { n: "\n", r: "\r", t: "\t", "0": "\0", "\\": "\\" }[code]!;
  });
  return Uint8Array.from(decoded, (char) => char.charCodeAt(0) & 0xff);
}

/**
 * Runs `probe`.
 *
 * @param parsed The parsed arguments.
 * @param out Where to print.
 * @returns 0 when closed in order or stopped by the user, 1 when the connection died or could
 * not be made.
 * @throws {UsageError} For bad flags.
 */
export async function probe(parsed: ParsedArgs, out: Output): Promise<number> {
  const target = parseTarget(parsed.positionals[0]);
  const tuning = tuningFrom(parsed, "probe");
  const pingText = parsed.flags.get("--ping");
  const ping = typeof pingText === "string" ? unescape(pingText) : undefined;
  if (tuning.heartbeat !== undefined && ping === undefined) {
    throw new UsageError(
      "--heartbeat needs --ping TEXT: the bytes probe sends as its ping (any reply answers it)",
      "probe",
    );
  }
  if (ping !== undefined && tuning.heartbeat === undefined) {
    throw new UsageError(
      "--ping needs --heartbeat INTERVAL/TIMEOUT to say when to send it",
      "probe",
    );
  }
  const json = parsed.flags.has("--json");
  const ffi = !parsed.flags.has("--no-ffi");
  const kit = await loadKit(runtime);
  const started = performance.now();
  const t = (): number => Math.round(performance.now() - started);
  const emit = (line: Record<string, unknown>): void => out.line(JSON.stringify(line));

  let watched: Watched | undefined;
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => finish = resolve);
  let stoppedByUser = false;
  let peerEnded = false;
  let pingAt: number | undefined;
  let rttMs: number | undefined;

  const ended = (change: Change): void => {
    if (change.to === "dead") {
      const reason = change.reason as DeathReason;
      const message = change.error instanceof Error ? change.error.message : undefined;
      if (json) {
        emit({ event: "end", t: t(), how: "dead", reason, message: message ?? null, code: 1 });
      } else {
        out.line(`dead: ${reason}: ${REASONS[reason] ?? reason}${message ? ` (${message})` : ""}`);
      }
      finish(1);
    } else if (change.to === "closed") {
      const why = stoppedByUser
        ? "stopped by the user"
        : peerEnded
        ? "the peer ended the connection"
        : change.reason;
      if (json) emit({ event: "end", t: t(), how: "closed", reason: why, code: 0 });
      else out.line(`closed in order: ${why}`);
      finish(0);
    }
  };
  const events: Events = {
    transition(change) {
      if (watched === undefined) return; // a failed connect is reported below
      if (json) {
        emit({
          event: "transition",
          t: t(),
          from: change.from,
          to: change.to,
          reason: change.reason,
        });
      } else {
        out.line(`  ${seconds(t()).padEnd(9)}${change.from} -> ${change.to} (${change.reason})`);
      }
      ended(change);
    },
    end() {
      peerEnded = true;
      if (json) emit({ event: "fin", t: t() });
      else out.line(`  ${seconds(t()).padEnd(9)}the peer ended its side (FIN): closing ours`);
      watched?.close();
    },
    ping() {
      pingAt = performance.now();
    },
    data() {
      if (pingAt !== undefined) rttMs = performance.now() - pingAt;
      pingAt = undefined;
    },
  };

  const policy = {
    keepalive: tuning.keepalive,
    heartbeat: tuning.heartbeat,
    idleTimeout: tuning.idleTimeout,
    resolution: tuning.resolution,
  };
  const where = `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
  try {
    watched = await kit.connect(target.host, target.port, policy, events, { ffi, ping });
  } catch (error) {
    const reason = classifyError(error);
    const message = (error as Error)?.message ?? String(error);
    if (json) emit({ event: "end", t: t(), how: "failed", reason, message, code: 1 });
    else out.error(`socket-liveness: cannot connect to ${where}: ${reason} (${message})`);
    return 1;
  }

  const header = {
    runtime,
    version: runtimeVersion,
    adapter: kit.adapter,
    local: watched.local,
    remote: watched.remote,
  };
  if (json) emit({ event: "connected", t: t(), ...header, report: watched.report });
  else {
    out.line(
      `Connected ${watched.local} -> ${watched.remote} on ${runtime} ${runtimeVersion} through ${kit.adapter}`,
    );
    out.line(`Asked: ${describeTuning(tuning)}`);
    for (const line of formatReport(watched.report)) out.line(line);
    out.line(`Watching, one line a second (Ctrl-C to stop):`);
  }

  let kernelNote: string | undefined;
  let rows = 0;
  const sample = (): void => {
    const w = watched!;
    const state = w.state();
    if (state === undefined || state === "dead" || state === "closed") return;
    const kernel = w.kernel();
    if (json) {
      emit({
        event: "sample",
        t: t(),
        state,
        heartbeatRttMs: rttMs === undefined ? null : round(rttMs),
        kernel: kernelJson(kernel),
      });
      return;
    }
    if (!kernel.ok && kernel.reason !== kernelNote) {
      kernelNote = kernel.reason;
      out.line(`  (no kernel view: ${kernel.reason})`);
    }
    const k = kernelJson(kernel);
    const cells = "unavailable" in k ? ["-", "-", "-", "-", "-", "-"] : kernelCells(k);
    if (rows++ % 20 === 0) out.line(tableRow(HEAD));
    out.line(
      tableRow([seconds(t()), state, ...cells, rttMs === undefined ? "-" : duration(round(rttMs))]),
    );
  };
  const timer = setInterval(sample, SAMPLE_MS);

  const stop = (): void => {
    if (stoppedByUser) return;
    stoppedByUser = true;
    if (!json) out.line(`  ${seconds(t()).padEnd(9)}stopping (signal)`);
    watched?.close();
    // Closing reports `closed`; should it not come, end anyway.
    setTimeout(() => finish(0), 1000);
  };
  const unsubscribe = onInterrupt(stop);
  try {
    return await finished;
  } finally {
    clearInterval(timer);
    unsubscribe();
    watched.dispose();
  }
}

const HEAD = ["t", "state", "tcp", "rtt", "unacked", "retrans", "probes", "last recv", "hb rtt"];
const WIDTHS = [9, 9, 13, 11, 9, 9, 8, 11];

function tableRow(cells: readonly string[]): string {
  return `  ${cells.map((cell, i) => i < WIDTHS.length ? cell.padEnd(WIDTHS[i]) : cell).join("")}`;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function kernelCells(k: KernelJson): string[] {
  return [
    k.state,
    duration(k.rttMs),
    String(k.unacked),
    String(k.retransmits),
    String(k.probes),
    `${k.lastDataRecvMs} ms`,
  ];
}
