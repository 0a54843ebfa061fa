// Smoke test of the built package as npm users get it: every export subpath is imported through the
// package's own name (a self-reference, so the "exports" map is what resolves it) on the oldest Node
// we support. Run after `npm run build` with `node --test tests/dist_smoke.mjs tests/dist_smoke.cjs`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { once } from "node:events";
import net from "node:net";
import { LivenessMonitor } from "socket-liveness";
import { connectionId, watchServer } from "socket-liveness/node";

const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const subpaths = Object.keys(pkg.exports).filter((subpath) => subpath !== "./package.json");
const specifier = (subpath) => subpath === "." ? pkg.name : `${pkg.name}${subpath.slice(1)}`;

for (const subpath of subpaths) {
  test(`import "${specifier(subpath)}" exposes functions`, async () => {
    const mod = await import(specifier(subpath));
    const functions = Object.keys(mod).filter((name) => typeof mod[name] === "function");
    assert.ok(functions.length > 0, `${specifier(subpath)} exports no function`);
  });

  test(`import and require of "${specifier(subpath)}" export the same names`, async () => {
    const esm = await import(specifier(subpath));
    const cjs = require(specifier(subpath));
    assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  });
}

test("package.json is exported", () => {
  assert.equal(require(`${pkg.name}/package.json`).version, pkg.version);
});

test("the ESM build works: a duration parses", async () => {
  const { parseDuration } = await import(pkg.name);
  assert.equal(parseDuration("1m30s", "interval"), 90_000);
});

test("the ESM Node adapter declares a silent peer dead and destroys its socket", async () => {
  const deaths = [];
  const monitor = new LivenessMonitor({
    resolution: 10,
    heartbeat: { interval: 100, timeout: 100, send: (socket) => socket.write("PING\n") },
    onTransition: (t) => t.to === "dead" && deaths.push(t.reason),
  });
  const server = net.createServer();
  let client;
  let socket;
  // A failed assertion must not leave the server open: the runner would wait for it.
  try {
    watchServer(monitor, server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const accepted = once(server, "connection");
    client = net.connect(server.address().port, "127.0.0.1").resume(); // reads, never answers
    [socket] = await accepted;
    assert.ok(connectionId(socket) !== undefined);
    await once(client, "end");
    assert.deepEqual(deaths, ["heartbeat-timeout"]);
    assert.equal(socket.destroyed, true);
  } finally {
    client?.destroy();
    socket?.destroy();
    server.close();
    monitor.close();
  }
});

test("the built CLI runs on this Node: plan prints the bound as JSON", async () => {
  const { execFileSync } = await import("node:child_process");
  const cli = new URL("../dist/cli.js", import.meta.url);
  const out = execFileSync(process.execPath, [
    cli.pathname,
    "plan",
    "--keepalive",
    "2s:1s:3",
    "--json",
  ], {
    encoding: "utf8",
  });
  assert.equal(JSON.parse(out).bound.idleMs, 5000);
});

test("the built CLI prints the package's version and names npm's specifiers", async () => {
  const { execFileSync, spawn } = await import("node:child_process");
  const cli = new URL("../dist/cli.js", import.meta.url).pathname;
  assert.equal(
    execFileSync(process.execPath, [cli, "--version"], { encoding: "utf8" }),
    `${pkg.version}\n`,
  );
  const server = net.createServer((peer) => peer.end()); // the probe ends when the peer does
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const probe = spawn(process.execPath, [
    cli,
    "probe",
    `127.0.0.1:${server.address().port}`,
    "--json",
  ], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const timer = setTimeout(() => probe.kill("SIGKILL"), 20_000);
  try {
    let out = "";
    probe.stdout.setEncoding("utf8").on("data", (text) => out += text);
    const [code] = await once(probe, "exit");
    assert.equal(code, 0, out);
    const connected = JSON.parse(out.split("\n")[0]);
    assert.equal(connected.event, "connected");
    assert.equal(connected.adapter, "socket-liveness/node");
  } finally {
    clearTimeout(timer);
    server.close();
  }
});
