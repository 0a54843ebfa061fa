/**
 * Text for people: tuning reports, reasons of death, the kernel's view, aligned tables.
 *
 * @module
 */

import {
  type ControlReport,
  type DeathReason,
  type DetectionBound,
  formatDuration,
  type KeepaliveControl,
  type TcpInfo,
  type TuningReport,
} from "../mod.ts";
import type { Kernel } from "./_kit.ts";

/** What each reason of death means. */
export const REASONS: Readonly<Record<DeathReason, string>> = {
  "keepalive-timeout": "the kernel's keepalive probes went unanswered",
  "user-timeout": "sent data stayed unacknowledged past the user timeout",
  stalled: "the peer is alive but stopped reading: its window stayed closed past the user timeout",
  "heartbeat-timeout": "the heartbeat ping was not answered in time",
  "idle-timeout": "no traffic either way for the idle timeout",
  reset: "the peer reset the connection (RST)",
  "broken-pipe": "wrote to a connection the peer had closed",
  unreachable: "the peer's host or network became unreachable",
  refused: "the peer refused the connection",
  "connect-timeout": "the connection was not established within the connect timeout",
  error: "an unexpected error",
};

/**
 * Milliseconds for people, `never` for infinity.
 *
 * @param ms Milliseconds.
 * @returns E.g. `2.3 s`.
 */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "never";
  return formatDuration(ms);
}

/**
 * Seconds with one decimal, for elapsed times.
 *
 * @param ms Milliseconds.
 * @returns E.g. `4.2 s`.
 */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Pads cells into aligned columns.
 *
 * @param rows Rows of cells.
 * @param indent Spaces before each row.
 * @returns One string per row.
 */
export function columns(rows: readonly (readonly string[])[], indent = 2): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, [...cell].length));
  }
  return rows.map((row) =>
    " ".repeat(indent) +
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i] + 2)).join("")
      .trimEnd()
  );
}

const CONTROLS: readonly [KeepaliveControl, string][] = [
  ["keepalive", "keepalive"],
  ["idle", "idle"],
  ["interval", "interval"],
  ["count", "count"],
  ["userTimeout", "user timeout"],
];

function value(control: KeepaliveControl, v: number | boolean | undefined, unset: string): string {
  if (v === undefined) return unset;
  if (typeof v === "boolean") return v ? "on" : "off";
  return control === "count" ? String(v) : formatDuration(v);
}

function how(report: ControlReport): string {
  if (report.status === "unsupported") return report.note ?? "";
  const parts: string[] = [];
  if (report.via !== undefined) parts.push(report.via);
  if (report.verified) parts.push("read back");
  if (report.note !== undefined) parts.push(report.note);
  return parts.join(", ");
}

/**
 * A bound in one line.
 *
 * @param bound The bound.
 * @returns E.g. `quiet 3 s (keepalive), in flight 4 s (user-timeout)`.
 */
export function formatBound(bound: DetectionBound): string {
  return `quiet ${duration(bound.idleMs)} (${bound.idleBy}), in flight ${
    duration(bound.busyMs)
  } (${bound.busyBy})`;
}

/**
 * A tuning report as an aligned table, its bound and its warnings.
 *
 * @param report The report.
 * @returns Lines.
 */
export function formatReport(report: TuningReport): string[] {
  const path = report.backend !== undefined
    ? `setsockopt through ${report.backend}`
    : `no setsockopt: ${report.unavailable ?? "unavailable"}`;
  const rows = [["control", "status", "asked", "in force", "how"]];
  for (const [control, name] of CONTROLS) {
    const r = report[control];
    rows.push([
      name,
      r.status,
      value(control, r.asked, "-"),
      value(control, r.value, r.status === "system" ? "system" : "?"),
      how(r),
    ]);
  }
  return [
    `Tuning report (${path}):`,
    ...columns(rows),
    `  bound: ${formatBound(report.bound)}`,
    ...report.bound.warnings.map((warning) => `  ! ${warning}`),
  ];
}

/** The kernel fields `probe` and `demo` show, for `--json`. */
export interface KernelJson {
  readonly state: string;
  readonly rttMs: number;
  readonly unacked: number;
  readonly retransmits: number;
  readonly probes: number;
  readonly lastDataRecvMs: number;
  readonly lastAckRecvMs: number;
  readonly totalRetrans: number;
}

/**
 * The kernel's view as `--json` prints it.
 *
 * @param kernel The view.
 * @returns The fields, or `{ unavailable }`.
 */
export function kernelJson(kernel: Kernel): KernelJson | { readonly unavailable: string } {
  if (!kernel.ok) return { unavailable: kernel.reason };
  const info: TcpInfo = kernel.info;
  return {
    state: info.state,
    rttMs: info.rttUs / 1000,
    unacked: info.unacked,
    retransmits: info.retransmits,
    probes: info.probes,
    lastDataRecvMs: info.lastDataRecvMs,
    lastAckRecvMs: info.lastAckRecvMs,
    totalRetrans: info.totalRetrans,
  };
}
