import { test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { classifyError } from "../mod.ts";

type DenoErrors = Record<string, new (message?: string) => Error>;
const deno =
  (globalThis as { Deno?: { errors: DenoErrors; connect(o: object): Promise<unknown> } }).Deno;
const bun = (globalThis as { Bun?: { connect(o: object): Promise<unknown> } }).Bun;

test("Node error codes map to reasons", () => {
  const cases: [string, string][] = [
    ["ETIMEDOUT", "keepalive-timeout"],
    ["ECONNRESET", "reset"],
    ["ECONNABORTED", "reset"],
    ["EPIPE", "broken-pipe"],
    ["EHOSTUNREACH", "unreachable"],
    ["ENETUNREACH", "unreachable"],
    ["ENETDOWN", "unreachable"],
    ["ECONNREFUSED", "refused"],
    ["EWHATEVER", "error"],
    ["toString", "error"],
  ];
  for (const [code, reason] of cases) {
    assert.equal(classifyError(Object.assign(new Error(code), { code })), reason, code);
  }
});

test("a timeout is user-timeout only with a user timeout set and data in flight", () => {
  const error = Object.assign(new Error("ETIMEDOUT"), { code: "ETIMEDOUT" });
  assert.equal(classifyError(error, { userTimeout: true, dataInFlight: true }), "user-timeout");
  assert.equal(
    classifyError(error, { userTimeout: true, dataInFlight: false }),
    "keepalive-timeout",
  );
  assert.equal(
    classifyError(error, { userTimeout: false, dataInFlight: true }),
    "keepalive-timeout",
  );
});

test("Deno's error classes map by name", () => {
  class TimedOut extends Error {
    override name = "TimedOut";
  }
  class ConnectionReset extends Error {
    override name = "ConnectionReset";
  }
  class BrokenPipe extends Error {
    override name = "BrokenPipe";
  }
  assert.equal(classifyError(new TimedOut()), "keepalive-timeout");
  assert.equal(classifyError(new ConnectionReset()), "reset");
  assert.equal(classifyError(new BrokenPipe()), "broken-pipe");
  if (deno !== undefined) {
    // The real classes, where this runs on Deno.
    const e = deno.errors;
    assert.equal(classifyError(new e.TimedOut("t")), "keepalive-timeout");
    assert.equal(classifyError(new e.ConnectionReset("r")), "reset");
    assert.equal(classifyError(new e.ConnectionAborted("a")), "reset");
    assert.equal(classifyError(new e.BrokenPipe("p")), "broken-pipe");
    assert.equal(classifyError(new e.NetworkUnreachable("n")), "unreachable");
    assert.equal(classifyError(new e.ConnectionRefused("c")), "refused");
    assert.equal(classifyError(new e.NotFound("f")), "error");
  }
});

test("Bun's close(socket, err) shape, bare errno, and causes are understood", () => {
  // Bun reports a keepalive timeout only through close(socket, err) with err.code.
  assert.equal(
    classifyError({ code: "ETIMEDOUT", errno: -110, syscall: "recv" }),
    "keepalive-timeout",
  );
  assert.equal(classifyError({ errno: -104 }), "reset");
  assert.equal(classifyError({ errno: 32 }), "broken-pipe");
  assert.equal(classifyError(new Error("wrapped", { cause: { code: "EPIPE" } })), "broken-pipe");
  assert.equal(classifyError(undefined), "error");
  assert.equal(classifyError("ECONNRESET"), "error");
  const loop: { cause?: unknown } = {};
  loop.cause = loop;
  assert.equal(classifyError(loop), "error");
});

/** A port on loopback that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test("a real refused connection from this runtime's own API classifies as refused", async () => {
  const port = await closedPort();
  let error: unknown;
  if (deno !== undefined) {
    error = await deno.connect({ hostname: "127.0.0.1", port }).then(() => undefined, (e) => e);
  } else if (bun !== undefined) {
    error = await bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      () => undefined,
      (e) => e,
    );
  }
  if (error !== undefined) assert.equal(classifyError(error), "refused", String(error));
  // node:net, on every runtime.
  const nodeError = await new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", resolve);
  });
  assert.equal(classifyError(nodeError), "refused", String(nodeError));
});
