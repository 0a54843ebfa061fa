/**
 * socket-liveness: know, within a bound you choose, that a TCP peer is gone — cable cut, NAT entry
 * dropped, host crashed, process hung — on Node, Deno and Bun.
 *
 * This module is the runtime-neutral core: a {@linkcode LivenessMonitor} holding one small state
 * machine per connection on one shared timer, keepalive settings checked against the kernel's
 * limits, the worst-case detection time they give, and one classifier for every runtime's errors.
 * The adapters (`./node`, `./deno`, `./bun`) tune sockets and feed the monitor.
 *
 * @example Track a connection and learn when it dies
 * ```ts
 * import { LivenessMonitor } from "@liveness/socket";
 *
 * const monitor = new LivenessMonitor({
 *   idleTimeout: "5m",
 *   onTransition: (t) => console.log(`${t.id}: ${t.from} -> ${t.to} (${t.reason})`),
 * });
 * const id = monitor.track("client 1");
 * monitor.received(id);
 * monitor.failed(id, Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
 * // logs: 16777216: open -> dead (reset)
 * monitor.close();
 * ```
 *
 * @module
 */

export { type Duration, formatDuration, parseDuration } from "./src/duration.ts";
export {
  type KeepaliveOptions,
  type KeepaliveSettings,
  type KeepaliveSpec,
  LINUX_DEFAULTS,
  MAX_KEEPALIVE_COUNT,
  MAX_KEEPALIVE_SECONDS,
  MAX_USER_TIMEOUT_MS,
  resolveKeepalive,
} from "./src/keepalive.ts";
export {
  type BoundOptions,
  type DetectionBound,
  detectionBound,
  type Detector,
} from "./src/bound.ts";
export {
  type ClassifyContext,
  classifyError,
  type DeathReason,
  STALLED_ERROR_NAME,
} from "./src/errors.ts";
export { type Clock, ManualClock, systemClock } from "./src/clock.ts";
export { LivenessMonitor } from "./src/monitor.ts";
export {
  type CloseReason,
  type ConnectionEvent,
  type ConnectionId,
  type ConnectionInfo,
  type ConnectionState,
  type DrainEvent,
  type DrainReason,
  type Driver,
  type IdleEvent,
  type IdleKind,
  type MonitorEventMap,
  type Transition,
  type TransitionReason,
} from "./src/connection.ts";
export {
  type HeartbeatOptions,
  type MonitorOptions,
  type MonitorPolicy,
  type PingEnforcementOptions,
  type SuspicionOptions,
  type TrackOptions,
} from "./src/options.ts";
export {
  type EventListenerLike,
  GuardedEventTarget,
  type ListenerOptions,
  LivenessEvent,
} from "./src/events.ts";
export { phi, phiCrossing } from "./src/phi.ts";
export type { Histogram, MonitorStats } from "./src/stats.ts";
export type { SockAddr, SockoptBackend } from "./src/_sockopt.ts";
export {
  type ControlReport,
  type ControlStatus,
  type EarlierConnections,
  type KeepaliveControl,
  type ListenerReport,
  type NativeKeepalive,
  tuneKeepalive,
  type TuneTarget,
  type TuningReport,
} from "./src/tune.ts";
export {
  decodeTcpInfo,
  type DecodeTcpInfoOptions,
  TCP_INFO_FIELDS,
  TCP_INFO_MIN_LENGTH,
  type TcpCaState,
  type TcpInfo,
  type TcpInfoField,
  type TcpInfoFieldDecoding,
  type TcpInfoFieldType,
  type TcpInfoOptions,
  tcpInfoSupported,
  type TcpState,
} from "./src/tcp_info.ts";
export {
  type LabeledStats,
  metricsHandler,
  PROMETHEUS_CONTENT_TYPE,
  type PrometheusOptions,
  toPrometheus,
} from "./src/prometheus.ts";
