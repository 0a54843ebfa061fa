/**
 * `demo`: a server watched through this runtime's adapter and four clients on loopback — healthy,
 * hung (stops answering pings, its TCP healthy), reset (RST) and, where a private network namespace
 * can be made, a cut cable (an nftables drop rule in a namespace the demo creates and deletes).
 * A live table on a terminal, JSON lines otherwise; exit code 0 when every client ended as expected.
 * With `--websocket`, WebSocket clients on this runtime's edge server instead (`_demo_ws.ts`).
 *
 * @module
 */

import { connect as netConnect, type Socket } from "node:net";
import process from "node:process";
import type { ChildProcess } from "node:child_process";
import type { DeathReason, KeepaliveOptions, TuningReport } from "../mod.ts";
import { type FlagSpec, type ParsedArgs, UsageError } from "./_args.ts";
import { duration, type KernelJson, kernelJson, seconds } from "./_format.ts";
import {
  type Change,
  type Events,
  type Kit,
  type Listening,
  loadKit,
  type Watched,
} from "./_kit.ts";
import { createNamespace, type Namespace } from "./_netns.ts";
import { CUT_WORKER, Screen, sleepUnless, withTimeout } from "./_demo_parts.ts";
import { demoWebSocket, WEBSOCKET_WORKER } from "./_demo_ws.ts";
import {
  execPath,
  onInterrupt,
  type Output,
  runtime,
  runtimeVersion,
  selfCommand,
} from "./_runtime.ts";

/** The flags of `demo`. */
export const DEMO_FLAGS: readonly FlagSpec[] = [
  {
    name: "--websocket",
    help: "WebSocket clients on this runtime's edge server, beside its own idle timer",
  },
  { name: "--no-cut", help: "leave out the cut-cable clients (they need root, ip netns and nft)" },
  {
    name: "--wait",
    value: "DURATION",
    help: "with --websocket: how long to wait for the runtime's own verdicts (default 10s)",
  },
  { name: "--runtime", value: "NAME", help: "run under node, deno or bun" },
  { name: "--json", help: "JSON lines even on a terminal (the default when stdout is not one)" },
];

/** The internal command that runs a demo's scenario in its own process, inside the namespace. */
export { CUT_WORKER };

const KEEPALIVE: KeepaliveOptions = { idle: 2000, interval: 1000, count: 3, userTimeout: 3000 };
const HEARTBEAT = { interval: 1000, timeout: 1000 };
const RESOLUTION = 100;
const FAULT_AFTER_MS = 2500; // of healthy traffic, so that pings and keepalive probes are seen
const LINGER_MS = 1500; // after the last expected death, to show the healthy client carries on
const DEADLINE_MS = 15_000; // after the faults, at the latest
const SETUP_MS = 20_000;
const PING = new TextEncoder().encode("PING\n");

type Name = "healthy" | "hung" | "reset" | "cut";

interface Expected {
  readonly state: "open" | "dead";
  readonly reason?: DeathReason;
}

interface Row {
  readonly name: Name;
  readonly expected: Expected;
  readonly fault: string | undefined;
  state: string;
  reason: string | undefined;
  boundMs: number | undefined;
  faultAt: number | undefined;
  detectMs: number | undefined;
  rttMs: number | undefined;
  pingAt: number | undefined;
  answered: number;
  kernel: KernelJson | { unavailable: string } | undefined;
  skipped: string | undefined;
  problem: string | undefined;
  watched: Watched | undefined;
}

const SCENARIOS: readonly { name: Name; expected: Expected; fault?: string }[] = [
  { name: "healthy", expected: { state: "open" } },
  {
    name: "hung",
    expected: { state: "dead", reason: "heartbeat-timeout" },
    fault: "stops answering pings (its TCP stays healthy)",
  },
  { name: "reset", expected: { state: "dead", reason: "reset" }, fault: "resets its connection" },
  {
    name: "cut",
    expected: { state: "dead", reason: "keepalive-timeout" },
    fault: "cable cut: nftables drops its port",
  },
];

const expectedText = (e: Expected): string =>
  e.reason === undefined ? e.state : `${e.state} ${e.reason}`;
const terminal = (state: string): boolean => state === "dead" || state === "closed";

function ok(row: Row): boolean | undefined {
  if (row.skipped !== undefined) return undefined;
  if (row.expected.state === "open") return !terminal(row.state) && row.state !== "connecting";
  return row.state === row.expected.state && row.reason === row.expected.reason;
}

/** A plain `node:net` client speaking the line protocol: PONG for each PING, unless hung. */
class Client {
  readonly socket: Socket;
  #hung = false;

  constructor(port: number) {
    this.socket = netConnect(port, "127.0.0.1");
    this.socket.on("error", () => {}); // the server's view is what the demo shows
    let pending = "";
    this.socket.setEncoding("utf8").on("data", (text: string) => {
      const lines = (pending + text).split("\n");
      pending = lines.pop()!;
      for (const line of lines) if (line === "PING" && !this.#hung) this.socket.write("PONG\n");
    });
  }

  hang(): void {
    this.#hung = true;
    this.socket.pause();
  }

  reset(): void {
    this.socket.resetAndDestroy();
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Runs `demo`.
 *
 * @param parsed The parsed arguments.
 * @param out Where to print.
 * @param self The CLI entry's URL, to start the cut scenario in its namespace.
 * @returns 0 when every client ended as expected, 1 otherwise, 130 when interrupted.
 */
export async function demo(parsed: ParsedArgs, out: Output, self: string): Promise<number> {
  if (parsed.flags.has("--websocket")) return await demoWebSocket(parsed, out, self);
  if (parsed.flags.has("--wait")) throw new UsageError("--wait goes with --websocket", "demo");
  const json = parsed.flags.has("--json") || !out.isTTY;
  const kit = await loadKit(runtime);
  const started = performance.now();
  const now = (): number => performance.now() - started;
  const t = (): number => Math.round(now());
  const emit = (line: Record<string, unknown>): void => out.line(JSON.stringify(line));
  const screen = new Screen(out);
  const rows: Row[] = SCENARIOS.map((s) => ({
    name: s.name,
    expected: s.expected,
    fault: s.fault,
    state: "connecting",
    reason: undefined,
    boundMs: undefined,
    faultAt: undefined,
    detectMs: undefined,
    rttMs: undefined,
    pingAt: undefined,
    answered: 0,
    kernel: undefined,
    skipped: undefined,
    problem: undefined,
    watched: undefined,
  }));
  const row = (name: Name): Row => rows.find((r) => r.name === name)!;
  let faultsAt: number | undefined;
  let wake: () => void = () => {};
  const log = (text: string): void => {
    if (!json) screen.log(`${seconds(now()).padStart(7)}  ${text}`, table(rows, now(), faultsAt));
  };

  const onChange = (r: Row, change: Change): void => {
    r.state = change.to;
    r.reason = change.reason;
    if (json) {
      emit({
        event: "transition",
        client: r.name,
        t: t(),
        from: change.from,
        to: change.to,
        reason: change.reason,
      });
    } else log(`${r.name}: ${change.from} -> ${change.to} (${change.reason})`);
    if (!terminal(change.to)) return;
    r.kernel = undefined;
    if (r.faultAt !== undefined) r.detectMs = Math.round(now() - r.faultAt);
    if (json) emit({ event: "end", client: r.name, t: t(), ...result(r) });
    wake();
  };

  if (json) {
    emit({
      event: "start",
      t: 0,
      runtime,
      version: runtimeVersion,
      adapter: kit.adapter,
      keepalive: KEEPALIVE,
      heartbeat: HEARTBEAT,
      clients: SCENARIOS.map((s) => ({
        client: s.name,
        expected: expectedText(s.expected),
        policy: s.name === "cut" ? "keepalive" : "keepalive + heartbeat",
      })),
    });
  } else {
    out.line(
      `socket-liveness demo on ${runtime} ${runtimeVersion} through ${kit.adapter}, on loopback`,
    );
    out.line(
      "server: keepalive 2s:1s:3 and user timeout 3 s on every connection; heartbeat 1 s/1 s " +
        "(PING/PONG) for healthy, hung and reset; the cut client has keepalive alone",
    );
  }

  const clients = new Map<Name, Client>();
  const listeners: Listening[] = [];
  let cut: Cut | undefined;
  let interrupted = false;
  const interrupt = (): void => {
    interrupted = true;
    wake();
  };
  const unsubscribe = onInterrupt(interrupt);
  let sampler: ReturnType<typeof setInterval> | undefined;

  try {
    const local = async (name: Exclude<Name, "cut">): Promise<void> => {
      const r = row(name);
      const events: Events = {
        transition: (change) => onChange(r, change),
        ping: () => r.pingAt = now(),
        line: (line) => {
          if (line !== "PONG") return;
          r.watched?.acked();
          r.answered++;
          if (r.pingAt !== undefined) r.rttMs = now() - r.pingAt;
          r.pingAt = undefined;
        },
      };
      const listening = await kit.serve(
        { keepalive: KEEPALIVE, heartbeat: HEARTBEAT, resolution: RESOLUTION },
        events,
        { ffi: true, ping: PING },
      );
      listeners.push(listening);
      clients.set(name, new Client(listening.port));
      ready(r, await withTimeout(listening.accepted, SETUP_MS, `the ${name} client's connection`));
    };
    const ready = (r: Row, watched: Watched | undefined, report?: TuningReport): void => {
      r.watched = watched;
      const tuning = report ?? watched!.report;
      r.boundMs = tuning.bound.idleMs;
      r.state = "open";
      if (json) {
        emit({ event: "ready", client: r.name, t: t(), boundMs: r.boundMs, report: tuning });
      } else {
        log(`${r.name}: connected; bound ${duration(r.boundMs)} (${tuning.bound.idleBy})`);
      }
    };
    const skip = (r: Row, reason: string): void => {
      r.skipped = reason;
      r.state = "skipped";
      if (json) emit({ event: "skip", client: r.name, t: t(), reason });
      else log(`${r.name}: skipped: ${reason}`);
    };
    const cutRow = row("cut");
    const cutSetup = parsed.flags.has("--no-cut")
      ? Promise.resolve(skip(cutRow, "turned off with --no-cut"))
      : startCut(self, {
        ready: (report) => ready(cutRow, undefined, report),
        change: (change) => onChange(cutRow, change),
        kernel: (kernel) => {
          if (!terminal(cutRow.state)) cutRow.kernel = kernel;
        },
        problem: (text) => {
          cutRow.problem = text;
          wake();
        },
      }).then((started) => {
        if (!started.ok) skip(cutRow, started.reason);
        else cut = started.cut;
      });
    await Promise.all([local("healthy"), local("hung"), local("reset"), cutSetup]);

    const refresh = (): void => {
      for (const r of rows) {
        if (r.watched === undefined || terminal(r.state)) continue;
        r.state = r.watched.state() ?? r.state;
        r.kernel = kernelJson(r.watched.kernel());
      }
    };
    let ticks = 0;
    let probesSeen = "";
    sampler = setInterval(() => {
      refresh();
      // A sample a second, and one whenever a kernel starts or stops sending keepalive probes.
      const probes = rows.map((r) => (r.kernel as KernelJson | undefined)?.probes ?? "-").join();
      if (!json) screen.draw(table(rows, now(), faultsAt));
      else if (ticks % 4 === 0 || probes !== probesSeen) {
        emit({ event: "sample", t: t(), clients: rows.map(sampleOf) });
      }
      probesSeen = probes;
      ticks++;
    }, 250);

    await sleepUnless(FAULT_AFTER_MS, () => interrupted);
    if (!interrupted) {
      faultsAt = now();
      const fault = (r: Row): void => {
        r.faultAt = now();
        if (json) emit({ event: "fault", client: r.name, t: t(), action: r.fault });
        else log(`${r.name}: ${r.fault}`);
      };
      clients.get("hung")!.hang();
      fault(row("hung"));
      clients.get("reset")!.reset();
      fault(row("reset"));
      if (cut !== undefined) {
        try {
          await cut.cut();
          fault(cutRow);
        } catch (error) {
          cutRow.problem = `the cut failed: ${(error as Error).message}`;
        }
      }
    }

    // Until every client that should die has, then a little longer; never past the deadline.
    const waiting = () =>
      rows.filter((r) =>
        r.skipped === undefined && r.problem === undefined && r.expected.state === "dead" &&
        !terminal(r.state)
      );
    const deadline = now() + DEADLINE_MS;
    while (!interrupted && waiting().length > 0 && now() < deadline) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 250);
      });
    }
    await sleepUnless(LINGER_MS, () => interrupted);
    refresh();
  } catch (error) {
    const message = (error as Error)?.message ?? String(error);
    for (const r of rows) if (r.state === "connecting") r.problem = message;
    if (json) emit({ event: "error", t: t(), message });
    else out.error(`socket-liveness: demo: ${message}`);
  } finally {
    clearInterval(sampler);
    unsubscribe();
    for (const client of clients.values()) client.close();
    for (const listening of listeners) listening.close();
    for (const r of rows) r.watched?.dispose();
    await cut?.close();
  }

  const allOk = !interrupted && rows.every((r) => ok(r) !== false);
  const code = interrupted ? 130 : allOk ? 0 : 1;
  if (json) {
    for (const r of rows) {
      if (r.expected.state === "open" && r.skipped === undefined) {
        emit({ event: "end", client: r.name, t: t(), ...result(r) });
      }
    }
    emit({
      event: "summary",
      t: t(),
      ok: allOk,
      code,
      clients: rows.map((r) => ({ client: r.name, ...result(r) })),
    });
  } else {
    screen.draw(table(rows, now(), faultsAt));
    out.line("");
    out.line(`Summary after ${seconds(now())}:`);
    for (const r of rows) out.line(`  ${summaryLine(r)}`);
    out.line(
      interrupted
        ? "interrupted"
        : allOk
        ? `every client ended as expected${
          rows.some((r) => r.skipped) ? " (one was skipped, see above)" : ""
        }`
        : "some clients did not end as expected",
    );
  }
  return code;
}

function result(r: Row): Record<string, unknown> {
  return {
    expected: expectedText(r.expected),
    state: r.state,
    reason: r.reason ?? null,
    detectMs: r.detectMs ?? null,
    boundMs: r.boundMs === undefined || !Number.isFinite(r.boundMs) ? null : r.boundMs,
    withinBound: r.detectMs === undefined || r.boundMs === undefined
      ? null
      : r.detectMs <= r.boundMs,
    pingsAnswered: r.answered,
    ok: ok(r) ?? null,
    skipped: r.skipped ?? null,
    problem: r.problem ?? null,
  };
}

function sampleOf(r: Row): Record<string, unknown> {
  return {
    client: r.name,
    state: r.state,
    reason: r.reason ?? null,
    heartbeatRttMs: r.rttMs === undefined ? null : Math.round(r.rttMs * 1000) / 1000,
    kernel: r.kernel ?? null,
  };
}

function summaryLine(r: Row): string {
  const verdict = ok(r);
  const mark = verdict === undefined ? "-" : verdict ? "✔" : "✘";
  const name = r.name.padEnd(8);
  if (r.skipped !== undefined) return `${mark} ${name}skipped: ${r.skipped}`;
  const expected = `(expected ${expectedText(r.expected)})`;
  const problem = r.problem === undefined ? "" : `; ${r.problem}`;
  if (!terminal(r.state)) {
    return `${mark} ${name}${r.state}, ${r.answered} pings answered ${expected}${problem}`;
  }
  const detect = r.detectMs === undefined
    ? ""
    : `, detected ${duration(r.detectMs)} after the fault (bound ${duration(r.boundMs)}${
      r.boundMs !== undefined && r.detectMs > r.boundMs ? ", EXCEEDED" : ""
    })`;
  return `${mark} ${name}${r.state} ${r.reason}${detect} ${expected}${problem}`;
}

function table(rows: readonly Row[], at: number, faultsAt: number | undefined): string[] {
  const head = [
    "client",
    "expected",
    "state",
    "reason",
    "detect / bound",
    "hb rtt",
    "probes",
    "tcp",
  ];
  const body = rows.map((r) => {
    const k = r.kernel !== undefined && !("unavailable" in r.kernel) ? r.kernel : undefined;
    const detect = r.detectMs !== undefined
      ? duration(r.detectMs)
      : r.faultAt !== undefined && !terminal(r.state)
      ? "…"
      : "-";
    return [
      r.name,
      expectedText(r.expected),
      r.state,
      r.skipped ?? r.reason ?? "-",
      r.skipped !== undefined ? "" : `${detect} / ${duration(r.boundMs)}`,
      r.rttMs === undefined ? "-" : duration(Math.round(r.rttMs * 1000) / 1000),
      k === undefined ? "-" : String(k.probes),
      k === undefined ? "-" : k.state,
    ];
  });
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((cells) => cells[i].length)));
  const line = (cells: string[]) =>
    `  ${
      cells.map((cell, i) => i === cells.length - 1 ? cell : cell.padEnd(widths[i] + 2)).join("")
    }`
      .trimEnd();
  const clock = `  t = ${seconds(at)}${
    faultsAt === undefined
      ? `, faults at ${seconds(FAULT_AFTER_MS)} of healthy traffic`
      : `, faults ${seconds(at - faultsAt)} ago`
  }`;
  return ["", clock, line(head), ...body.map(line)];
}

// ---- the cut scenario ------------------------------------------------------------------------

interface Cut {
  cut(): Promise<void>;
  close(): Promise<void>;
}

interface CutEvents {
  ready(report: TuningReport): void;
  change(change: Change): void;
  kernel(kernel: KernelJson | { unavailable: string }): void;
  problem(text: string): void;
}

/** Starts the cut scenario in a fresh namespace, or says why it cannot run here. */
async function startCut(
  self: string,
  events: CutEvents,
): Promise<{ ok: true; cut: Cut } | { ok: false; reason: string }> {
  const made = await createNamespace();
  if (!made.ok) return made;
  const ns: Namespace = made.ns;
  let child: ChildProcess | undefined;
  try {
    const line = selfCommand(runtime, execPath(), self, [CUT_WORKER]);
    child = ns.spawn(line.cmd, line.args);
    const worker = child;
    let stderr = "";
    worker.stderr!.setEncoding("utf8").on("data", (text: string) => {
      stderr = (stderr + text).slice(-2000);
    });
    let port: number | undefined;
    const readyLine = new Promise<number>((resolve, reject) => {
      let pending = "";
      worker.stdout!.setEncoding("utf8").on("data", (text: string) => {
        const lines = (pending + text).split("\n");
        pending = lines.pop()!;
        for (const text of lines) {
          let message: Record<string, unknown>;
          try {
            message = JSON.parse(text);
          } catch {
            continue;
          }
          if (message.event === "ready") {
            port = Number(message.port);
            events.ready(message.report as TuningReport);
            resolve(port);
          } else if (message.event === "transition") {
            events.change(message as unknown as Change);
          } else if (message.event === "kernel") {
            events.kernel(message.kernel as KernelJson);
          }
        }
      });
      worker.on("exit", (code, signal) => {
        const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
        const why = `the cut scenario's process ended (${how})${
          stderr ? `: ${stderr.trim()}` : ""
        }`;
        if (port === undefined) reject(new Error(why));
        else if (code !== 0) events.problem(why);
      });
    });
    await withTimeout(readyLine, SETUP_MS, "the cut scenario in its namespace");
    return {
      ok: true,
      cut: {
        cut: () => ns.cut(port!),
        async close() {
          worker.stdin?.end();
          await ns.close();
        },
      },
    };
  } catch (error) {
    child?.kill("SIGKILL");
    await ns.close();
    return { ok: false, reason: (error as Error).message };
  }
}

/**
 * The cut scenario's own process, run inside the namespace: a server watched by the adapter with
 * keepalive alone, a silent client, JSON lines on stdout (ready, kernel views, transitions). Ends
 * when its connection ends, when stdin closes, or after 30 s. Run as `__demo-cut websocket`, the
 * WebSocket demo's servers and clients instead (`_demo_ws_worker.ts`).
 *
 * @param out Where to print.
 * @returns The exit code.
 */
export async function cutWorker(out: Output): Promise<number> {
  if (workerArgs()[0] === WEBSOCKET_WORKER) {
    return await (await import("./_demo_ws_worker.ts")).wsWorker(out);
  }
  const kit: Kit = await loadKit(runtime);
  const emit = (line: Record<string, unknown>): void => out.line(JSON.stringify(line));
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => finish = resolve);
  const listening = await kit.serve({ keepalive: KEEPALIVE, resolution: RESOLUTION }, {
    transition(change) {
      emit({ event: "transition", from: change.from, to: change.to, reason: change.reason });
      if (terminal(change.to)) setTimeout(() => finish(0), 100);
    },
  }, { ffi: true });
  const client = netConnect(listening.port, "127.0.0.1");
  client.on("error", () => {});
  const watched = await listening.accepted;
  emit({ event: "ready", port: listening.port, report: watched.report });
  const timer = setInterval(() => {
    const state = watched.state();
    if (state !== undefined && !terminal(state)) {
      emit({ event: "kernel", kernel: kernelJson(watched.kernel()) });
    }
  }, 250);
  const safety = setTimeout(() => finish(0), 30_000);
  process.stdin.on("data", () => {});
  process.stdin.on("end", () => finish(0));
  process.stdin.on("error", () => finish(0));
  try {
    return await finished;
  } finally {
    clearInterval(timer);
    clearTimeout(safety);
    client.destroy();
    listening.close();
    watched.dispose();
  }
}

/**
 * The arguments after the worker's command, from the process's own (the entry point passes none
 * on: the worker's process runs nothing else).
 */
function workerArgs(): string[] {
  const deno = (globalThis as unknown as { Deno?: { args: string[] } }).Deno;
  const args = deno?.args ?? process.argv.slice(2);
  const at = args.indexOf(CUT_WORKER);
  return at === -1 ? [] : args.slice(at + 1);
}
