/**
 * The offline default image: busybox:latest made from the host's
 * busybox-static, so a machine without a registry still runs containers.
 * Same host binary → same layer → same image ID (fixed times and order).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { FailedPreconditionError } from "../common/errors.ts";
import { createLayerTar } from "../native/tools.ts";
import type { ImageRecord } from "./image-store.ts";
import type { ImageService } from "./service.ts";
import { rfc3339Nano } from "../common/time.ts";

export const HOST_BUSYBOX = "/bin/busybox";

function buildRootfs(dir: string, busybox: string): void {
  for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "home", "var", "run", "usr/bin", "usr/sbin", "sbin"]) {
    mkdirSync(path.join(dir, d), { recursive: true, mode: 0o755 });
  }
  chmodSync(path.join(dir, "tmp"), 0o1777);
  chmodSync(path.join(dir, "root"), 0o700);
  copyFileSync(busybox, path.join(dir, "bin/busybox"));
  chmodSync(path.join(dir, "bin/busybox"), 0o755);
  const applets = execFileSync(busybox, ["--list"], { encoding: "utf8" }).split("\n").filter((a) => a && a !== "busybox");
  for (const a of applets) symlinkSync("busybox", path.join(dir, "bin", a));
  writeFileSync(path.join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n");
  writeFileSync(path.join(dir, "etc/group"), "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n");
  writeFileSync(path.join(dir, "etc/hostname"), "");
  writeFileSync(path.join(dir, "etc/hosts"), "");
  writeFileSync(path.join(dir, "etc/resolv.conf"), "");
  // One time for every entry: the layer's bytes depend on the host's busybox only.
  const when = statSync(busybox).mtime;
  const stamp = (p: string): void => {
    for (const name of readdirSync(p)) {
      const child = path.join(p, name);
      if (lstatSync(child).isDirectory()) stamp(child);
      lutimesSync(child, when, when);
    }
  };
  stamp(dir);
  lutimesSync(dir, when, when);
}

/** Imports the host's busybox as `tag` (default busybox:latest). */
export async function createBusyboxImage(service: ImageService, options: { tag?: string; busybox?: string } = {}): Promise<ImageRecord> {
  const busybox = options.busybox ?? HOST_BUSYBOX;
  if (!existsSync(busybox)) {
    throw new FailedPreconditionError(`${busybox} not found: install busybox-static (apt-get install busybox-static)`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "hako-busybox-"));
  try {
    const rootfs = path.join(dir, "rootfs");
    mkdirSync(rootfs);
    buildRootfs(rootfs, busybox);
    return await service.importTar(createLayerTar(rootfs, { whiteouts: "none" }), {
      tag: options.tag ?? "busybox:latest",
      changes: ['CMD ["sh"]'],
      message: `busybox from the host (${busybox})`,
      created: rfc3339Nano(statSync(busybox, { bigint: true }).mtimeNs),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
