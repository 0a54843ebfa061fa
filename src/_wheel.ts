// The monitor's timing wheel (Netty's HashedWheelTimer, visited lazily): 1024 buckets of slots,
// one per tick, each a singly linked list through the store's `next` array (shared with the free
// list: a slot is on one or the other). A deadline further than one lap away is filed at the end
// of the lap and looked at again then, so the wheel never needs more than one lap.

export const WHEEL_SIZE = 1024;
const WHEEL_MASK = WHEEL_SIZE - 1;

export class TimingWheel {
  #heads = new Int32Array(WHEEL_SIZE).fill(-1);
  // Tails, so that a bucket runs in the order it was filled.
  #tails = new Int32Array(WHEEL_SIZE);

  /** Files `slot` in the bucket `wait` ticks after `tick` (1 to one lap). */
  link(next: Int32Array, slot: number, tick: number, wait: number): void {
    if (wait < 1) wait = 1;
    else if (wait >= WHEEL_SIZE) wait = WHEEL_SIZE - 1;
    const bucket = (tick + wait) & WHEEL_MASK;
    next[slot] = -1;
    if (this.#heads[bucket] < 0) this.#heads[bucket] = slot;
    else next[this.#tails[bucket]] = slot;
    this.#tails[bucket] = slot;
  }

  /** Takes the list of `tick`'s bucket off the wheel: its first slot, or -1. */
  take(tick: number): number {
    const bucket = tick & WHEEL_MASK;
    const head = this.#heads[bucket];
    this.#heads[bucket] = -1;
    return head;
  }

  /** Empties every bucket. */
  clear(): void {
    this.#heads.fill(-1);
  }
}
