// Bundles the cable-cut suite and the Node peer fixture for a Node without type stripping (20),
// against the BUILT package: the fixture's imports of mod.ts and adapters/node.ts become
// "socket-liveness" and "socket-liveness/node", resolved by self-reference through package.json's
// exports to dist/. Run after `npm run build`; writes .tmp/node20/. Run the suite with
// LIVENESS_PEER_FIXTURE=.tmp/node20/node_peer.mjs node --test .tmp/node20/cut_test.mjs
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const out = `${root}.tmp/node20`;

/** Maps the sources of the package to the package's own names. */
const builtPackage = {
  name: "built-package",
  setup(plugin) {
    plugin.onResolve(
      { filter: /(^|\/)mod\.ts$/ },
      () => ({ path: "socket-liveness", external: true }),
    );
    plugin.onResolve({ filter: /adapters\/(node|deno|bun)\.ts$/ }, (args) => ({
      path: `socket-liveness/${/adapters\/(\w+)\.ts$/.exec(args.path)[1]}`,
      external: true,
    }));
  },
};

const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  plugins: [builtPackage],
  logLevel: "warning",
};
await build({
  ...common,
  entryPoints: [`${root}tests/fixtures/node_peer.ts`],
  outfile: `${out}/node_peer.mjs`,
});
await build({
  ...common,
  entryPoints: [`${root}tests/cut_test.ts`],
  outfile: `${out}/cut_test.mjs`,
});
