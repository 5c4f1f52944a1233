/**
 * Picks the cgroup driver for the host. Only a pure unified mount is v2;
 * the "hybrid" layout (v1 controllers plus a cgroup2 mount at
 * /sys/fs/cgroup/unified) is driven as v1.
 */
import { existsSync } from "node:fs";
import { posix } from "node:path";
import type { Cgroup, CgroupOptions } from "./cgroup.ts";
import { CgroupV1 } from "./v1.ts";
import { CgroupV2 } from "./v2.ts";
import { InvalidArgumentError } from "../common/errors.ts";

const DEFAULT_ROOT = "/sys/fs/cgroup";

/**
 * 2 when `root` is a cgroup2 mount (it has cgroup.controllers), else 1.
 *
 * @example detectCgroupVersion() // 1 on a v1 or hybrid host
 */
export function detectCgroupVersion(root: string = DEFAULT_ROOT): 1 | 2 {
  return existsSync(posix.join(root, "cgroup.controllers")) ? 2 : 1;
}

/**
 * The cgroup at `path` through the host's driver. Nothing is created until
 * `create()` is called.
 *
 * @example openCgroup(cgroupPathFor(id)).create({ memory: { limit: 64 << 20 } })
 */
export function openCgroup(path: string, options: CgroupOptions = {}): Cgroup {
  return detectCgroupVersion(options.root) === 2 ? new CgroupV2(path, options) : new CgroupV1(path, options);
}

/**
 * The cgroup path of a container: the one its config asks for
 * (linux.cgroupsPath), else "/hako/<id>".
 */
export function cgroupPathFor(id: string, configured?: string): string {
  if (configured) return configured;
  if (!/^[\w.-]+$/.test(id) || id === "." || id === "..") {
    throw new InvalidArgumentError(`container id ${JSON.stringify(id)} cannot name a cgroup`);
  }
  return `/hako/${id}`;
}
