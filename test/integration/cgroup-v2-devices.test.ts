/**
 * linux.resources.devices on cgroup v2, for real: the runtime is pointed at
 * a cgroup2 mount (this hybrid host's /sys/fs/cgroup/unified, or a v2
 * host's /sys/fs/cgroup), so the only device control the container gets is
 * the BPF program the helper attaches. Device nodes are made with mknod
 * (Docker's rules allow that for every node) and then opened.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import type { Spec } from "../../src/spec/oci-runtime.ts";
import { bundleForSuite, isRoot } from "../helpers/bundle.ts";

const V2_ROOT = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"].find((d) => existsSync(`${d}/cgroup.controllers`));
const skip = !isRoot ? "needs root (real namespaces, BPF)" : !V2_ROOT ? "no cgroup2 mount" : false;

/** A block device of the host (its disk): what a container must not open. */
function hostBlockDevice(): string | undefined {
  for (const name of existsSync("/sys/block") ? readdirSync("/sys/block") : []) {
    const dev = readFileSync(`/sys/block/${name}/dev`, "utf8").trim();
    if (/^\d+:\d+$/.test(dev)) return dev;
  }
  return undefined;
}
const BLOCK = hostBlockDevice() ?? "8:0";

/**
 * Opens nodes and says which it could: /dev/kmsg (1:11) for writing, which
 * needs no capability, and the host's disk for reading.
 */
const PROBE = [
  // The bundle's rootfs is shared by the runs; and no `2>/dev/null`: writing it may be what is denied.
  `rm -f /tmp/kmsg /tmp/disk; mknod /tmp/kmsg c 1 11; mknod /tmp/disk b ${BLOCK.replace(":", " ")}`,
  "if (: > /tmp/kmsg); then echo open kmsg; else echo denied kmsg; fi",
  "for n in /tmp/disk /dev/null /dev/zero; do if (: < $n); then echo open $n; else echo denied $n; fi; done",
  "if (echo x > /dev/null); then echo write /dev/null; else echo no-write /dev/null; fi",
  "rm -f /tmp/kmsg /tmp/disk",
].join("; ");

describe("runtime: device rules on cgroup v2 (a BPF program)", { skip }, () => {
  const b = bundleForSuite();
  const run = (edit?: (spec: Spec) => void): string[] => {
    const r = b.runThroughApi(["sh", "-c", PROBE], { cgroupRoot: V2_ROOT!, ...(edit ? { edit } : {}) });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split("\n");
  };

  test("Docker's rules: the standard nodes open, any other char or block device is denied", () => {
    assert.deepEqual(run(), ["denied kmsg", "denied /tmp/disk", "open /dev/null", "open /dev/zero", "write /dev/null"]);
  });

  test("a later deny takes away only the access it names", () => {
    const out = run((s) => s.linux!.resources!.devices!.push({ allow: false, type: "c", major: 1, minor: 3, access: "w" }));
    assert.deepEqual(out, ["denied kmsg", "denied /tmp/disk", "open /dev/null", "open /dev/zero", "no-write /dev/null"]);
  });

  test("allow-all (privileged) attaches nothing; a single deny in it holds", () => {
    assert.deepEqual(
      run((s) => (s.linux!.resources!.devices = [{ allow: true, access: "rwm" }])),
      ["open kmsg", "open /tmp/disk", "open /dev/null", "open /dev/zero", "write /dev/null"],
    );
    assert.deepEqual(
      run((s) => (s.linux!.resources!.devices = [{ allow: true, access: "rwm" }, { allow: false, type: "b", major: Number(BLOCK.split(":")[0]), access: "r" }])),
      ["open kmsg", "denied /tmp/disk", "open /dev/null", "open /dev/zero", "write /dev/null"],
    );
  });
});
