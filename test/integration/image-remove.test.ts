/**
 * docker rmi's rules with containers in the picture: a tag can go while a
 * container uses the image (the image stays, unnamed), the image itself
 * cannot without -f, and never while a container runs.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createBusyboxImage } from "../../src/image/busybox.ts";
import { openTempImageService } from "../helpers/images.ts";

const skip = process.getuid?.() === 0 ? false : "needs root (layers with owners and devices)";

describe("image remove with containers", { skip }, () => {
  test("refuses an image a container uses unless forced; never a running one's", async () => {
    const t = await openTempImageService();
    try {
      const svc = t.service;
      const image = await createBusyboxImage(svc);
      const users: { id: string; running: boolean }[] = [{ id: "c".repeat(64), running: false }];
      svc.containerUsage = () => users;

      await assert.rejects(svc.remove("busybox"), /unable to remove repository reference "busybox" \(must force\) - container cccccccccccc is using its referenced image/);
      await assert.rejects(svc.remove(image.id), /unable to delete [0-9a-f]{12} \(must be forced\) - image is being used by stopped container cccccccccccc/);

      users[0]!.running = true;
      await assert.rejects(svc.remove(image.id, { force: true }), /\(cannot be forced\) - image is being used by running container cccccccccccc/);

      // A second name can go: the image keeps its other one.
      svc.tag("busybox", "other:1");
      assert.deepEqual(await svc.remove("other:1"), [{ Untagged: "other:1" }]);

      users[0]!.running = false;
      const forced = await svc.remove(image.id, { force: true });
      assert.ok(forced.some((r) => r.Untagged === "busybox:latest"));
      assert.ok(forced.some((r) => r.Deleted === image.id));
    } finally {
      t.cleanup();
    }
  });

  test("a short ID prefix removes by ID, as moby's isImageIDPrefix decides", async () => {
    const t = await openTempImageService();
    try {
      const svc = t.service;
      const image = await createBusyboxImage(svc);
      svc.tag("busybox", "sidimg:1");
      const prefix = image.id.slice("sha256:".length, "sha256:".length + 6);
      // Two names: an ID cannot go without -f (it had untagged a made-up "<prefix>:latest" and said it was done).
      await assert.rejects(svc.remove(prefix), /unable to delete [0-9a-f]{12} \(must be forced\) - image is referenced in multiple repositories/);
      await svc.remove("busybox");
      const removed = await svc.remove(prefix);
      assert.deepEqual(removed[0], { Untagged: "sidimg:1" });
      assert.ok(removed.some((r) => r.Deleted === image.id), JSON.stringify(removed));
      assert.throws(() => svc.resolve(image.id), /No such image/);
    } finally {
      t.cleanup();
    }
  });

  test("a repository's last tag takes its digest references along, not other repositories'", async () => {
    const t = await openTempImageService();
    try {
      const svc = t.service;
      const image = await createBusyboxImage(svc);
      const digest = `sha256:${"d".repeat(64)}`;
      svc.tag("busybox", "localhost:5000/a:1");
      svc.tag("busybox", "localhost:5000/a:2");
      svc.images.addRepoDigest(image.id, `localhost:5000/a@${digest}`);
      svc.images.addRepoDigest(image.id, `localhost:5000/b@${digest}`);
      assert.deepEqual(await svc.remove("localhost:5000/a:1"), [{ Untagged: "localhost:5000/a:1" }]);
      assert.deepEqual(await svc.remove("localhost:5000/a:2"), [{ Untagged: "localhost:5000/a:2" }, { Untagged: `localhost:5000/a@${digest}` }]);
      assert.deepEqual(svc.images.repoDigestsOf(image.id), [`localhost:5000/b@${digest}`]);
      // b's digest still names it: removing busybox:latest leaves the image.
      assert.deepEqual(await svc.remove("busybox"), [{ Untagged: "busybox:latest" }]);
      assert.ok(svc.images.get(image.id));
    } finally {
      t.cleanup();
    }
  });

  test("list: reference matches digest references too; until keeps images created before", async () => {
    const t = await openTempImageService();
    try {
      const svc = t.service;
      const image = await createBusyboxImage(svc);
      const digest = `sha256:${"e".repeat(64)}`;
      svc.images.addRepoDigest(image.id, `localhost:5000/hh/bb@${digest}`);
      await svc.remove("busybox");
      // Pulled by digest only: no tag, found by its repository.
      for (const pattern of ["*/*/bb", "localhost:5000/hh/bb", "*/*/bb@*"]) {
        assert.deepEqual(svc.list({ filters: { reference: [pattern] } }).map((i) => i.Id), [image.id], pattern);
      }
      assert.deepEqual(svc.list({ filters: { reference: ["other"] } }), []);
      assert.deepEqual(svc.list({ filters: { until: ["2000-01-01"] } }), []);
      assert.deepEqual(svc.list({ filters: { until: [String(Math.floor(Date.now() / 1000) + 60)] } }).map((i) => i.Id), [image.id]);
      assert.deepEqual(svc.list({ filters: { until: ["0s"] } }).map((i) => i.Id), [image.id]);
    } finally {
      t.cleanup();
    }
  });
});
