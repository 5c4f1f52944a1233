/**
 * ImageStore in a temp dir: records, tags and repo digests, lookups the way
 * `docker image inspect` resolves names and IDs, persistence across
 * instances, and tags added concurrently.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgumentError, NotFoundError } from "../../src/common/errors.ts";
import { ImageStore, type ImageRecord } from "../../src/image/image-store.ts";
import { imageIdOf } from "../../src/image/ids.ts";
import { sha256Digest } from "../../src/image/digest.ts";
import { parseReference } from "../../src/image/reference.ts";
import { tempDirs } from "../helpers/temp.ts";

const tempDir = tempDirs();

function tempRoot(): string {
  const dir = tempDir("hako-images-");
  return join(dir, "images");
}

function record(id: string, extra: Partial<ImageRecord> = {}): ImageRecord {
  return {
    id,
    layers: [{ diffId: sha256Digest(`layer of ${id}`) }],
    created: "2024-01-01T00:00:00Z",
    size: 1234,
    ...extra,
  };
}

const CONFIG = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const ID_A = imageIdOf(CONFIG);
const ID_B = `sha256:ab01${"0".repeat(60)}`;
const ID_C = `sha256:ab02${"0".repeat(60)}`;
const MANIFEST = sha256Digest("a manifest");

describe("ImageStore", () => {
  it("puts and gets records by ID with or without sha256:", () => {
    const store = new ImageStore(tempRoot());
    const rec = record(ID_A, {
      manifestDigest: MANIFEST,
      source: "pull",
      layers: [{ diffId: sha256Digest("l1"), blob: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256Digest("b1"), size: 10 } }],
    });
    store.put(rec);
    assert.deepEqual(store.get(ID_A), rec);
    assert.deepEqual(store.get(ID_A.slice(7)), rec);
    assert.equal(store.has(ID_A), true);
    assert.equal(store.get(ID_B), undefined);
    assert.ok(existsSync(join(store.root, `${ID_A.slice(7)}.json`)));
    // Callers get copies: changing one does not change the store.
    store.get(ID_A)!.size = 1;
    assert.equal(store.get(ID_A)!.size, rec.size);
  });

  it("refuses malformed records", () => {
    const store = new ImageStore(tempRoot());
    assert.throws(() => store.put(record("sha256:abc")), InvalidArgumentError);
    assert.throws(() => store.put(record(ID_A, { layers: [{ diffId: "nope" }] })), InvalidArgumentError);
    assert.throws(() => store.put({ ...record(ID_A), created: undefined as unknown as string }), InvalidArgumentError);
    assert.throws(() => store.get("busybox"), InvalidArgumentError);
  });

  it("tags, resolves by name, and moves a tag", () => {
    const store = new ImageStore(tempRoot());
    store.put(record(ID_A));
    store.put(record(ID_B));
    const r = store.tag(ID_A, "busybox");
    assert.deepEqual(r, { domain: "docker.io", path: "library/busybox", tag: "latest" });
    store.tag(ID_A, "registry.example.com/team/app:1.0");
    assert.deepEqual(store.tagsOf(ID_A), ["docker.io/library/busybox:latest", "registry.example.com/team/app:1.0"]);
    assert.ok(store.get(ID_A)!.lastTagTime);

    for (const name of ["busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox:latest", "index.docker.io/busybox"]) {
      assert.equal(store.resolve(name).id, ID_A, name);
    }
    assert.equal(store.resolve("registry.example.com/team/app:1.0").id, ID_A);

    store.tag(ID_B, "busybox:latest");
    assert.equal(store.resolve("busybox").id, ID_B);
    assert.deepEqual(store.tagsOf(ID_A), ["registry.example.com/team/app:1.0"]);
    assert.deepEqual(store.tagsOf(ID_B), ["docker.io/library/busybox:latest"]);
  });

  it("refuses tags it must not create", () => {
    const store = new ImageStore(tempRoot());
    store.put(record(ID_A));
    assert.throws(() => store.tag(ID_A, `busybox@${MANIFEST}`), { message: "refusing to create a tag with a digest reference" });
    assert.throws(() => store.tag(ID_A, "sha256:abc"), /ambiguous tag/);
    assert.throws(() => store.tag(ID_A, "Busybox"), { message: "invalid reference format: repository name (library/Busybox) must be lowercase" });
    assert.throws(() => store.tag(ID_B, "busybox"), NotFoundError);
  });

  it("resolves full IDs and unambiguous prefixes, refuses ambiguous ones", () => {
    const store = new ImageStore(tempRoot());
    store.put(record(ID_A));
    store.put(record(ID_B));
    store.put(record(ID_C));
    assert.equal(store.resolve(ID_A).id, ID_A);
    assert.equal(store.resolve(ID_A.slice(7)).id, ID_A);
    assert.equal(store.resolve(ID_A.slice(7, 19)).id, ID_A);
    assert.equal(store.resolve(`sha256:${ID_A.slice(7, 12)}`).id, ID_A);
    assert.equal(store.resolve("ab01").id, ID_B);
    assert.equal(store.resolve("sha256:ab02").id, ID_C);
    assert.throws(() => store.resolve("ab0"), (err: unknown) => err instanceof InvalidArgumentError && /multiple images/.test(err.message));
    assert.throws(() => store.resolve("sha256:ab"), InvalidArgumentError);
    // A single hex character is a prefix too, when it is unambiguous (ID_A is sha256:c5b1d636...).
    assert.equal(store.resolve("c").id, ID_A);
  });

  it("prefers a tag over an ID prefix with the same spelling", () => {
    const store = new ImageStore(tempRoot());
    store.put(record(ID_B));
    store.put(record(ID_C));
    store.tag(ID_C, "ab01");
    assert.equal(store.resolve("ab01").id, ID_C);
    assert.equal(store.resolve("ab01:latest").id, ID_C);
  });

  it("reports missing images as Docker does", () => {
    const store = new ImageStore(tempRoot());
    store.put(record(ID_A));
    assert.throws(() => store.resolve("nothere"), (err: unknown) => err instanceof NotFoundError && err.message === "No such image: nothere:latest");
    assert.throws(() => store.resolve("quay.io/x/y:1"), { message: "No such image: quay.io/x/y:1" });
    assert.throws(() => store.resolve(`busybox@${MANIFEST}`), { message: `No such image: busybox@${MANIFEST}` });
    const absent = "f".repeat(64);
    assert.throws(() => store.resolve(absent), { message: `No such image: ${absent}` });
    assert.throws(() => store.resolve(`sha256:${absent}`), NotFoundError);
    assert.throws(() => store.resolve("fff"), { message: "No such image: fff:latest" });
    assert.throws(() => store.resolve("Busybox"), InvalidArgumentError);
    assert.throws(() => store.resolve(""), InvalidArgumentError);
  });

  it("records repo digests and resolves name@digest", () => {
    const store = new ImageStore(tempRoot());
    store.put(record(ID_A, { manifestDigest: MANIFEST }));
    assert.equal(store.addRepoDigest(ID_A, `busybox:1.36@${MANIFEST}`), `docker.io/library/busybox@${MANIFEST}`);
    store.addRepoDigest(ID_A, parseReference(`ghcr.io/o/busybox@${MANIFEST}`));
    assert.deepEqual(store.repoDigestsOf(ID_A), [`docker.io/library/busybox@${MANIFEST}`, `ghcr.io/o/busybox@${MANIFEST}`]);
    assert.equal(store.resolve(`busybox@${MANIFEST}`).id, ID_A);
    assert.equal(store.resolve(`busybox:whatever@${MANIFEST}`).id, ID_A);
    assert.throws(() => store.resolve(`other@${MANIFEST}`), NotFoundError);
    assert.throws(() => store.addRepoDigest(ID_A, "busybox:1.36"), InvalidArgumentError);
    // Repo digests do not keep an image from being dangling.
    assert.equal(store.isDangling(ID_A), true);
    assert.equal(store.untag(`busybox@${MANIFEST}`), ID_A);
    assert.deepEqual(store.repoDigestsOf(ID_A), [`ghcr.io/o/busybox@${MANIFEST}`]);
  });

  it("untags and reports what it removed", () => {
    const store = new ImageStore(tempRoot());
    store.put(record(ID_A));
    store.tag(ID_A, "app");
    store.tag(ID_A, "app:v2");
    assert.equal(store.isDangling(ID_A), false);
    assert.equal(store.untag("app"), ID_A);
    assert.equal(store.untag("app"), undefined);
    assert.equal(store.untag("docker.io/library/app:v2"), ID_A);
    assert.equal(store.isDangling(ID_A), true);
    assert.ok(store.has(ID_A), "untag leaves the image");
  });

  it("deletes a record with its references; tracks parents", () => {
    const store = new ImageStore(tempRoot());
    store.put(record(ID_A));
    store.put(record(ID_B, { parent: ID_A, source: "build" }));
    store.put(record(ID_C, { parent: ID_A, source: "commit" }));
    store.tag(ID_B, "child:1");
    store.addRepoDigest(ID_B, `child@${MANIFEST}`);
    assert.deepEqual(store.children(ID_A).map((r) => r.id).sort(), [ID_B, ID_C]);
    assert.deepEqual(store.children(ID_B), []);

    assert.equal(store.delete(ID_B), true);
    assert.equal(store.delete(ID_B), false);
    assert.equal(store.get(ID_B), undefined);
    assert.ok(!existsSync(join(store.root, `${ID_B.slice(7)}.json`)));
    assert.deepEqual(store.references(), { tags: {}, digests: {} });
    assert.throws(() => store.resolve("child:1"), NotFoundError);
    assert.deepEqual(store.children(ID_A).map((r) => r.id), [ID_C]);
  });

  it("lists records oldest first", () => {
    const store = new ImageStore(tempRoot());
    store.put(record(ID_B, { created: "2024-03-01T00:00:00Z" }));
    store.put(record(ID_A, { created: "2023-01-01T00:00:00Z" }));
    store.put(record(ID_C, { created: "2024-02-01T00:00:00Z" }));
    assert.deepEqual(store.list().map((r) => r.id), [ID_A, ID_C, ID_B]);
  });

  it("persists records and references across instances", () => {
    const root = tempRoot();
    const one = new ImageStore(root);
    one.put(record(ID_A, { manifestDigest: MANIFEST, source: "pull" }));
    one.put(record(ID_B, { parent: ID_A }));
    one.tag(ID_A, "busybox:1.36");
    one.tag(ID_B, "localhost:5000/app");
    one.addRepoDigest(ID_A, `busybox@${MANIFEST}`);

    const two = new ImageStore(root);
    assert.deepEqual(two.list(), one.list());
    assert.deepEqual(two.references(), one.references());
    assert.equal(two.resolve("busybox:1.36").id, ID_A);
    assert.equal(two.resolve("localhost:5000/app").id, ID_B);
    assert.equal(two.resolve(`busybox@${MANIFEST}`).id, ID_A);
    assert.deepEqual(two.children(ID_A).map((r) => r.id), [ID_B]);

    const file = JSON.parse(readFileSync(join(root, "references.json"), "utf8"));
    assert.deepEqual(file, {
      tags: { "docker.io/library/busybox:1.36": ID_A, "localhost:5000/app:latest": ID_B },
      digests: { [`docker.io/library/busybox@${MANIFEST}`]: ID_A },
    });
  });

  it("skips unreadable records and drops references to missing images at load", () => {
    const root = tempRoot();
    const one = new ImageStore(root);
    one.put(record(ID_A));
    one.put(record(ID_B));
    one.tag(ID_A, "a");
    one.tag(ID_B, "b");
    writeFileSync(join(root, `${ID_B.slice(7)}.json`), "{ torn");
    writeFileSync(join(root, "notes.txt"), "ignored");
    const two = new ImageStore(root);
    assert.deepEqual(two.skipped, [join(root, `${ID_B.slice(7)}.json`)]);
    assert.deepEqual(two.list().map((r) => r.id), [ID_A]);
    assert.deepEqual(two.references().tags, { "docker.io/library/a:latest": ID_A });
  });

  it("loses no update when many tags are added and removed concurrently", async () => {
    const root = tempRoot();
    const store = new ImageStore(root);
    store.put(record(ID_A));
    store.put(record(ID_B));
    const tick = () => new Promise((r) => setImmediate(r));
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        await tick();
        store.tag(i % 2 ? ID_A : ID_B, `app:${i}`);
        await tick();
        if (i % 10 === 0) store.untag(`app:${i}`);
      }),
    );
    const expected = Array.from({ length: 100 }, (_, i) => i).filter((i) => i % 10 !== 0);
    const tags = new ImageStore(root).references().tags;
    assert.equal(Object.keys(tags).length, expected.length);
    for (const i of expected) assert.equal(tags[`docker.io/library/app:${i}`], i % 2 ? ID_A : ID_B);
  });
});
