import type { Options } from "tsup";

// One shared build for both formats so ESM and CJS ship the same chunks; CJS splitting keeps a
// single copy of the core behind every entry point instead of one per adapter.
const config: Options = {
  entry: {
    index: "mod.ts",
    node: "adapters/node.ts",
    deno: "adapters/deno.ts",
    bun: "adapters/bun.ts",
    // The `socket-liveness` bin; its source starts with `#!/usr/bin/env node`, which esbuild keeps
    // and tsup turns into an executable file.
    cli: "cli/main.ts",
  },
  outDir: "dist",
  format: ["esm", "cjs"],
  dts: true,
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
    if (format === "cjs") options.define = { ...options.define, "import.meta.require": "require" };
  },
};

export default config;
