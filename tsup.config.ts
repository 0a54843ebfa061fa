import type { Options } from "tsup";

// The library's entry points: ESM and CommonJS, each with its typings.
const LIBRARY = {
  index: "mod.ts",
  node: "adapters/node.ts",
  deno: "adapters/deno.ts",
  bun: "adapters/bun.ts",
};

// One shared build for both formats so ESM and CJS ship the same chunks; CJS splitting keeps a
// single copy of the core behind every entry point instead of one per adapter. The package ships
// only what its exports and bin reach (scripts/check_package.ts checks the tarball): the CLI is
// ESM only, without typings.
const config: Options = {
  entry: {
    ...LIBRARY,
    // The `socket-liveness` bin; its source starts with `#!/usr/bin/env node`, which esbuild keeps
    // and tsup turns into an executable file. It shares the ESM chunks of the library.
    cli: "cli/main.ts",
  },
  outDir: "dist",
  format: ["esm", "cjs"],
  dts: { entry: LIBRARY },
  target: "es2022",
  platform: "neutral",
  splitting: true,
  minify: false,
  sourcemap: false,
  clean: true,
  external: [/^node:/, /^bun:/, "koffi"],
  // Keep `node:` specifiers: Deno resolves Node built-ins only with the prefix.
  removeNodeProtocol: false,
  // In the CommonJS files `import.meta` does not exist: `import.meta.url` becomes the file's URL
  // (tsup's shim) and Bun's `import.meta.require` becomes the module's own `require`.
  shims: true,
  esbuildOptions(options, { format }) {
    if (format !== "cjs") return;
    options.define = { ...options.define, "import.meta.require": "require" };
    // No CommonJS CLI: the bin is dist/cli.js. (A new object: the ESM build shares this one.)
    options.entryPoints = LIBRARY;
  },
};

export default config;
