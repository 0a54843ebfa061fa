/**
 * The monitor's events: an `EventTarget` whose listeners cannot break it, and an async iterator
 * over one kind of event.
 *
 * @module
 */

/**
 * An event of a {@linkcode LivenessMonitor}: `detail` carries what the matching callback option
 * is given (a `transition` event's detail is the same object `onTransition` gets).
 *
 * @typeParam T The detail's type.
 */
export class LivenessEvent<T> extends Event {
  /** What happened. */
  readonly detail: T;

  /**
   * Creates an event; the monitor dispatches them, users have no need to.
   *
   * @param type The event's type.
   * @param detail What happened.
   */
  constructor(type: string, detail: T) {
    super(type);
    this.detail = detail;
  }
}

/**
 * A listener as `EventTarget` takes it: a function, or an object with `handleEvent`. (Declared
 * here because the runtimes' type packages do not all name it.)
 */
export type EventListenerLike = ((event: Event) => unknown) | {
  /** Called with the event. */
  handleEvent(event: Event): unknown;
};

/** `EventTarget`'s options for adding a listener. */
export interface ListenerOptions {
  /** Listen in the capture phase (no effect here: monitors do not nest). */
  capture?: boolean;
  /** Remove the listener after its first call. */
  once?: boolean;
  /** A hint that the listener does not call `preventDefault()`. */
  passive?: boolean;
  /** Remove the listener when this aborts. */
  signal?: AbortSignal;
}

/**
 * An `EventTarget` for a monitor: a listener that throws (or returns a promise that rejects) is
 * reported through {@linkcode GuardedEventTarget.listenerFailed} instead of surfacing as an uncaught
 * exception, and the target knows which types have ever had a listener, so nothing is allocated for
 * events nobody asked for.
 */
export class GuardedEventTarget extends EventTarget {
  #listened = new Set<string>();
  // listener -> "type capture" -> the wrapper registered in its place
  #wrappers = new WeakMap<object, Map<string, (event: Event) => void>>();

  /**
   * Adds a listener, as `EventTarget` does (`once`, `signal` and `capture` work as usual).
   *
   * @param type The event's type.
   * @param listener A function or an object with `handleEvent`.
   * @param options `EventTarget`'s options.
   */
  override addEventListener(
    type: string,
    listener: EventListenerLike | null,
    options?: boolean | ListenerOptions,
  ): void {
    if (listener === null || listener === undefined) return;
    if (typeof listener !== "function" && typeof listener?.handleEvent !== "function") {
      throw new TypeError(
        `Argument "listener" must be a function or an object with handleEvent(), got ${typeof listener}`,
      );
    }
    const key = `${type} ${capture(options)}`;
    let byType = this.#wrappers.get(listener);
    if (byType === undefined) this.#wrappers.set(listener, byType = new Map());
    let wrapper = byType.get(key);
    if (wrapper === undefined) {
      wrapper = (event: Event) => {
        if (!this.delivers(type)) return;
        try {
          const result: unknown = typeof listener === "function"
            ? listener.call(this, event)
            : listener.handleEvent(event);
          if (isThenable(result)) {
            result.then(undefined, (error: unknown) => this.listenerFailed(error, type));
          }
        } catch (error) {
          this.listenerFailed(error, type);
        }
      };
      byType.set(key, wrapper);
    }
    this.#listened.add(type);
    super.addEventListener(type, wrapper, options);
  }

  /**
   * Removes a listener added with {@linkcode GuardedEventTarget.addEventListener}.
   *
   * @param type The event's type.
   * @param listener The listener as it was added.
   * @param options Its `capture` flag, as when it was added.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerLike | null,
    options?: boolean | ListenerOptions,
  ): void {
    if (listener === null || listener === undefined) return;
    const byType = this.#wrappers.get(listener);
    const key = `${type} ${capture(options)}`;
    const wrapper = byType?.get(key);
    if (wrapper === undefined) {
      // The runtime itself removes a wrapper this way (a listener's `signal` aborted).
      super.removeEventListener(type, listener as (event: Event) => void, options);
      return;
    }
    byType!.delete(key);
    super.removeEventListener(type, wrapper, options);
  }

  /**
   * Whether a listener for `type` was ever added: events of other types are not even created.
   *
   * @param type The event's type.
   * @returns `true` once a listener for `type` was added.
   */
  protected listened(type: string): boolean {
    return this.#listened.has(type);
  }

  /**
   * Whether listeners of `type` are called now (by default always): a monitor that was closed by
   * one listener calls no other listener of the same event.
   *
   * @param _type The event's type.
   * @returns `true` to call the listener.
   */
  protected delivers(_type: string): boolean {
    return true;
  }

  /**
   * Called when a listener throws or its promise rejects (by default `console.error`).
   *
   * @param error What was thrown.
   * @param type The event type the listener was for.
   */
  protected listenerFailed(error: unknown, type: string): void {
    console.error(`socket-liveness: a "${type}" listener threw`, error);
  }
}

function capture(options: boolean | ListenerOptions | undefined): boolean {
  return typeof options === "boolean" ? options : options?.capture === true;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

/**
 * The details of events of one type from `target`, as an async iterator, until `endType` is
 * dispatched, `signal` aborts or the loop breaks. Events that come faster than the loop takes them
 * wait in a queue: nothing is dropped.
 *
 * @param target What dispatches the events.
 * @param type The type to collect.
 * @param endType The type that ends the iteration.
 * @param ended Whether the iteration is over before it starts (e.g. the monitor is closed).
 * @param signal Ends the iteration when aborted.
 * @returns The iterator.
 */
export function eventDetails<T>(
  target: EventTarget,
  type: string,
  endType: string,
  ended: boolean,
  signal: AbortSignal | undefined,
): AsyncIterableIterator<T> {
  let queue: T[] = [];
  let head = 0; // queue[head] is the next to hand out
  let waiting: ((result: IteratorResult<T>) => void) | undefined;
  let done = ended || signal?.aborted === true;
  let listening = false;
  const onEvent = (event: Event) => {
    const detail = (event as LivenessEvent<T>).detail;
    if (waiting === undefined) {
      queue.push(detail);
      return;
    }
    const resolve = waiting;
    waiting = undefined;
    resolve({ value: detail, done: false });
  };
  const finish = () => {
    done = true;
    if (listening) {
      listening = false;
      target.removeEventListener(type, onEvent);
      target.removeEventListener(endType, finish);
      signal?.removeEventListener("abort", finish);
    }
    if (waiting !== undefined) {
      const resolve = waiting;
      waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  };
  if (!done) {
    listening = true;
    target.addEventListener(type, onEvent);
    target.addEventListener(endType, finish);
    signal?.addEventListener("abort", finish);
  }
  const iterator: AsyncIterableIterator<T> = {
    next(): Promise<IteratorResult<T>> {
      if (head < queue.length) {
        const value = queue[head++];
        if (head === queue.length) queue = [], head = 0;
        return Promise.resolve({ value, done: false });
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => waiting = resolve);
    },
    return(): Promise<IteratorResult<T>> {
      queue = [];
      head = 0;
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
