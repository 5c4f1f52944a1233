// Builds hako: the native helper (make), then one bundle per program (esbuild),
// so each command starts by loading a single file.
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { createRequire } from "node:module";
import v8 from "node:v8";
import vm from "node:vm";

const requireHere = createRequire(import.meta.url);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { version } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));

// HAKO_SKIP_NATIVE=1 rebuilds only the bundles (while someone else is editing native/).
if (!process.env.HAKO_SKIP_NATIVE) {
  execFileSync("make", ["-C", path.join(root, "native"), "-s", `VERSION=${version}`], { stdio: "inherit" });
}

const programs = {
  hako: "src/cli/main.ts",
  hakod: "src/daemon/main.ts",
  "hako-runtime": "src/runtime/main.ts",
};

/**
 * Node's built-in modules load at start-up when a bundle requires them at
 * its top, and half of a short command's start-up was spent there
 * (child_process, crypto, net, ...). For the short-lived programs, imports
 * of these resolve to a stand-in that requires the real module on first
 * use: `import { spawn } from "node:child_process"` costs nothing until
 * something spawns.
 *
 * esbuild hands every importer of a bundled CommonJS module (the stand-in)
 * to its __toESM helper, which copies each of the module's names onto a
 * new object (a getter per name, two dozen times: crypto's 80 names four
 * times). The stand-in carries what __toESM would make of it (the
 * namespace: "default" the stand-in, any other name the real module's),
 * and __toESM is patched to take that (LAZY_NAMESPACE below).
 */
const LAZY_BUILTINS = /^(node:)?(child_process|crypto|readline|zlib|fs\/promises|dgram|dns|tls|https|http|net|os|tty|perf_hooks|url|stream|stream\/promises|string_decoder|events)$/;
/**
 * hakod starts once and then uses most of what it imports, so only what
 * an idle daemon never touches waits: TLS (registries over HTTPS), zlib
 * (compressed layers), DNS and UDP (the embedded DNS server of user
 * networks). ~1.5 MB of an idle hakod's RSS.
 */
const HAKOD_LAZY_BUILTINS = /^(node:)?(zlib|dgram|dns|dns\/promises|tls|https)$/;
const LAZY_NAMESPACE = 'Symbol.for("hako.lazy-builtin.namespace")';
const lazyBuiltins = (filter) => ({
  name: "lazy-builtins",
  setup(b) {
    b.onResolve({ filter }, (args) =>
      // The stand-in's own require is the real module.
      args.namespace === "lazy-builtin" ? { path: args.path, external: true } : { path: args.path.replace(/^node:/, ""), namespace: "lazy-builtin" },
    );
    b.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (args) => {
      // The names are known now (same node): listing them must not load the module.
      const keys = JSON.stringify(Object.keys(requireHere(`node:${args.path}`)));
      return {
        contents: `let m; const load = () => (m ??= require(${JSON.stringify(`node:${args.path}`)}));
const keys = ${keys};
const names = new Set(keys);
const NAMESPACE = ${LAZY_NAMESPACE};
const descriptor = (k) => (names.has(k) ? { configurable: true, enumerable: true, writable: true, value: undefined } : undefined);
const standIn = new Proxy({}, {
  get: (_, k) => (k === NAMESPACE ? namespace : k === "__esModule" ? undefined : load()[k]),
  has: (_, k) => names.has(k),
  ownKeys: () => keys.slice(),
  getOwnPropertyDescriptor: (_, k) => descriptor(k),
});
const namespace = new Proxy({}, {
  get: (_, k) => (k === "default" ? standIn : typeof k === "string" && names.has(k) ? load()[k] : undefined),
  has: (_, k) => k === "default" || names.has(k),
  ownKeys: () => ["default", ...keys],
  getOwnPropertyDescriptor: (_, k) => (k === "default" ? { configurable: true, enumerable: true, writable: true, value: undefined } : descriptor(k)),
});
module.exports = standIn;`,
        loader: "js",
      };
    });
  },
});

/**
 * esbuild writes code as ASCII (its default charset escapes the rest in
 * strings and names), but keeps the comments it keeps as they are; one
 * "→" there and V8 holds the whole bundle's source as a two-byte string
 * for as long as the program runs (hakod's: 1.6 MB instead of 0.8). Those
 * characters are escaped too.
 */
function asciiOnly(file) {
  const text = readFileSync(file, "utf8");
  const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (ascii !== text) writeFileSync(file, ascii);
}

/** esbuild's __toESM, taught to take a lazy stand-in's namespace as it is (see above). */
function patchToEsm(file) {
  const text = readFileSync(file, "utf8");
  // esbuild names the third parameter target, target2, ... as the bundle's own names require.
  const helper = /var __toESM = \(mod, isNodeMode, (target\d*)\) => \(/g;
  const found = text.match(helper) ?? [];
  if (found.length !== 1) throw new Error(`${file}: esbuild's __toESM helper not found once; update patchToEsm`);
  writeFileSync(file, text.replace(helper, (head) => `${head.slice(0, -1)}mod?.[${LAZY_NAMESPACE}] ?? (`));
}

await Promise.all(
  Object.entries(programs).map(([name, entry]) =>
    build({
      plugins: [lazyBuiltins(name === "hakod" ? HAKOD_LAZY_BUILTINS : LAZY_BUILTINS)],
      entryPoints: [path.join(root, entry)],
      outfile: path.join(root, "dist", `${name}.cjs`),
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      sourcemap: "linked",
      legalComments: "none",
      define: { HAKO_VERSION: JSON.stringify(version) },
      logLevel: "warning",
    }).then(() => {
      const file = path.join(root, "dist", `${name}.cjs`);
      patchToEsm(file);
      asciiOnly(file);
    }),
  ),
);

// The launcher and, for the short-lived commands, V8 code caches of every
// function in the bundle. V8 compiles a function when it is first called;
// a cache made by one run (--help) left the rest of a command's functions
// to compile as they ran: 2-3 ms of `hako run`, more than the cache's own
// loading grows by (0.27 to 0.8 MB, +1.5 ms). The cache must be made the
// way launch.cjs compiles the bundle (the same wrapper and file name), and
// with V8's flags as a normal run has them: lazy compilation is turned off
// only while the script compiles.
copyFileSync(path.join(root, "scripts/launch.cjs"), path.join(root, "dist/launch.cjs"));
const wrap = requireHere("node:module").wrap;
for (const name of Object.keys(programs)) {
  const filename = path.join(root, "dist", `${name}.cjs`);
  rmSync(`${filename}.cache`, { force: true });
  if (name === "hakod") continue;
  v8.setFlagsFromString("--no-lazy");
  let script;
  try {
    script = new vm.Script(wrap(readFileSync(filename, "utf8")), { filename });
  } finally {
    v8.setFlagsFromString("--lazy");
  }
  writeFileSync(`${filename}.cache`, script.createCachedData());
}
