/**
 * The Engine API versions hakod speaks and the facts about this build that
 * /version reports. API 1.44 is declared; 1.24 and up is accepted (see the
 * shared ECOSYSTEM notes: old pinned clients keep working, newer ones
 * negotiate down).
 */
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { VERSION } from "../common/version.ts";

/** The highest (and default) API version: what `Api-Version` announces. */
export const API_VERSION = "1.44";
/** The lowest API version a request may ask for. */
export const MIN_API_VERSION = "1.24";

/**
 * Compares two "major.minor" API versions numerically.
 *
 * @example compareApiVersions("1.9", "1.24") // -1
 */
export function compareApiVersions(a: string, b: string): -1 | 0 | 1 {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number.parseInt(pa[i] ?? "0", 10) || 0;
    const y = Number.parseInt(pb[i] ?? "0", 10) || 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** True when `version` is at least `min` ("1.42" features gate on this). */
export function apiVersionAtLeast(version: string, min: string): boolean {
  return compareApiVersions(version, min) >= 0;
}

export interface BuildInfo {
  version: string;
  /** Short commit of the checkout the bundle was built from, or "unknown". */
  gitCommit: string;
  /** When the running bundle was built (its mtime), RFC 3339. */
  buildTime: string;
  /** "node v20.x": what Docker's GoVersion field holds for a Go daemon. */
  runtimeVersion: string;
  os: "linux";
  /** GOARCH spelling (amd64, arm64) of the machine. */
  arch: string;
}

let cached: BuildInfo | undefined;

/** Facts about this build, computed once per process. */
export function buildInfo(): BuildInfo {
  cached ??= {
    version: VERSION,
    gitCommit: readGitCommit(),
    buildTime: readBuildTime(),
    runtimeVersion: `node ${process.version}`,
    os: "linux",
    arch: goArch(process.arch),
  };
  return cached;
}

/** Node's process.arch in Go's GOARCH spelling. */
export function goArch(arch: string): string {
  const map: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64" };
  return map[arch] ?? arch;
}

// The bundle is dist/*.cjs inside the checkout; reading .git directly (no
// git process) keeps start-up cheap.
function readGitCommit(): string {
  for (const dir of [path.resolve(__dirname, ".."), path.resolve(__dirname, "../..")]) {
    try {
      const gitDir = path.join(dir, ".git");
      const head = readFileSync(path.join(gitDir, "HEAD"), "utf8").trim();
      if (!head.startsWith("ref: ")) return head.slice(0, 7);
      const ref = head.slice(5);
      try {
        return readFileSync(path.join(gitDir, ref), "utf8").trim().slice(0, 7);
      } catch {
        const packed = readFileSync(path.join(gitDir, "packed-refs"), "utf8");
        const line = packed.split("\n").find((l) => l.endsWith(` ${ref}`));
        if (line) return line.slice(0, 7);
      }
    } catch {
      // not this directory
    }
  }
  return "unknown";
}

function readBuildTime(): string {
  try {
    return statSync(__filename).mtime.toISOString();
  } catch {
    return new Date(0).toISOString();
  }
}
