/**
 * A throw-away Debian `docker-registry` (distribution 2.8) on 127.0.0.1 for
 * the registry client tests: free port, temp storage, generated config.yml
 * (deletes enabled, optional htpasswd auth), killed by pid and removed after.
 *
 *   docker-registry serve <tmpdir>/config.yml
 *
 * `registrySkipReason()` installs the packages with apt-get when they are
 * missing and we are root (HAKO_TEST_NO_INSTALL=1 turns that off), and gives
 * a reason to skip when the binary still cannot run.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";

export const REGISTRY_BIN = "/usr/bin/docker-registry";
export const HTPASSWD_BIN = "/usr/bin/htpasswd";

export interface TestRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  port: number;
  dir: string;
  pid: number;
  /** what the registry wrote to stdout/stderr so far (for failure messages) */
  log(): string;
  stop(): Promise<void>;
}

let cachedReason: string | undefined | null = null;

/** Why the registry tests cannot run here, or undefined when they can. */
export function registrySkipReason(): string | undefined {
  if (cachedReason !== null) return cachedReason;
  cachedReason = probe();
  return cachedReason;
}

function probe(): string | undefined {
  if (!existsSync(REGISTRY_BIN) || !existsSync(HTPASSWD_BIN)) {
    if (process.env.HAKO_TEST_NO_INSTALL === "1") return `${REGISTRY_BIN} or ${HTPASSWD_BIN} missing (apt-get install docker-registry apache2-utils)`;
    if (process.getuid?.() !== 0) return `${REGISTRY_BIN} missing and not root to apt-get install docker-registry apache2-utils`;
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    let r = spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "docker-registry", "apache2-utils"], { env, encoding: "utf8", timeout: 300_000 });
    if (r.status !== 0) {
      spawnSync("apt-get", ["update"], { env, encoding: "utf8", timeout: 300_000 });
      r = spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "docker-registry", "apache2-utils"], { env, encoding: "utf8", timeout: 300_000 });
    }
    if (!existsSync(REGISTRY_BIN) || !existsSync(HTPASSWD_BIN)) {
      return `cannot install docker-registry/apache2-utils: ${(r.stderr || r.error?.message || "").trim().split("\n").slice(-2).join(" ")}`;
    }
  }
  const v = spawnSync(REGISTRY_BIN, ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (v.status !== 0) return `${REGISTRY_BIN} --version failed: ${(v.stderr || v.error?.message || "").trim()}`;
  return undefined;
}

/** A port nobody listens on right now (bind :0 on 127.0.0.1, then release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function probeV2(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/v2/", timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(undefined));
  });
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) if (child.pid && child.exitCode === null) try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ }
});

/** Starts a registry; with `htpasswd` it requires Basic auth for that user. */
export async function startRegistry(opts: { htpasswd?: { user: string; password: string } } = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hako-registry-"));
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const lines = [
      "version: 0.1",
      "log:",
      "  level: warn",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${path.join(dir, "data")}`,
      "  delete:",
      "    enabled: true",
      "  maintenance:",
      "    uploadpurging:",
      "      enabled: false",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomBytes(16).toString("hex")}`,
    ];
    if (opts.htpasswd) {
      const h = spawnSync(HTPASSWD_BIN, ["-Bbn", opts.htpasswd.user, opts.htpasswd.password], { encoding: "utf8" });
      if (h.status !== 0) throw new Error(`htpasswd failed: ${h.stderr}`);
      writeFileSync(path.join(dir, "htpasswd"), h.stdout);
      lines.push("auth:", "  htpasswd:", "    realm: basic-realm", `    path: ${path.join(dir, "htpasswd")}`);
    }
    const configFile = path.join(dir, "config.yml");
    writeFileSync(configFile, lines.join("\n") + "\n");
    const child = spawn(REGISTRY_BIN, ["serve", configFile], { stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    let output = "";
    child.stdout!.on("data", (d) => (output = (output + d).slice(-20_000)));
    child.stderr!.on("data", (d) => (output = (output + d).slice(-20_000)));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const deadline = Date.now() + 15_000;
    let up = false;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      const status = await probeV2(port);
      if (status === 200 || status === 401) {
        up = true;
        break;
      }
      await delay(50);
    }
    if (up) {
      const pid = child.pid!;
      return {
        host: `127.0.0.1:${port}`,
        port,
        dir,
        pid,
        log: () => output,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            process.kill(pid, "SIGTERM");
            const timer = new AbortController();
            const killed = await Promise.race([
              exited.then(() => true),
              delay(5000, false, { signal: timer.signal }).catch(() => false),
            ]);
            timer.abort();
            if (!killed) {
              process.kill(pid, "SIGKILL");
              await exited;
            }
          }
          live.delete(child);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    lastError = output;
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, "SIGKILL");
      await exited;
    }
    live.delete(child);
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`docker-registry did not start: ${lastError.trim().split("\n").slice(-5).join("\n")}`);
}
