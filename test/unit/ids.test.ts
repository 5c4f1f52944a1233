/**
 * Chain IDs and image IDs. Besides the formula, the tests pin published
 * values: a layer from a Docker host's layerdb (directory name = chain ID,
 * `parent` = the parent chain ID, `diff` = the diff ID), moby's
 * DigestSHA256EmptyTar, and the OCI image-spec's empty descriptor digest.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { InvalidArgumentError } from "../../src/common/errors.ts";
import { chainId, chainIds, imageIdOf, shortId } from "../../src/image/ids.ts";
import { sha256Digest } from "../../src/image/digest.ts";

function sha(s: string): string {
  return `sha256:${createHash("sha256").update(s).digest("hex")}`;
}

const L1 = "sha256:608f3a074261105f129d707e4d9ad3d41b5baa94887f092b7c2857f7274a2fce";
const L2 = "sha256:ea207a4854e73eca698e94f323fadb920bbc5fc2af83d4bda9f47fd33fa1a076";
const L3 = "sha256:33cf1b723f65c22ccc4660c44fe8b919b75e7bb9ffcfe80432bb75363be34a5b";

describe("chainIds", () => {
  it("is empty for no layers and the diff ID for one", () => {
    assert.deepEqual(chainIds([]), []);
    assert.equal(chainId([]), undefined);
    assert.deepEqual(chainIds([L1]), [L1]);
  });

  it("follows chainID(n) = sha256(chainID(n-1) + ' ' + diffID(n))", () => {
    const c2 = sha(`${L1} ${L2}`);
    const c3 = sha(`${c2} ${L3}`);
    assert.deepEqual(chainIds([L1, L2, L3]), [L1, c2, c3]);
    assert.equal(chainId([L1, L2, L3]), c3);
  });

  it("matches a published layerdb entry", () => {
    // /var/lib/docker/image/overlay2/layerdb/sha256/fc0c41d1.../{parent,diff} on a Docker host.
    const parentChain = "sha256:21e7914e06fb3d26ac5cd44a4c2782a2dc524c9efaa1eed3b144b7b34e7948df";
    const diff = "sha256:c00acf6f4f58f29b845ee034bf403750e0735ebcfcd2500427f5fa131033366b";
    // A stack whose lower layers have chain ID P continues exactly as a single layer P would.
    assert.equal(
      chainIds([parentChain, diff])[1],
      "sha256:fc0c41d1a2e2d77359e7e8ce875933293ef769d32feb2cd3dc79b61f3edbbe6c",
    );
  });

  it("depends on order", () => {
    assert.notEqual(chainId([L1, L2]), chainId([L2, L1]));
  });

  it("rejects diff IDs that are not digests", () => {
    assert.throws(() => chainIds([L1, "sha256:abc"]), InvalidArgumentError);
    assert.throws(() => chainIds([L1.slice(7)]), InvalidArgumentError);
  });
});

describe("imageIdOf", () => {
  it("is the sha256 of the exact config bytes", () => {
    // The OCI image-spec's empty JSON descriptor: "{}" has this digest.
    assert.equal(imageIdOf(Buffer.from("{}")), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    assert.equal(imageIdOf(config), sha256Digest(config));
    // The same JSON serialised differently is a different image.
    const pretty = Buffer.from(JSON.stringify(JSON.parse(config.toString()), null, 2));
    assert.notEqual(imageIdOf(pretty), imageIdOf(config));
  });

  it("sha256Digest matches moby's empty-tar digest", () => {
    assert.equal(sha256Digest(Buffer.alloc(1024)), "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
  });
});

describe("shortId", () => {
  it("gives 12 hex without the algorithm", () => {
    assert.equal(shortId("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"), "44136fa355b3");
    assert.equal(shortId("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"), "44136fa355b3");
    assert.throws(() => shortId("busybox"), InvalidArgumentError);
  });
});
