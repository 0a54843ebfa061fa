// The monitor's table of drivers (src/_drivers.ts) on its own: a slot keeps one byte for its
// driver, so the table must never hand out 0 (no driver) for a driver nor mix two drivers up.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Driver } from "../mod.ts";
import { DriverTable, NO_DRIVER } from "../src/_drivers.ts";

const OWN_DRIVER = 255;

function driver(): Driver<string> {
  return { destroy() {} };
}

test("a driver gets a byte from 1 to 254, the same for every slot that uses it", () => {
  const table = new DriverTable<string>();
  const a = driver();
  const b = driver();
  const byteA = table.use(a, 0);
  const byteB = table.use(b, 1);
  assert.ok(byteA >= 1 && byteA <= 254, `byte ${byteA}`);
  assert.ok(byteB >= 1 && byteB <= 254, `byte ${byteB}`);
  assert.notEqual(byteA, byteB);
  assert.equal(table.use(a, 2), byteA);
  assert.equal(table.use(a, 3), byteA);
  assert.equal(table.use(b, 4), byteB);
  assert.equal(table.at(0, byteA), a);
  assert.equal(table.at(1, byteB), b);
  assert.equal(table.at(5, NO_DRIVER), undefined);
});

test("known() is true exactly while a driver has an entry", () => {
  const table = new DriverTable<string>();
  const a = driver();
  const b = driver();
  assert.equal(table.known(a), false);
  const byteA = table.use(a, 0);
  table.use(a, 1);
  const byteB = table.use(b, 2);
  assert.equal(table.known(a), true);
  assert.equal(table.known(b), true);
  table.release(0, byteA);
  assert.equal(table.known(a), true);
  table.release(1, byteA);
  assert.equal(table.known(a), false);
  table.release(2, byteB);
  assert.equal(table.known(b), false);
});

test("an entry lives while any slot uses it and goes with the last of them", () => {
  const table = new DriverTable<string>();
  const a = driver();
  const byte = table.use(a, 0);
  table.use(a, 1);
  table.use(driver(), 2);
  table.use(a, 3);
  table.release(0, byte);
  table.release(3, byte);
  assert.equal(table.at(1, byte), a);
  table.release(1, byte);
  assert.equal(table.at(1, byte), undefined);
});

test("releasing a slot without a driver changes nothing", () => {
  const table = new DriverTable<string>();
  const a = driver();
  const byte = table.use(a, 0);
  table.release(1, NO_DRIVER);
  table.release(2, NO_DRIVER);
  assert.equal(table.at(0, byte), a);
  const b = driver();
  const byteB = table.use(b, 3);
  assert.ok(byteB !== NO_DRIVER && byteB !== byte, `byte ${byteB}`);
  assert.equal(table.at(3, byteB), b);
});

test("a driver used again after its last release gets an entry of its own again", () => {
  const table = new DriverTable<string>();
  const a = driver();
  table.release(0, table.use(a, 0));
  const byte = table.use(a, 1);
  assert.equal(table.known(a), true);
  assert.equal(table.at(1, byte), a);
  const b = driver();
  const byteB = table.use(b, 2);
  assert.notEqual(byteB, byte);
  assert.equal(table.at(1, byte), a);
  assert.equal(table.at(2, byteB), b);
});

test("drivers that come and go one at a time never fill the table", () => {
  const table = new DriverTable<string>();
  const kept = driver();
  const keptByte = table.use(kept, 0);
  for (let i = 1; i <= 10_000; i++) {
    const d = driver();
    const byte = table.use(d, i);
    assert.ok(byte !== NO_DRIVER && byte !== OWN_DRIVER && byte !== keptByte, `byte ${byte}`);
    assert.equal(table.at(i, byte), d);
    table.release(i, byte);
    assert.equal(table.known(d), false);
  }
  assert.equal(table.at(0, keptByte), kept);
});

test("past 254 drivers in use, each further one is kept per slot under byte 255", () => {
  const table = new DriverTable<string>();
  const drivers = Array.from({ length: 254 }, driver);
  const bytes = drivers.map((d, slot) => table.use(d, slot));
  assert.deepEqual([...bytes].sort((x, y) => x - y), drivers.map((_, i) => i + 1));
  const e = driver();
  const f = driver();
  assert.equal(table.use(e, 300), OWN_DRIVER);
  assert.equal(table.use(f, 301), OWN_DRIVER);
  assert.equal(table.use(e, 302), OWN_DRIVER);
  assert.equal(table.at(300, OWN_DRIVER), e);
  assert.equal(table.at(301, OWN_DRIVER), f);
  assert.equal(table.at(302, OWN_DRIVER), e);
  table.release(300, OWN_DRIVER);
  assert.equal(table.at(300, OWN_DRIVER), undefined);
  assert.equal(table.at(301, OWN_DRIVER), f);
  assert.equal(table.at(302, OWN_DRIVER), e);
  drivers.forEach((d, slot) => assert.equal(table.at(slot, bytes[slot]), d));
});

test("a freed table entry goes to the next new driver; byte 255 never becomes an entry", () => {
  const table = new DriverTable<string>();
  const bytes = Array.from({ length: 254 }, (_, slot) => table.use(driver(), slot));
  assert.equal(table.use(driver(), 300), OWN_DRIVER);
  table.release(300, OWN_DRIVER);
  table.release(100, bytes[100]);
  const g = driver();
  assert.equal(table.use(g, 301), bytes[100]);
  assert.equal(table.at(301, bytes[100]), g);
  const h = driver();
  assert.equal(table.use(h, 302), OWN_DRIVER);
  assert.equal(table.at(302, OWN_DRIVER), h);
});
