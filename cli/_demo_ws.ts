/**
 * `demo --websocket`: WebSocket clients on this runtime's edge server — `Bun.serve`, `Deno.serve` or
 * `node:http` + `ws` — watched through the adapter, beside the same clients on the same server left
 * to the runtime's own idle timer (Bun's `idleTimeout` and `sendPings`, Deno's `idleTimeout`, the
 * `ws` README's `isAlive` sweep). Four clients, each connected to both: healthy, hung (stops
 * answering pings, its TCP healthy), cut while idle and cut while the server pushes to it (nftables
 * drop rules in a private network namespace the demo creates and deletes). Servers and clients run
 * in one process inside the namespace (`_demo_ws_worker.ts`); this one cuts, watches and tells. A
 * live table on a terminal, JSON lines otherwise; ends by itself with a summary; exit code 0 when
 * every watched client ended as expected.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import type { DeathReason } from "../mod.ts";
import type { ParsedArgs } from "./_args.ts";
import { CUT_WORKER, Screen, sleepUnless, withTimeout } from "./_demo_parts.ts";
import { type Side, WS_HEARTBEAT, WS_KEEPALIVE, type WsClient } from "./_demo_ws_worker.ts";
import { duration, seconds } from "./_format.ts";
import { createNamespace, type Namespace } from "./_netns.ts";
import { durationFlag } from "./_options.ts";
import {
  execPath,
  onInterrupt,
  type Output,
  runtime,
  runtimeVersion,
  selfCommand,
} from "./_runtime.ts";

/** The argument after {@linkcode CUT_WORKER} that runs the WebSocket demo's worker. */
export const WEBSOCKET_WORKER = "websocket";

const FAULT_AFTER_MS = 2500; // of healthy traffic, so that pings are answered and pushes flow
const LINGER_MS = 1500; // after the last verdict, to show the healthy client carries on
const DEADLINE_MS = 15_000; // after the faults, for the watched verdicts at the latest
const DEFAULT_WAIT_MS = 10_000; // after the faults, for the runtime's own verdicts
const SETUP_MS = 30_000;

interface Expected {
  readonly state: "open" | "dead";
  readonly reason?: DeathReason;
}

/** The kernel's view of the server side of one connection (`ss`). */
interface Tcp {
  readonly state: string | null;
  readonly queued: number;
}

interface View {
  state: string;
  reason: string | undefined;
  error: string | undefined;
  code: number | undefined;
  faultAt: number | undefined;
  detectMs: number | undefined;
  tcp: Tcp | undefined;
  tcpSeen: boolean;
}

interface Row {
  readonly name: WsClient;
  readonly expected: Expected;
  readonly fault: string | undefined;
  readonly watched: View;
  readonly own: View;
  boundMs: number | undefined;
  answered: number;
  rttMs: number | undefined;
  skipped: string | undefined;
  problem: string | undefined;
}

/** Bun tells a connection the kernel ended as code 1006 and nothing more: the reason is `error`. */
const timeout = (reason: DeathReason): DeathReason => runtime === "bun" ? "error" : reason;

const SCENARIOS: readonly { name: WsClient; expected: Expected; fault?: string }[] = [
  { name: "healthy", expected: { state: "open" } },
  {
    name: "hung",
    expected: { state: "dead", reason: "heartbeat-timeout" },
    fault: "stops answering pings (its TCP stays healthy)",
  },
  {
    name: "cut-idle",
    expected: { state: "dead", reason: timeout("keepalive-timeout") },
    fault: "cable cut while idle",
  },
  {
    name: "cut-pushed",
    expected: { state: "dead", reason: timeout("user-timeout") },
    fault: "cable cut while the server pushes 1 KiB every 100 ms",
  },
];

const expectedText = (e: Expected): string =>
  e.reason === undefined ? e.state : `${e.state} ${e.reason}`;
const terminal = (state: string): boolean => state === "dead" || state === "closed";

function ok(row: Row): boolean | undefined {
  if (row.skipped !== undefined) return undefined;
  const state = row.watched.state;
  if (row.expected.state === "open") return !terminal(state) && state !== "connecting";
  return state === row.expected.state && row.watched.reason === row.expected.reason;
}

function view(): View {
  return {
    state: "connecting",
    reason: undefined,
    error: undefined,
    code: undefined,
    faultAt: undefined,
    detectMs: undefined,
    tcp: undefined,
    tcpSeen: false,
  };
}

/** The server side's TCP connection, for people. */
function tcpText(v: View): string {
  if (v.tcp === undefined) return "-";
  if (v.tcp.state === null) return v.tcpSeen ? "gone" : "-";
  const queued = v.tcp.queued;
  if (queued === 0) return v.tcp.state;
  return `${v.tcp.state}, ${
    queued < 1024 ? `${queued} B` : `${Math.round(queued / 1024)} KiB`
  } queued`;
}

function tcpJson(v: View): Record<string, unknown> | null {
  if (v.tcp === undefined) return null;
  return { state: v.tcp.state ?? (v.tcpSeen ? "gone" : null), queued: v.tcp.queued };
}

/** For the summary: whether the kernel still holds the server side's connection (if `ss` says). */
function tcpNote(v: View): string {
  if (v.tcp === undefined) return "";
  const held = v.tcp.state !== null && v.tcp.state !== "TIME-WAIT";
  return `; TCP ${held ? `still held (${tcpText(v)})` : "freed"}`;
}

/**
 * Runs `demo --websocket`.
 *
 * @param parsed The parsed arguments.
 * @param out Where to print.
 * @param self The CLI entry's URL, to start the worker in the namespace.
 * @returns 0 when every watched client ended as expected, 1 otherwise, 130 when interrupted.
 */
export async function demoWebSocket(
  parsed: ParsedArgs,
  out: Output,
  self: string,
): Promise<number> {
  const json = parsed.flags.has("--json") || !out.isTTY;
  const waitFlag = parsed.flags.get("--wait");
  const waitMs = typeof waitFlag === "string"
    ? durationFlag("--wait", waitFlag, "demo")
    : DEFAULT_WAIT_MS;
  const started = performance.now();
  const now = (): number => performance.now() - started;
  const t = (): number => Math.round(now());
  const emit = (line: Record<string, unknown>): void => out.line(JSON.stringify(line));
  const screen = new Screen(out);
  const rows: Row[] = SCENARIOS.map((s) => ({
    name: s.name,
    expected: s.expected,
    fault: s.fault,
    watched: view(),
    own: view(),
    boundMs: undefined,
    answered: 0,
    rttMs: undefined,
    skipped: undefined,
    problem: undefined,
  }));
  const row = (name: unknown): Row | undefined => rows.find((r) => r.name === name);
  let server = "";
  let own = "";
  let faultsAt: number | undefined;
  let wake: () => void = () => {};
  const draw = (): string[] => table(rows, now(), faultsAt);
  const log = (text: string): void => {
    if (!json) screen.log(`${seconds(now()).padStart(7)}  ${text}`, draw());
  };

  if (json) {
    emit({
      event: "start",
      t: 0,
      runtime,
      version: runtimeVersion,
      websocket: true,
      keepalive: WS_KEEPALIVE,
      heartbeat: WS_HEARTBEAT,
      clients: SCENARIOS.map((s) => ({
        client: s.name,
        expected: expectedText(s.expected),
        policy: s.name.startsWith("cut") ? "keepalive + user timeout" : "keepalive + heartbeat",
      })),
    });
  } else {
    out.line(`socket-liveness demo --websocket on ${runtime} ${runtimeVersion}`);
  }

  // The worker's events, until the end: then its servers close every WebSocket, and it exits.
  let ending = false;
  const onLine = (line: Record<string, unknown>): void => {
    if (ending) return;
    const r = row(line.client);
    if (line.event === "transition" && r !== undefined) {
      const from = String(line.from);
      const to = String(line.to);
      const reason = String(line.reason);
      const error = typeof line.error === "string" ? line.error : undefined;
      r.watched.state = to;
      r.watched.reason = reason;
      r.watched.error = error;
      if (typeof line.rttMs === "number") {
        r.answered++;
        r.rttMs = line.rttMs;
      }
      if (json) {
        emit({
          event: "transition",
          client: r.name,
          t: t(),
          from,
          to,
          reason,
          ...(error === undefined ? {} : { error }),
        });
      } else if (reason !== "ping-sent" && reason !== "ack") {
        // The heartbeat's routine shows as pings answered; the log keeps what changes.
        log(`${r.name}: ${from} -> ${to} (${reason}${error === undefined ? "" : `: ${error}`})`);
      }
      if (!terminal(to)) return;
      if (r.watched.faultAt !== undefined) {
        r.watched.detectMs = Math.round(now() - r.watched.faultAt);
      }
      if (json) emit({ event: "end", client: r.name, t: t(), ...result(r) });
      wake();
    } else if (line.event === "own-close" && r !== undefined) {
      r.own.state = "closed";
      r.own.code = Number(line.code);
      if (r.own.faultAt !== undefined) r.own.detectMs = Math.round(now() - r.own.faultAt);
      const after = r.own.detectMs === undefined
        ? ""
        : `, ${duration(r.own.detectMs)} after the fault`;
      if (json) {
        emit({
          event: "own",
          client: r.name,
          t: t(),
          code: r.own.code,
          detectMs: r.own.detectMs ?? null,
        });
      } else log(`${r.name}: ${own} closed it (code ${r.own.code}${after})`);
      wake();
    } else if (line.event === "tcp") {
      for (
        const conn of line.conns as {
          client: string;
          side: Side;
          state: string | null;
          queued: number;
        }[]
      ) {
        const v = row(conn.client)?.[conn.side];
        if (v === undefined) continue;
        v.tcp = { state: conn.state, queued: conn.queued };
        if (conn.state !== null) v.tcpSeen = true;
      }
    }
  };

  let ns: Namespace | undefined;
  let cutSkipped: string | undefined;
  let worker: ChildProcess | undefined;
  let interrupted = false;
  const unsubscribe = onInterrupt(() => {
    interrupted = true;
    wake();
  });
  let sampler: ReturnType<typeof setInterval> | undefined;
  let failure: string | undefined;

  try {
    if (parsed.flags.has("--no-cut")) cutSkipped = "turned off with --no-cut";
    else {
      const made = await createNamespace();
      if (made.ok) ns = made.ns;
      else cutSkipped = made.reason;
    }
    const line = selfCommand(runtime, execPath(), self, [CUT_WORKER, WEBSOCKET_WORKER]);
    worker = ns !== undefined
      ? ns.spawn(line.cmd, line.args)
      : spawn(line.cmd, line.args, { stdio: ["pipe", "pipe", "pipe"] });
    const child = worker;
    child.stdin!.on("error", () => {}); // it ended: its exit tells why
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (text: string) => {
      stderr = (stderr + text).slice(-2000);
    });
    const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
      let pending = "";
      child.stdout!.setEncoding("utf8").on("data", (text: string) => {
        const lines = (pending + text).split("\n");
        pending = lines.pop()!;
        for (const text of lines) {
          let message: Record<string, unknown>;
          try {
            message = JSON.parse(text);
          } catch {
            continue;
          }
          if (message.event === "ready") resolve(message);
          else if (message.event === "error") {
            const why = String(message.message);
            reject(new Error(why)); // before the ready line; after it, the demo fails with it
            if (!ending) failure ??= why;
            wake();
          } else onLine(message);
        }
      });
      child.on("exit", (code, signal) => {
        const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
        const why = `the WebSocket demo's process ended (${how})${
          stderr ? `: ${stderr.trim()}` : ""
        }`;
        reject(new Error(why));
        if (!ending && !interrupted) failure ??= why;
        wake();
      });
    });
    const hello = await withTimeout(ready, SETUP_MS, "the WebSocket demo's servers and clients");
    server = String(hello.server);
    own = String(hello.own);
    const bounds = hello.bounds as Record<string, number | undefined>;
    const ports = hello.clients as { client: WsClient; side: Side; port: number }[];
    for (const r of rows) {
      r.boundMs = bounds[r.name];
      r.watched.state = "open";
      r.own.state = "open";
      if (cutSkipped !== undefined && r.name.startsWith("cut")) r.skipped = cutSkipped;
    }
    if (json) {
      emit({
        event: "ready",
        t: t(),
        server,
        own,
        namespace: ns?.name ?? null,
        tuning: hello.tuning,
        bounds,
      });
      for (const r of rows) {
        if (r.skipped !== undefined) {
          emit({ event: "skip", client: r.name, t: t(), reason: r.skipped });
        }
      }
    } else {
      out.line(
        `watched: ${server}; keepalive 2s:1s:3 and user timeout 3 s on ${hello.tunes}` +
          `${
            tuningNote(hello.tuning)
          }; heartbeat 1 s/1 s (pings) for healthy and hung, none for the cut clients`,
      );
      out.line(`own: ${own}, on the same clients (each client has a connection to both)`);
      out.line(
        ns === undefined
          ? `on this machine's loopback; the cut clients are skipped: ${cutSkipped}`
          : `in the private network namespace ${ns.name}, its loopback only`,
      );
    }

    let ticks = 0;
    sampler = setInterval(() => {
      if (!json) screen.draw(draw());
      else if (ticks % 4 === 0) emit({ event: "sample", t: t(), clients: rows.map(sampleOf) });
      ticks++;
    }, 250);

    await sleepUnless(FAULT_AFTER_MS, () => interrupted || failure !== undefined);
    if (!interrupted && failure === undefined) {
      faultsAt = now();
      const fault = (r: Row): void => {
        if (json) emit({ event: "fault", client: r.name, t: t(), action: r.fault });
        else log(`${r.name}: ${r.fault}`);
      };
      const hung = row("hung")!;
      child.stdin!.write("hang\n");
      hung.watched.faultAt = hung.own.faultAt = now();
      fault(hung);
      if (ns !== undefined) {
        const cuts = rows.filter((r) => r.name.startsWith("cut")).flatMap((r) =>
          (["watched", "own"] as const).map(async (side) => {
            const port = ports.find((p) => p.client === r.name && p.side === side)!.port;
            await ns!.cut(port);
            r[side].faultAt = now();
          })
        );
        const settled = await Promise.allSettled(cuts);
        const failed = settled.find((s) => s.status === "rejected");
        for (const r of rows) {
          if (!r.name.startsWith("cut")) continue;
          if (failed !== undefined) {
            r.problem = `the cut failed: ${(failed.reason as Error).message}`;
          } else fault(r);
        }
      }
    }

    // Until every watched client that should die has (or the deadline), and the runtime's own
    // verdicts on them are in (or --wait has passed); then a little longer.
    const live = rows.filter((r) => r.skipped === undefined && r.problem === undefined);
    const watchedPending = (): boolean =>
      live.some((r) => r.expected.state === "dead" && !terminal(r.watched.state));
    const ownPending = (): boolean =>
      live.some((r) => r.expected.state === "dead" && r.own.state !== "closed");
    const base = faultsAt ?? now();
    while (
      !interrupted && failure === undefined &&
      ((watchedPending() && now() - base < DEADLINE_MS) || (ownPending() && now() - base < waitMs))
    ) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 250);
      });
    }
    await sleepUnless(LINGER_MS, () => interrupted || failure !== undefined);
    ending = true;
  } catch (error) {
    failure ??= (error as Error)?.message ?? String(error);
  } finally {
    clearInterval(sampler);
    unsubscribe();
    ending = true;
    worker?.stdin?.end();
    if (worker !== undefined && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker!.once("exit", resolve));
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))]);
      if (worker.exitCode === null) worker.kill("SIGKILL");
    }
    await ns?.close();
  }

  if (failure !== undefined) {
    for (const r of rows) if (r.skipped === undefined) r.problem ??= failure;
    if (json) emit({ event: "error", t: t(), message: failure });
    else out.error(`socket-liveness: demo --websocket: ${failure}`);
  }
  const allOk = !interrupted && failure === undefined && rows.every((r) => ok(r) !== false);
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
      server,
      own,
      clients: rows.map((r) => ({ client: r.name, ...result(r) })),
    });
  } else {
    screen.draw(draw());
    out.line("");
    out.line(`Summary after ${seconds(now())} (${server}, beside ${own}):`);
    for (const r of rows) for (const text of summaryLines(r, now())) out.line(`  ${text}`);
    out.line(
      interrupted
        ? "interrupted"
        : allOk
        ? `every watched client ended as expected${
          rows.some((r) => r.skipped) ? " (the cut clients were skipped, see above)" : ""
        }`
        : "some watched clients did not end as expected",
    );
  }
  return code;
}

/** What the tuning report says of the listener, when something did not apply. */
function tuningNote(tuning: unknown): string {
  const report = tuning as Record<string, unknown> | null;
  if (report === null || report === undefined) return "";
  const missing = ["idle", "interval", "count", "userTimeout"].filter((k) =>
    report[k] !== "applied"
  );
  if (missing.length === 0) return " (applied)";
  const why = report.unavailable === null ? "" : `: ${report.unavailable}`;
  return ` (not applied: ${missing.join(", ")}${why})`;
}

function result(r: Row): Record<string, unknown> {
  return {
    expected: expectedText(r.expected),
    state: r.watched.state,
    reason: r.watched.reason ?? null,
    error: r.watched.error ?? null,
    detectMs: r.watched.detectMs ?? null,
    boundMs: r.boundMs ?? null,
    withinBound: r.watched.detectMs === undefined || r.boundMs === undefined
      ? null
      : r.watched.detectMs <= r.boundMs,
    pingsAnswered: r.answered,
    tcp: tcpJson(r.watched),
    ok: ok(r) ?? null,
    skipped: r.skipped ?? null,
    problem: r.problem ?? null,
    own: {
      state: r.own.state,
      code: r.own.code ?? null,
      detectMs: r.own.detectMs ?? null,
      tcp: tcpJson(r.own),
    },
  };
}

function sampleOf(r: Row): Record<string, unknown> {
  return {
    client: r.name,
    state: r.watched.state,
    reason: r.watched.reason ?? null,
    heartbeatRttMs: r.rttMs ?? null,
    tcp: tcpJson(r.watched),
    own: { state: r.own.state, code: r.own.code ?? null, tcp: tcpJson(r.own) },
  };
}

function summaryLines(r: Row, at: number): string[] {
  const verdict = ok(r);
  const mark = verdict === undefined ? "-" : verdict ? "✔" : "✘";
  const name = r.name.padEnd(11);
  if (r.skipped !== undefined) return [`${mark} ${name}skipped: ${r.skipped}`];
  const what = r.name.startsWith("cut") ? "the cut" : "the fault";
  const expected = `(expected ${expectedText(r.expected)})`;
  const problem = r.problem === undefined ? "" : `; ${r.problem}`;
  let watched: string;
  if (!terminal(r.watched.state)) {
    watched = `${r.watched.state}, ${r.answered} pings answered ${expected}${problem}`;
  } else {
    const detect = r.watched.detectMs === undefined
      ? ""
      : `, detected ${duration(r.watched.detectMs)} after ${what} (bound ${duration(r.boundMs)}${
        r.boundMs !== undefined && r.watched.detectMs > r.boundMs ? ", EXCEEDED" : ""
      })`;
    const tcp = r.name.startsWith("cut") ? tcpNote(r.watched) : "";
    watched = `${r.watched.state} ${r.watched.reason}${detect}${tcp} ${expected}${problem}`;
  }
  let theirs: string;
  if (r.own.state === "closed") {
    const after = r.own.detectMs === undefined ? "" : `, ${duration(r.own.detectMs)} after ${what}`;
    const tcp = r.name.startsWith("cut") ? tcpNote(r.own) : "";
    theirs = `closed (code ${r.own.code})${after}${tcp}`;
  } else if (r.own.faultAt !== undefined) {
    const tcp = r.name.startsWith("cut") && r.own.tcp !== undefined
      ? `; TCP ${tcpText(r.own)}`
      : "";
    theirs = `still ${r.own.state} ${seconds(at - r.own.faultAt)} after ${what}${tcp}`;
  } else {
    theirs = r.own.state;
  }
  return [`${mark} ${name}${watched}`, `  ${"".padEnd(11)}own timer: ${theirs}`];
}

function table(rows: readonly Row[], at: number, faultsAt: number | undefined): string[] {
  const head = [
    "client",
    "expected",
    "state",
    "reason",
    "detect / bound",
    "tcp",
    "│",
    "own timer",
    "after",
    "tcp",
  ];
  const since = (v: View, terminalNow: boolean): string =>
    v.detectMs !== undefined
      ? duration(v.detectMs)
      : v.faultAt !== undefined && !terminalNow
      ? "…"
      : "-";
  const body = rows.map((r) => {
    if (r.skipped !== undefined) {
      return [r.name, expectedText(r.expected), "skipped", r.skipped, "", "", "│", "", "", ""];
    }
    const watched = r.watched;
    return [
      r.name,
      expectedText(r.expected),
      watched.state,
      watched.reason ?? "-",
      `${since(watched, terminal(watched.state))} / ${duration(r.boundMs)}`,
      tcpText(watched),
      "│",
      r.own.state === "closed" ? `closed ${r.own.code}` : r.own.state,
      // Still open after its fault: for how long it has been, undecided.
      r.own.state !== "closed" && r.own.faultAt !== undefined
        ? `> ${seconds(at - r.own.faultAt)}`
        : since(r.own, r.own.state === "closed"),
      tcpText(r.own),
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
