/**
 * What the streamed-response adapters (`_bun_sse.ts`, `_deno_sse.ts`, `_node_sse.ts`) share: the
 * options of `watchStream`, the SSE heartbeat, the kernel's count of time-outs that Bun and Deno
 * need to tell a dead client from one that left, and (for Bun and Deno) the watched web stream
 * itself.
 *
 * A streamed response (Server-Sent Events, a long poll, any chunked body the server keeps writing)
 * is one-way: nothing comes back from the client but TCP's acknowledgements, which the application
 * never sees. So chunks written count as `sent()`, never as proof of life; what ends a dead
 * client's stream within a bound is the listener's `TCP_USER_TIMEOUT` (`tuneServer`): the kernel
 * gives up on writes that stay unacknowledged, and the runtime ends the response.
 *
 * Runtime-neutral: the runtime's pieces (its timers, how it reads `/proc`) come in as arguments.
 *
 * @module
 */

import type { LivenessMonitor } from "../src/monitor.ts";
import type { ConnectionId, DrainReason, Driver } from "../src/connection.ts";
import type { DeathReason } from "../src/errors.ts";
import type { AdapterKit, AnyMonitor, Watch } from "../src/_kit.ts";
import { type Duration, parseDuration } from "../src/duration.ts";
import { describe, knownKeys } from "../src/_validate.ts";

/** Options of `watchStream` on every runtime. */
export interface StreamWatchOptions {
  /**
   * Write an SSE comment (`:\n\n`, which every EventSource ignores) whenever the stream has been
   * quiet this long, between events only (after a chunk that ends one with a blank line). It is
   * never answered (SSE is one-way): it counts as `sent()`, and its use is that a quiet stream
   * still has bytes in flight, so a client that is gone leaves them unacknowledged and the user
   * timeout ends its connection within `interval + userTimeout`; proxies see traffic too. Default:
   * none. From 1 ms to 2,147,483,647 ms.
   */
  heartbeat?: Duration;
}

/** The option keys every `watchStream` accepts. */
export const STREAM_KEYS: readonly string[] = ["heartbeat"];

/** The SSE comment the heartbeat writes: a comment line and the blank line that ends an event. */
export const SSE_COMMENT = ":\n\n";
const COMMENT_BYTES = new TextEncoder().encode(SSE_COMMENT);
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Checks the options of a `watchStream` and reads the heartbeat's interval.
 *
 * @param options The argument.
 * @param keys The keys it may have.
 * @returns The heartbeat's interval in milliseconds, or `undefined` without one.
 * @throws {TypeError} Naming the argument or the option.
 * @throws {RangeError} When the heartbeat is out of range.
 */
export function checkStreamOptions(
  options: StreamWatchOptions,
  keys: readonly string[] = STREAM_KEYS,
): number | undefined {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`Argument "options" must be an object, got ${describe(options)}`);
  }
  knownKeys(options as Record<string, unknown>, "", keys);
  if (options.heartbeat === undefined) return undefined;
  const ms = parseDuration(options.heartbeat, "heartbeat");
  if (!(ms >= 1 && ms <= MAX_TIMER_MS)) {
    throw new RangeError(
      `Option "heartbeat" must be from 1 ms to ${MAX_TIMER_MS} ms, got ${ms} ms`,
    );
  }
  return ms;
}

/**
 * Whether a chunk ends an SSE event (a blank line: `\n\n`, `\r\r` or `\r\n\r\n`), so that a comment
 * written after it cannot split an event. An empty chunk changes nothing.
 *
 * @param chunk What was written: text or bytes.
 * @param before What was said of the chunk before it.
 * @returns Whether the stream now stands between events.
 */
export function endsEvent(chunk: unknown, before: boolean): boolean {
  if (typeof chunk === "string") {
    if (chunk.length === 0) return before;
    return chunk.endsWith("\n\n") || chunk.endsWith("\r\r") || chunk.endsWith("\r\n\r\n");
  }
  if (!ArrayBuffer.isView(chunk)) return false;
  const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const n = bytes.length;
  if (n === 0) return before;
  // Only the chunk itself is looked at: a blank line split across two chunks ("data: x\n", then
  // "\n") is not seen, and the heartbeat waits for the next whole event.
  const at = (back: number): number => bytes[n - back];
  if (n >= 2 && (at(1) === LF || at(1) === CR) && at(2) === at(1)) return true;
  return n >= 4 && at(1) === LF && at(2) === CR && at(3) === LF && at(4) === CR;
}

const LF = 10;
const CR = 13;

/**
 * The network namespace's count of connections the kernel timed out (`TCPAbortOnTimeout` in
 * `/proc/self/net/netstat`: a retransmission, user or keepalive time-out), read so that an end the
 * runtime tells without a cause (Bun's and Deno's streamed responses) can be told apart: a
 * time-out counted in that moment is the client's death, none is the client leaving.
 *
 * The count is read every half second while a stream is watched, and when one ends: each time-out
 * counted since the read before explains one end told within the next 750 ms, and no other. An
 * unrelated connection of the same namespace that times out in that moment (an outgoing one, a
 * WebSocket) could lend its count to a client that left then; a client whose death the runtime
 * tells more than 750 ms after the kernel (a process stalled that long) would be told as leaving.
 */
export class KernelTimeouts {
  readonly #read: () => string;
  readonly #unref: (timer: unknown) => void;
  #column = -1;
  #last = 0;
  #credits = 0;
  #seenAt = 0;
  #users = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #why: string | undefined;

  /**
   * @param read Reads `/proc/self/net/netstat` as text; throws when it cannot (not Linux, no
   * permission).
   * @param unref Lets a timer not keep the process alive.
   */
  constructor(read: () => string, unref: (timer: unknown) => void) {
    this.#read = read;
    this.#unref = unref;
  }

  /**
   * Why the count cannot be read here, or `undefined` when it can (tried once).
   *
   * @returns The reason.
   */
  unavailable(): string | undefined {
    if (this.#column === -1 && this.#why === undefined) this.#count();
    return this.#why;
  }

  /** A stream is watched: the count is kept fresh while any is. */
  begin(): void {
    if (this.unavailable() !== undefined || this.#users++ > 0) return;
    const value = this.#count();
    if (value !== undefined) this.#last = value;
    this.#credits = 0;
    this.#timer = setInterval(() => this.#refresh(), POLL_MS);
    this.#unref(this.#timer);
  }

  /** A stream's watch is over. */
  end(): void {
    if (this.unavailable() !== undefined || this.#users === 0) return;
    if (--this.#users === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /**
   * Whether the kernel timed a connection out in the last moment that no other end has claimed
   * (claiming it).
   *
   * @returns `true` for a time-out, `false` for none.
   */
  claim(): boolean {
    this.#refresh();
    if (this.#credits === 0) return false;
    this.#credits--;
    return true;
  }

  #refresh(): void {
    const value = this.#count();
    if (value === undefined) return;
    const now = performance.now();
    if (now - this.#seenAt > WINDOW_MS) this.#credits = 0;
    const delta = value - this.#last;
    this.#last = value;
    if (delta > 0) {
      this.#credits += delta;
      this.#seenAt = now;
    }
  }

  #count(): number | undefined {
    if (this.#why !== undefined) return undefined;
    try {
      const lines = this.#read().split("\n").filter((line) => line.startsWith("TcpExt:"));
      const names = lines[0]?.trim().split(/\s+/) ?? [];
      const values = lines[1]?.trim().split(/\s+/) ?? [];
      if (this.#column === -1) this.#column = names.indexOf("TCPAbortOnTimeout");
      const value = Number(values[this.#column]);
      if (this.#column === -1 || !Number.isInteger(value)) {
        this.#why = "/proc/self/net/netstat has no TCPAbortOnTimeout count";
        return undefined;
      }
      return value;
    } catch (error) {
      this.#why = `/proc/self/net/netstat cannot be read (${
        (error as Error)?.message ?? String(error)
      })`;
      return undefined;
    }
  }
}

// How often the count is read while streams are watched, and how long a time-out counted can
// explain an end told after it.
const POLL_MS = 500;
const WINDOW_MS = 750;

/** What a stream adapter keeps per watched response, besides the kit's. */
export interface StreamWatch extends Watch {
  /** The heartbeat's interval, if any. */
  readonly heartbeatMs: number | undefined;
  /** Whether the connection's end was told to the monitor (or the monitor ended it). */
  over: boolean;
  /** The heartbeat's timer. */
  timer: unknown;
  /** When a chunk was last written (`performance.now()`). */
  lastWrite: number;
  /** Whether the last chunk written ended an SSE event. */
  boundary: boolean;
}

/**
 * Records a chunk written to a watched stream: `sent()`, never proof of life.
 *
 * @param watch The stream's watch.
 * @param chunk The chunk.
 */
export function wrote(watch: StreamWatch, chunk: unknown): void {
  watch.monitor.sent(watch.id);
  watch.lastWrite = performance.now();
  watch.boundary = endsEvent(chunk, watch.boundary);
}

/**
 * Runs a stream's heartbeat: whenever it has been quiet for the interval and stands between
 * events, `write` is asked to write {@linkcode SSE_COMMENT}; it returns `false` when it cannot now
 * (backpressure: bytes are in flight already; headers not sent). Stops once the watch is over or
 * the monitor closed.
 *
 * @param watch The stream's watch, with `heartbeatMs` set.
 * @param write Writes the comment (text on Node, bytes on the web), or says it cannot now.
 * @param unref Lets the timer not keep the process alive.
 */
export function startHeartbeat(
  watch: StreamWatch,
  write: (text: string, bytes: Uint8Array) => boolean,
  unref: ((timer: unknown) => void) | undefined,
): void {
  const interval = watch.heartbeatMs;
  if (interval === undefined) return;
  const arm = (delay: number): void => {
    watch.timer = setTimeout(beat, Math.max(1, Math.ceil(delay)));
    unref?.(watch.timer);
  };
  const beat = (): void => {
    watch.timer = undefined;
    if (watch.over || watch.monitor.isClosed) return;
    const quiet = performance.now() - watch.lastWrite;
    if (quiet < interval) return arm(interval - quiet);
    if (watch.boundary && write(SSE_COMMENT, COMMENT_BYTES)) wrote(watch, COMMENT_BYTES);
    arm(interval);
  };
  arm(interval);
}

/**
 * Stops a stream's heartbeat.
 *
 * @param watch The stream's watch.
 */
export function stopHeartbeat(watch: StreamWatch): void {
  if (watch.timer !== undefined) clearTimeout(watch.timer as ReturnType<typeof setTimeout>);
  watch.timer = undefined;
}

/**
 * The error of a stream whose connection the runtime says closed without saying why, where the
 * kernel's count cannot tell either (Bun and Deno without `/proc/self/net/netstat`).
 *
 * @param runtime The runtime's name.
 * @param cause What the runtime gave (the cancel's or the abort's reason).
 * @param why Why the kernel cannot tell.
 * @returns An error named `StreamAbortError`.
 */
export function streamAborted(runtime: string, cause: unknown, why: string): Error {
  return Object.assign(
    new Error(
      `The client's connection closed and ${runtime} does not say why (it left, reset it, or the kernel timed it out); ${why}`,
      { cause },
    ),
    { name: "StreamAbortError" },
  );
}

/**
 * The error of a stream whose connection the kernel timed out, where the runtime says only that it
 * closed: `code` `ETIMEDOUT`, so that the monitor tells a keepalive or user timeout.
 *
 * @param runtime The runtime's name.
 * @param cause What the runtime gave.
 * @returns An error named `StreamTimeoutError`.
 */
export function kernelTimedOut(runtime: string, cause: unknown): Error {
  return Object.assign(
    new Error(
      `The kernel timed the client's connection out (${runtime} says only that it closed: TCPAbortOnTimeout counted it)`,
      { cause },
    ),
    { name: "StreamTimeoutError", code: "ETIMEDOUT" },
  );
}

/**
 * What a stream's own producer is cancelled with when the monitor ends the stream.
 *
 * @param reason The monitor's reason: a death or a drain.
 * @param error The error behind a death, if any.
 * @returns An error named `StreamEndedError`, with `reason`.
 */
export function endedByMonitor(reason: DeathReason | DrainReason, error: unknown): Error {
  return Object.assign(
    new Error(`The monitor ended the stream (${reason})`, { cause: error }),
    { name: "StreamEndedError", reason },
  );
}

/** A body to watch: a stream of bytes or text, or an async iterable of them. */
export type StreamBody =
  | ReadableStream<Uint8Array | string>
  | AsyncIterable<Uint8Array | string>;

/** What a web runtime (Bun, Deno) tells the shared web stream. */
export interface WebStreamRuntime {
  /** The runtime's title in messages. */
  readonly title: string;
  /** The kit of requests. */
  readonly kit: AdapterKit<Request>;
  /**
   * How a stream the monitor declares dead ends: `"error"` aborts the response (Bun resets the
   * connection, quietly for an error of `undefined`), `"close"` ends it in order (Deno prints any
   * error a body ends with).
   */
  readonly endDead: "error" | "close";
  /**
   * Whether `request.signal` tells a client that left (Bun); Deno's also aborts when a response
   * completes, and warns about it once listened to.
   */
  readonly signal: boolean;
  /** The kernel's count of time-outs. */
  readonly timeouts: KernelTimeouts;
}

/** What the web stream adapters keep per request. */
interface WebStreamWatch extends StreamWatch {
  readonly runtime: WebStreamRuntime;
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
  readonly reader: BodyReader;
  readonly onAbort: (() => void) | undefined;
  readonly request: Request;
}

const webWatchOf = (kit: AdapterKit<Request>, request: Request): WebStreamWatch | undefined =>
  kit.watchOf(request) as WebStreamWatch | undefined;

const encoder = new TextEncoder();

/** Ends a web stream's watch: its timer, its abort listener, its share of the kernel's count. */
function release(watch: WebStreamWatch): void {
  watch.over = true;
  stopHeartbeat(watch);
  watch.runtime.timeouts.end();
  if (watch.onAbort !== undefined) {
    watch.request.signal.removeEventListener("abort", watch.onAbort);
  }
}

/** This side ended the stream: the producer finished or failed. */
function endedHere(watch: WebStreamWatch): void {
  if (watch.over) return;
  release(watch);
  watch.monitor.endedLocally(watch.id);
  watch.monitor.closed(watch.id);
}

/**
 * The runtime says the client's connection closed (the stream cancelled, the request aborted),
 * without a cause: a time-out the kernel counted in that moment is a death (`failed`, a keepalive
 * or user timeout), none is the client leaving (`ended`, `closed`: `peer-close`); where the count
 * cannot be read, a `StreamAbortError` (`error`).
 */
function endedThere(watch: WebStreamWatch, cause: unknown): void {
  if (watch.over) return;
  const { monitor, id, runtime } = watch;
  const why = runtime.timeouts.unavailable();
  const timedOut = why === undefined && runtime.timeouts.claim();
  release(watch);
  if (why !== undefined) {
    monitor.failed(id, streamAborted(runtime.title, cause, why));
  } else if (timedOut) {
    monitor.failed(id, kernelTimedOut(runtime.title, cause));
  } else {
    monitor.ended(id);
    monitor.closed(id);
  }
  watch.reader.cancel(cause).catch(() => {});
}

/**
 * The driver of web streams: a stream the monitor ends is closed (max-idle, max-age: the client
 * sees the response end, and an EventSource reconnects) or, declared dead, aborted where the
 * runtime does so quietly (Bun: the connection is reset) and closed otherwise (Deno); the
 * producer is cancelled with a `StreamEndedError` either way.
 */
function webDriver(runtime: WebStreamRuntime): Driver<Request> {
  return {
    destroy(request, reason, error): void {
      const watch = webWatchOf(runtime.kit, request);
      if (watch === undefined || watch.over) return;
      release(watch);
      const dead = reason !== "max-idle" && reason !== "max-age";
      try {
        if (dead && runtime.endDead === "error") watch.controller.error(undefined);
        else watch.controller.close();
      } catch {
        // Closed or errored already.
      }
      watch.reader.cancel(endedByMonitor(reason, error)).catch(() => {});
    },
  };
}

/** A read of a stream whose watch is over: it ends (a no-op when it has ended already). */
function settle(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close();
  } catch {
    // Closed, errored or cancelled already.
  }
}

const DRIVERS = new WeakMap<WebStreamRuntime, Driver<Request>>();

/** What the web stream reads the body with: the stream's own reader, or one over the iterable. */
interface BodyReader {
  read(): Promise<{ done: boolean; value?: Uint8Array | string }>;
  cancel(reason?: unknown): Promise<void>;
}

/** A reader of the body. */
function readerOf(body: StreamBody): BodyReader {
  if (body instanceof ReadableStream) return body.getReader() as BodyReader;
  const iterator = (body as AsyncIterable<Uint8Array | string>)[Symbol.asyncIterator]();
  return {
    async read() {
      const next = await iterator.next();
      return next.done ? { done: true } : { done: false, value: next.value };
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  };
}

/** Checks the body argument. */
function checkBody(body: unknown): asserts body is StreamBody {
  if (body instanceof ReadableStream) {
    if (body.locked) {
      throw new TypeError(
        `Argument "body" must be a ReadableStream that is not locked, got a locked one`,
      );
    }
    return;
  }
  const iterable = body as Partial<AsyncIterable<unknown>> | null;
  if (typeof iterable?.[Symbol.asyncIterator] !== "function") {
    throw new TypeError(
      `Argument "body" must be a ReadableStream or an async iterable, got ${describe(body)}`,
    );
  }
}

/**
 * `watchStream` of Bun and Deno: tracks `request` in `monitor` and returns a stream that reads
 * `body` (text chunks encoded as UTF-8) and counts every chunk as sent, to return in the `Response`.
 *
 * @param runtime The runtime's pieces.
 * @param monitor The monitor.
 * @param request The request whose response streams.
 * @param body The body to watch.
 * @param options The options.
 * @returns The watched stream.
 */
export function watchWebStream<R extends Request>(
  runtime: WebStreamRuntime,
  monitor: LivenessMonitor<R>,
  request: R,
  body: StreamBody,
  options: StreamWatchOptions,
): ReadableStream<Uint8Array> {
  const { kit } = runtime;
  kit.checkRuntime();
  kit.checkMonitor(monitor);
  if (!(request instanceof Request)) {
    throw new TypeError(`Argument "request" must be a Request, got ${describe(request)}`);
  }
  checkBody(body);
  const heartbeatMs = checkStreamOptions(options);
  if (kit.owner(monitor as AnyMonitor, request) !== undefined) {
    throw new TypeError(`Argument "request" has a watched stream already`);
  }
  const why = runtime.timeouts.unavailable();
  if (why !== undefined) {
    monitor.warn(
      `${runtime.title} does not say why a streamed response's connection closed, and ${why}: a client that leaves and one whose connection the kernel timed out are both told as "error" (a StreamAbortError)`,
    );
  }
  let driver = DRIVERS.get(runtime) as Driver<R> | undefined;
  if (driver === undefined) {
    driver = webDriver(runtime) as Driver<R>;
    DRIVERS.set(runtime, driver as Driver<Request>);
  }
  const id: ConnectionId = monitor.track(request, driver);
  const reader = readerOf(body);
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    async pull(c) {
      let result: Awaited<ReturnType<typeof reader.read>>;
      try {
        result = await reader.read();
      } catch (error) {
        if (watch.over) return settle(c);
        endedHere(watch);
        c.error(error); // the producer's own failure: the response is cut short, as without us
        return;
      }
      if (watch.over) return settle(c);
      if (result.done) {
        endedHere(watch);
        c.close();
        return;
      }
      const { value } = result;
      // Text is encoded; anything else goes to the runtime as it is (which takes bytes).
      const chunk = typeof value === "string" ? encoder.encode(value) : value as Uint8Array;
      wrote(watch, chunk);
      c.enqueue(chunk);
    },
    cancel(reason) {
      endedThere(watch, reason);
    },
  }, { highWaterMark: 0 });
  const onAbort = runtime.signal ? () => endedThere(watch, request.signal.reason) : undefined;
  const watch = kit.register<WebStreamWatch>([request], {
    monitor,
    id,
    report: undefined,
    heartbeatMs,
    over: false,
    timer: undefined,
    lastWrite: performance.now(),
    boundary: true,
    runtime,
    controller,
    reader,
    onAbort,
    request,
  });
  runtime.timeouts.begin();
  startHeartbeat(watch, (_text, bytes) => {
    if ((controller.desiredSize ?? -1) < 0) return false; // bytes wait for the socket already
    controller.enqueue(bytes.slice());
    return true;
  }, kit.kind.unref);
  if (onAbort !== undefined) {
    if (request.signal.aborted) endedThere(watch, request.signal.reason);
    else request.signal.addEventListener("abort", onAbort);
  }
  return stream;
}
