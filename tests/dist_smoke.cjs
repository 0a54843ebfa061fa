// The CommonJS half of the dist smoke test: `require` of every export subpath from a real CommonJS
// module (see dist_smoke.mjs for the ESM half).
const { test } = require("node:test");
const assert = require("node:assert/strict");
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
