// Builds hako: the native helper (make), then one bundle per program (esbuild),
// so each command starts by loading a single file.
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

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

await Promise.all(
  Object.entries(programs).map(([name, entry]) =>
    build({
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
    }),
  ),
);

// The launcher and, for the short-lived commands, V8 code caches made by a
// run that touches the common paths (a bundle that changed makes a new cache).
copyFileSync(path.join(root, "scripts/launch.cjs"), path.join(root, "dist/launch.cjs"));
for (const name of Object.keys(programs)) rmSync(path.join(root, "dist", `${name}.cjs.cache`), { force: true });
for (const [name, args] of [["hako", ["--help"]], ["hako-runtime", ["--help"]]]) {
  execFileSync(process.execPath, [path.join(root, "bin", name), ...args], {
    env: { ...process.env, HAKO_WRITE_CODE_CACHE: "1" },
    stdio: "ignore",
  });
}
