/**
 * Streamed responses of `Bun.serve`, watched: {@linkcode watchStream} wraps the body of a response
 * that stays open (Server-Sent Events, a long poll, any stream the server keeps writing) so that a
 * {@linkcode LivenessMonitor} tracks it, the `Request` being the connection's context.
 * Re-exported by `./bun.ts`.
 *
 * - Every chunk the body yields is `sent()`, never proof of life: SSE is one-way, and nothing but
 *   TCP's acknowledgements (which Bun never shows) comes back. The optional `heartbeat` writes an
 *   SSE comment into a quiet stream, so that it has bytes in flight.
 * - A client that is gone: tune the listener with `tuneServer(monitor, server)`, and the kernel
 *   gives up on its unacknowledged writes within the user timeout (on a quiet stream, its
 *   keepalive probes); Bun then aborts the request and cancels the stream.
 * - Why it ended: Bun says only that "the connection was closed" (`request.signal`'s reason and
 *   the cancel's are one `AbortError`), whether the client left, reset the connection, or the
 *   kernel timed it out. The adapter reads the kernel's count of time-outs
 *   (`TCPAbortOnTimeout`, `/proc/self/net/netstat`) at that moment: a time-out counted then is the
 *   client's death (`user-timeout`, or `keepalive-timeout` on a stream that never wrote), none is
 *   the client leaving (`peer-close`; a reset is told so too). Where the count cannot be read (not
 *   Linux), both are `error` (a `StreamAbortError`), and the monitor warns once.
 * - A stream the monitor ends: declared dead (`heartbeat-timeout`, `idle-timeout`…), it is aborted
 *   with an error of `undefined` (Bun then resets the connection, and prints nothing); ended by
 *   max-idle or max-age, it is closed in order. Your body is cancelled with a `StreamEndedError`.
 * - `Bun.serve`'s own `idleTimeout` (10 s by default) ends a streamed response however busy it is,
 *   and Bun tells that end as it tells a client leaving (`peer-close`): set it to `0`, or call
 *   `server.timeout(request, 0)`.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import type { LivenessMonitor } from "../src/monitor.ts";
import { AdapterKit, tunedByListener } from "../src/_kit.ts";
import {
  KernelTimeouts,
  type StreamBody,
  type StreamWatchOptions,
  watchWebStream,
  type WebStreamRuntime,
} from "./_sse.ts";

export type { StreamBody, StreamWatchOptions } from "./_sse.ts";

const unref = (timer: unknown): void => (timer as { unref?(): void }).unref?.();

const streamKit = new AdapterKit<Request>({
  runtime: "bun",
  argument: "request",
  kind: "Request",
  is: (value): value is Request => value instanceof Request,
  isOpen: () => true,
  ...tunedByListener("a Request"),
  unref,
});

/** @internal The kit of requests whose response streams, for the lookups of `./bun.ts`. */
export const bunStreamKit: AdapterKit<Request> = streamKit;

const runtime: WebStreamRuntime = {
  title: "Bun",
  kit: streamKit,
  endDead: "error",
  signal: true,
  timeouts: new KernelTimeouts(() => readFileSync("/proc/self/net/netstat", "utf8"), unref),
};

/**
 * Tracks the streamed response of `request` in `monitor` (the `Request` is the connection's
 * context) and returns the stream to respond with: it reads `body` (text chunks are encoded as
 * UTF-8), counts every chunk as sent, and ends when the client goes away or the monitor ends it
 * (see the module's notes). Tune the server's listener with `tuneServer(monitor, server)`: that is
 * what bounds how long a client that is gone keeps its stream.
 *
 * A request has one watched stream, in one monitor. `connectionId(request)` and
 * `connectionState(request)` look it up.
 *
 * @typeParam R The monitor's context: `Request`.
 * @param monitor The monitor to feed: `LivenessMonitor<Request>`.
 * @param request The request being answered.
 * @param body Your body: a `ReadableStream` of bytes or text, or an async iterable of them
 * (an `async function*`). It is read as the client takes the response.
 * @param options `heartbeat`: an SSE comment whenever the stream has been quiet this long.
 * @returns The stream to pass to `new Response(…)`.
 * @throws {TypeError} When an argument is not what it must be (a locked stream), the monitor is
 * closed, or the request has a watched stream already — before anything is read or tracked.
 * @throws {RangeError} When `heartbeat` is out of range.
 * @throws {Error} When this is not Bun.
 *
 * @example Server-Sent Events whose dead clients are let go within the user timeout
 * ```ts ignore
 * const monitor = new LivenessMonitor<Request>({ keepalive: { idle: "30s", interval: "5s", count: 4, userTimeout: "50s" } });
 * const server = Bun.serve({
 *   fetch: (request) =>
 *     new Response(watchStream(monitor, request, events(), { heartbeat: "15s" }), {
 *       headers: { "content-type": "text/event-stream" },
 *     }),
 * });
 * tuneServer(monitor, server);
 * ```
 */
export function watchStream<R extends Request>(
  monitor: LivenessMonitor<R>,
  request: R,
  body: StreamBody,
  options: StreamWatchOptions = {},
): ReadableStream<Uint8Array> {
  return watchWebStream(runtime, monitor, request, body, options);
}
