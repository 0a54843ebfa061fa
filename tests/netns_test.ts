// Proves the cut-cable harness on the runtime running it, with a fixture that uses node:net only.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  after,
  type JsonLine,
  namespaceNames,
  type Netns,
  type NetnsChild,
  netnsSkip,
  runtime,
  scriptCommand,
  withinBound,
  withNetns,
} from "./_netns.ts";

const fixture = new URL("./fixtures/raw_echo.mjs", import.meta.url);
// Decided where each test is defined, so every runner reports the skip (tests/_skip.ts); in CI these
// run, and fail when namespaces do not work.
const skip = netnsSkip();
// Bun's default is 5 s per test; the cut tests wait out keepalive.
const slow = { skip, timeout: 30_000 };

/**
 * What node:net's `setKeepAlive(true, 1000)` does on a cut cable, as measured (Linux 6.18). Node and
 * Bun set TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s and TCP_KEEPCNT 10: both ends fail with ETIMEDOUT
 * 1 s + 10 × 1 s = 11 s after the last answered probe (`boundMs`), so 10–11 s after the cut. Deno
 * 2.9 sets only TCP_KEEPIDLE; the kernel's 75 s interval and 9 probes leave the cut unnoticed for
 * about 11 min.
 */
const onCut: Record<typeof runtime, { code: string; boundMs: number } | { silentForMs: number }> = {
  node: { code: "ETIMEDOUT", boundMs: 11_000 },
  bun: { code: "ETIMEDOUT", boundMs: 11_000 },
  deno: { silentForMs: 13_000 },
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const is = (event: string, side?: string) => (line: JsonLine): boolean =>
  line.event === event && (side === undefined || line.side === side);

const failures = (echo: NetnsChild): JsonLine[] =>
  echo.lines.filter((line) => line.event === "error" || line.event === "close");

/** Starts the fixture in `ns` and waits until its connection to itself is up on both ends. */
async function startEcho(ns: Netns): Promise<{ echo: NetnsChild; port: number }> {
  const { cmd, args } = scriptCommand(fixture, ["1000"]);
  const echo = ns.spawn(cmd, args);
  const listening = await echo.next(is("listening"), 10_000);
  await echo.next(is("connected", "client"), 5_000);
  await echo.next(is("connected", "server"), 5_000);
  echo.write({ send: "before" });
  assert.equal((await echo.next(is("echo"), 5_000)).data, "before");
  return { echo, port: Number(listening.port) };
}

test(`a cut cable: node:net keepalive on ${runtime} reports it as measured`, slow, async () => {
  await withNetns(async (ns) => {
    const { echo, port } = await startEcho(ns);
    await sleep(2_500); // idle long enough for answered keepalive probes
    assert.deepEqual(failures(echo), [], "the connection died before the cut");

    const cutStarted = performance.now();
    await ns.cut(port);
    const cutDone = performance.now();
    const expected = onCut[runtime];
    if ("silentForMs" in expected) {
      await sleep(expected.silentForMs);
      assert.deepEqual(failures(echo), [], "keepalive noticed the cut: update onCut");
      return;
    }
    const first = await echo.next(is("error"), expected.boundMs + 5_000);
    const second = await echo.next(is("error"), 2_000);
    assert.deepEqual([first.code, second.code], [expected.code, expected.code]);
    assert.deepEqual([first.side, second.side].sort(), ["client", "server"]);
    const early = Math.round(echo.receivedAt(first) - cutStarted);
    assert.ok(early > 5_000, `reported ${early} ms after the cut: too soon for keepalive`);
    // Counted from the moment the cut is in force: the last answered probe was no later.
    for (const line of [first, second]) {
      const what = `${line.side} ${line.code} after the cut`;
      withinBound(what, after(echo, line, cutDone), expected.boundMs);
    }
    await echo.next(is("close", "client"), 2_000);
    await echo.next(is("close", "server"), 2_000);
  });
});

test("heal() lets traffic held back by a cut through again", slow, async () => {
  await withNetns(async (ns) => {
    const { echo, port } = await startEcho(ns);
    await ns.cut(port);
    echo.write({ send: "held" });
    await assert.rejects(echo.next(is("echo"), 1_500), /no matching line in 1500 ms/);
    await ns.heal();
    // TCP retransmits with backoff (0.2, 0.6, 1.4, 3 s…), so the echo comes within a few seconds.
    assert.equal((await echo.next(is("echo"), 8_000)).data, "held");
    assert.deepEqual(failures(echo), []);
    await ns.heal(); // healing twice is harmless
  });
});

test("cutPorts() drops a port range both ways on input, and heal() removes the table", {
  skip,
}, async () => {
  await withNetns(async (ns) => {
    await ns.cutPorts(40_000, 40_099);
    await ns.cut(41_000);
    const table = await ns.exec("nft", ["list", "table", "inet", "sl_cut"]);
    for (const chain of ["input"]) {
      const body = table.split(`chain ${chain} {`)[1].split("}")[0];
      assert.match(body, new RegExp(`hook ${chain} priority filter; policy accept;`));
      for (const rule of ["dport 40000-40099", "sport 40000-40099", "dport 41000", "sport 41000"]) {
        assert.match(body, new RegExp(`tcp ${rule} drop`), `${chain} lacks ${rule}`);
      }
    }
    await ns.heal();
    assert.equal((await ns.exec("nft", ["list", "tables"])).trim(), "");
    await assert.rejects(ns.cut(0), RangeError);
    await assert.rejects(ns.cutPorts(2, 1), RangeError);
  });
});

test("a namespace has only its own loopback, up", { skip }, async () => {
  await withNetns(async (ns) => {
    const links = await ns.exec("ip", ["-brief", "link"]);
    assert.deepEqual(links.trim().split("\n").map((line) => line.split(/\s+/).slice(0, 2)), [
      ["lo", "UNKNOWN"],
    ]);
    assert.match(await ns.exec("ip", ["-brief", "address"]), /127\.0\.0\.1\/8/);
  });
});

test("waits are bounded and failures carry the child's stderr", { skip }, async () => {
  await withNetns(async (ns) => {
    const failing = ns.spawn("sh", [
      "-c",
      'echo \'{"event":"hello"}\'; echo "went wrong" >&2; exit 3',
    ]);
    await assert.rejects(failing.next(is("never"), 5_000), (error: Error) => {
      assert.match(error.message, /ended \(exit code 3\) before a matching line/);
      assert.match(error.message, /"event":"hello"/);
      assert.match(error.message, /went wrong/);
      return true;
    });
    assert.deepEqual(failing.lines, [{ event: "hello" }]);

    const quiet = ns.spawn("sh", [
      "-c",
      'echo "still thinking" >&2; echo \'{"event":"up"}\'; exec sleep 60',
    ]);
    await quiet.next(is("up"), 5_000);
    await assert.rejects(
      quiet.next(is("never"), 500),
      /no matching line in 500 ms[\s\S]*still thinking/,
    );
    assert.equal((await quiet.kill()).signal, "SIGKILL");

    await assert.rejects(ns.exec("sh", ["-c", "echo nope >&2; exit 2"]), /exit code 2\): nope/);
    await assert.rejects(ns.exec("sleep", ["5"], { timeoutMs: 200 }), /timed out after 200 ms/);
  });
});

test("withNetns always deletes the namespace and kills what ran in it", { skip }, async () => {
  const seen: { name: string; child: NetnsChild }[] = [];
  const enter = (ns: Netns): NetnsChild => {
    assert.ok(namespaceNames().includes(ns.name), `${ns.name} is not listed`);
    const child = ns.spawn("sleep", ["60"]);
    seen.push({ name: ns.name, child });
    return child;
  };

  const value = await withNetns((ns) => {
    enter(ns);
    return Promise.resolve(42);
  });
  assert.equal(value, 42);
  await assert.rejects(
    withNetns((ns) => {
      enter(ns);
      throw new Error("boom"); // thrown, not rejected: withNetns must cope with both
    }),
    /boom/,
  );
  await assert.rejects(
    withNetns(async (ns) => {
      await enter(ns).next(is("never"), 60_000); // ends in a rejection nobody awaits any more
    }, { timeoutMs: 500 }),
    /did not settle within 500 ms/,
  );

  const names = namespaceNames();
  for (const { name, child } of seen) {
    assert.ok(!names.includes(name), `${name} is still there`);
    assert.deepEqual(await child.exited, { code: null, signal: "SIGKILL" });
  }
  assert.equal(new Set(seen.map(({ name }) => name)).size, 3);
});
