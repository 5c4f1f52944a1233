/**
 * Getting hakod's unix socket and pid file in place: refuse to start when
 * another daemon answers, remove what a dead one left, restrict the socket
 * to root and the hako group.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, statSync, unlinkSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { ConflictError, FailedPreconditionError, isErrno } from "../common/errors.ts";
import { writeFileAtomic } from "../common/fs.ts";
import type { Logger } from "../api/context.ts";

/** True when something answers HTTP on the socket within `timeoutMs`. */
export function socketAnswers(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, path: "/_ping", method: "GET", timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    // Connected but silent: something is there, so it is not ours to remove.
    req.on("timeout", () => {
      req.destroy();
      resolve(true);
    });
    req.on("error", () => resolve(false));
    req.end();
  });
}

/**
 * Makes `socketPath` free to listen on: its directory exists (0755), a
 * live daemon behind it is a conflict, a stale socket file is removed.
 */
export async function prepareUnixSocket(socketPath: string, log: Logger): Promise<void> {
  const dir = path.dirname(socketPath);
  try {
    statSync(dir);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  }
  let st;
  try {
    st = lstatSync(socketPath);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  if (!st.isSocket()) throw new FailedPreconditionError(`${socketPath} exists and is not a socket; remove it or choose another -H`);
  if (await socketAnswers(socketPath)) {
    throw new ConflictError(`another daemon is already serving unix://${socketPath}; stop it first (or use another -H)`);
  }
  unlinkSync(socketPath);
  log.info("removed a stale socket", { path: socketPath });
}

/** The gid of group `name` from /etc/group, if it exists. */
export function lookupGroup(name: string, groupFile = "/etc/group"): number | undefined {
  try {
    for (const line of readFileSync(groupFile, "utf8").split("\n")) {
      const [group, , gid] = line.split(":");
      if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
    }
  } catch {
    // no group database: no group
  }
  return undefined;
}

/** Socket mode 0660, owned by root and `group` when that group exists (dockerd's -G). */
export function secureUnixSocket(socketPath: string, group: string, log: Logger): void {
  chmodSync(socketPath, 0o660);
  const gid = lookupGroup(group);
  if (gid === undefined) {
    log.debug("socket group not found; the socket stays root-only", { group });
    return;
  }
  try {
    chownSync(socketPath, process.getuid?.() ?? 0, gid);
  } catch (err) {
    log.warn("could not give the socket to its group", { group, error: (err as Error).message });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, "EPERM");
  }
}

/**
 * Writes our pid to `file`, refusing when it names another live hakod
 * (dockerd: "pid file found, ensure docker is not running").
 */
export function writePidFile(file: string): void {
  let existing: string | undefined;
  try {
    existing = readFileSync(file, "utf8");
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  const pid = Number(existing?.trim());
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid) && isHakod(pid)) {
    throw new ConflictError(`pid file found, ensure hakod is not running or delete ${file} (pid ${pid})`);
  }
  writeFileAtomic(file, `${process.pid}\n`);
}

function isHakod(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("hakod");
  } catch {
    return false;
  }
}

/** Removes the pid file if it is still ours. */
export function removePidFile(file: string): void {
  try {
    if (Number(readFileSync(file, "utf8").trim()) === process.pid) unlinkSync(file);
  } catch {
    // already gone
  }
}

/** Removes the socket if it is still the one we created (same inode). */
export function removeSocket(socketPath: string, ino: number | undefined): void {
  try {
    const st = lstatSync(socketPath);
    if (st.isSocket() && (ino === undefined || st.ino === ino)) unlinkSync(socketPath);
  } catch {
    // already gone
  }
}
