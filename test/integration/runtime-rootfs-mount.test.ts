/**
 * The rootfs as an overlay of many layers, mounted inside the container's
 * own mount namespace from short relative links (Docker's l/ scheme): 120
 * layers fit in the one page overlay's mount data may use.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { bundleForSuite, hostMountsMentioning, isRoot, uniqueId } from "../helpers/bundle.ts";

const skip = isRoot ? false : "needs root (overlay mounts)";

/** Docker's short-link names: 26 upper-case letters and digits. */
function shortName(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  return [...randomBytes(26)].map((b) => alphabet[b % 32]).join("");
}

describe("runtime: overlay rootfs mount", { skip }, () => {
  const b = bundleForSuite();

  test("120 layers mount through l/ links; writes land in the upper dir; nothing stays mounted on the host", () => {
    const store = path.join(b.dir, "overlay2");
    mkdirSync(path.join(store, "l"), { recursive: true });
    const links: string[] = [];
    const addLayer = (name: string, fill: (diff: string) => void): void => {
      const diff = path.join(store, name, "diff");
      mkdirSync(diff, { recursive: true });
      fill(diff);
      const link = shortName();
      symlinkSync(`../${name}/diff`, path.join(store, "l", link));
      links.unshift(`l/${link}`); // the newest layer is the first lowerdir
    };
    addLayer("a".repeat(64), (diff) => cpSync(b.rootfs, diff, { recursive: true, verbatimSymlinks: true }));
    for (let i = 1; i <= 120; i++) {
      addLayer(i.toString(16).padStart(64, "0"), (diff) => {
        mkdirSync(path.join(diff, "layers"));
        writeFileSync(path.join(diff, "layers", String(i)), `layer ${i}\n`);
      });
    }
    const upper = path.join(store, "c".repeat(64), "diff");
    const work = path.join(store, "c".repeat(64), "work");
    const merged = path.join(store, "c".repeat(64), "merged");
    for (const d of [upper, work, merged]) mkdirSync(d, { recursive: true });
    const data = `lowerdir=${links.join(":")},upperdir=${upper},workdir=${work}`;
    assert.ok(data.length < 4096, `mount data of ${data.length} bytes`);
    const longForm = links.map((l) => path.join(store, l)).join(":");
    assert.ok(longForm.length > 4096, "absolute lowerdirs would not have fitted");

    // The runtime's own API: the engine passes the overlay as the rootfs mount.
    const id = uniqueId("ovl");
    const r = b.runWithRootfsMount(
      ["sh", "-c", "ls /layers | wc -l; cat /layers/120; echo new > /written; grep ' / ' /proc/mounts | cut -d' ' -f3"],
      { type: "overlay", source: "overlay", options: [data], cwd: store },
      merged,
      id,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["120", "layer 120", "overlay"]);
    assert.equal(readFileSync(path.join(upper, "written"), "utf8"), "new\n");
    assert.deepEqual(hostMountsMentioning(store), []);
  });
});
