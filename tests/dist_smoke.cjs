// The CommonJS half of the dist smoke test: `require` of every export subpath from a real CommonJS
// module (see dist_smoke.mjs for the ESM half).
const { test } = require("node:test");
const assert = require("node:assert/strict");
const { once } = require("node:events");
const net = require("node:net");
const pkg = require("../package.json");

const subpaths = Object.keys(pkg.exports).filter((subpath) => subpath !== "./package.json");
const specifier = (subpath) => subpath === "." ? pkg.name : `${pkg.name}${subpath.slice(1)}`;

for (const subpath of subpaths) {
  test(`require("${specifier(subpath)}") exposes functions`, () => {
    const mod = require(specifier(subpath));
    const functions = Object.keys(mod).filter((name) => typeof mod[name] === "function");
    assert.ok(functions.length > 0, `${specifier(subpath)} exports no function`);
  });
}

test("the CommonJS build works: a duration parses", () => {
  const { parseDuration } = require(pkg.name);
  assert.equal(parseDuration("1m30s", "interval"), 90_000);
});

test("the CommonJS Node adapter watches, tunes and closes a loopback connection", async () => {
  const { LivenessMonitor } = require(pkg.name);
  const { connect, connectionId, tuningReport, watchServer } = require(`${pkg.name}/node`);
  const transitions = [];
  const monitor = new LivenessMonitor({
    keepalive: "2s:1s:3",
    onTransition: (t) => transitions.push(`${t.from}->${t.to}:${t.reason}`),
  });
  const sockets = new Set();
  const server = net.createServer((socket) => sockets.add(socket.resume()));
  let client;
  // A failed assertion must not leave the server open: the runner would wait for it.
  try {
    watchServer(monitor, server);
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    client = connect(monitor, { port: server.address().port, host: "127.0.0.1" });
    await once(client, "connect");
    const report = tuningReport(client);
    assert.equal(report.idle.value, 2000);
    assert.equal(report.keepalive.status, "applied");
    assert.equal(monitor.state(connectionId(client)), "open");
    client.destroy();
    await once(client, "close");
    assert.deepEqual(transitions.slice(0, 2), [
      "connecting->open:connected",
      "open->closed:local-close",
    ]);
  } finally {
    client?.destroy();
    for (const socket of sockets) socket.destroy();
    server.close();
    monitor.close();
  }
});
