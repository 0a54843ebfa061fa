// The drivers of a monitor's connections. The few an application shares (an adapter's one per
// monitor) sit in a table of 254 with use counts, so a connection costs one byte for its driver;
// past that, a slot keeps its own in a map. Any number over a monitor's life: an entry is released
// when no connection uses it.

import type { Driver } from "./connection.ts";

/** The byte a slot holds for "no driver". */
export const NO_DRIVER = 0;
/** The byte a slot holds when its driver is kept per slot (the table was full). */
const OWN_DRIVER = 255;

export class DriverTable<C> {
  #drivers: (Driver<C> | undefined)[] = [undefined]; // by index; 0 is "none"
  #uses: number[] = [0]; // connections per entry
  #index = new Map<Driver<C>, number>();
  #free: number[] = [];
  #own: Map<number, Driver<C>> | undefined; // slot -> driver, once the table is full
  // The driver used last and its entry: an adapter hands the same one for every connection.
  #last: Driver<C> | undefined;
  #lastIndex = NO_DRIVER;

  /** Whether `driver` has an entry now: it was checked when it got one. */
  known(driver: Driver<C>): boolean {
    return driver === this.#last || this.#index.has(driver);
  }

  /** A slot starts to use `driver`: returns the byte to keep for the slot. */
  use(driver: Driver<C>, slot: number): number {
    if (driver === this.#last) {
      this.#uses[this.#lastIndex]++;
      return this.#lastIndex;
    }
    let index = this.#index.get(driver);
    if (index === undefined) {
      index = this.#free.pop() ??
        (this.#drivers.length < OWN_DRIVER ? this.#drivers.length : undefined);
      if (index === undefined) {
        (this.#own ??= new Map()).set(slot, driver);
        return OWN_DRIVER;
      }
      this.#drivers[index] = driver;
      this.#uses[index] = 0;
      this.#index.set(driver, index);
    }
    this.#uses[index]++;
    this.#last = driver;
    this.#lastIndex = index;
    return index;
  }

  /** The driver of a slot that holds `byte`. */
  at(slot: number, byte: number): Driver<C> | undefined {
    return byte === OWN_DRIVER ? this.#own?.get(slot) : this.#drivers[byte];
  }

  /** A slot that held `byte` stops using its driver. */
  release(slot: number, byte: number): void {
    if (byte === NO_DRIVER) return;
    if (byte === OWN_DRIVER) {
      this.#own?.delete(slot);
      return;
    }
    if (--this.#uses[byte] > 0) return;
    if (byte === this.#lastIndex) {
      this.#last = undefined;
      this.#lastIndex = NO_DRIVER;
    }
    this.#index.delete(this.#drivers[byte]!);
    this.#drivers[byte] = undefined;
    this.#free.push(byte);
  }
}
