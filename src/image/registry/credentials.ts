/**
 * Docker's credential file: `$DOCKER_CONFIG/config.json` (default
 * `~/.docker/config.json`), `auths: { "<host>": { auth: base64("user:pass") } }`,
 * Docker Hub under "https://index.docker.io/v1/". Other keys of the file
 * (credsStore, credHelpers, proxies, …) are kept as they are; credential
 * helpers themselves are not run.
 */
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, unlinkSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { InvalidArgumentError, isErrno } from "../../common/errors.ts";
import type { RegistryCredentials } from "./client.ts";

/** Docker's key for Docker Hub in `auths`. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";
const DOCKER_HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

export interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  email?: string;
  identitytoken?: string;
  registrytoken?: string;
  [key: string]: unknown;
}

export interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}

/** "https://host:5000/v1/" → "host:5000" (docker/cli's ConvertToHostname). */
export function convertToHostname(key: string): string {
  let s = key.trim();
  if (s.startsWith("http://")) s = s.slice(7);
  else if (s.startsWith("https://")) s = s.slice(8);
  return s.split("/")[0]!.toLowerCase();
}

/** The `auths` key Docker uses for a registry host. */
export function authKeyFor(host: string): string {
  const h = convertToHostname(host);
  return DOCKER_HUB_HOSTS.has(h) ? DOCKER_HUB_AUTH_KEY : h;
}

export class CredentialStore {
  readonly configDir: string;
  readonly file: string;

  constructor(opts: { configDir?: string } = {}) {
    this.configDir = opts.configDir ?? process.env.DOCKER_CONFIG ?? path.join(os.homedir(), ".docker");
    this.file = path.join(this.configDir, "config.json");
  }

  /** The whole file (an empty config when there is none). */
  read(): DockerConfigFile {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (err) {
      if (isErrno(err, "ENOENT")) return {};
      throw err;
    }
    if (text.trim() === "") return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new InvalidArgumentError(`${this.file}: invalid JSON: ${(err as Error).message}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError(`${this.file}: not a JSON object`);
    return parsed as DockerConfigFile;
  }

  /** The credentials stored for `host`, or undefined. */
  get(host: string): RegistryCredentials | undefined {
    const auths = this.read().auths ?? {};
    const wanted = authKeyFor(host);
    let entry = auths[wanted];
    if (!entry) {
      for (const [key, value] of Object.entries(auths)) {
        if (authKeyFor(key) === wanted) {
          entry = value;
          break;
        }
      }
    }
    if (!entry) return undefined;
    let username = entry.username;
    let password = entry.password;
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon < 0) throw new InvalidArgumentError(`${this.file}: invalid auth entry for ${wanted}`);
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
    if (entry.identitytoken) return { identitytoken: entry.identitytoken, ...(username ? { username } : {}) };
    if (username === undefined || password === undefined) return undefined;
    return { username, password };
  }

  /** Stores credentials for `host` (the file is 0600 in a 0700 directory). */
  login(host: string, username: string, password: string): void {
    if (!username) throw new InvalidArgumentError("username is empty");
    if (username.includes(":")) throw new InvalidArgumentError("username may not contain ':'");
    const config = this.read();
    const key = authKeyFor(host);
    const auths = { ...(config.auths ?? {}) };
    for (const k of Object.keys(auths)) if (k !== key && authKeyFor(k) === key) delete auths[k];
    auths[key] = { auth: Buffer.from(`${username}:${password}`).toString("base64") };
    config.auths = auths;
    this.write(config);
  }

  /** Removes the credentials of `host`; false when there were none. */
  logout(host: string): boolean {
    const config = this.read();
    const key = authKeyFor(host);
    const auths = config.auths ?? {};
    const matches = Object.keys(auths).filter((k) => authKeyFor(k) === key);
    if (matches.length === 0) return false;
    for (const k of matches) delete auths[k];
    config.auths = auths;
    this.write(config);
    return true;
  }

  /** Atomic write: temp file (0600) in the same directory, fsync, rename; follows a symlinked config.json. */
  private write(config: DockerConfigFile): void {
    mkdirSync(this.configDir, { recursive: true, mode: 0o700 });
    let target = this.file;
    try {
      target = realpathSync(this.file);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    const dir = path.dirname(target);
    const tmp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
    const fd = openSync(tmp, "wx", 0o600);
    try {
      fchmodSync(fd, 0o600);
      writeSync(fd, Buffer.from(JSON.stringify(config, null, "\t") + "\n"));
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      unlinkSync(tmp);
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, target);
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }
}
