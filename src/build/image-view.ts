/**
 * An image's filesystem to read from (COPY --from), as dockerd's builder
 * mounts an image: a throw-away snapshot on the image's top layer, reached
 * through the helper's rootfs-tool (an overlay is mounted in the helper's
 * own mount namespace, never the host's). Unlike a container's view it has
 * no init layer, whose empty /etc/hosts, /etc/hostname and
 * /etc/resolv.conf would hide the image's own. Snapshots left by a crash
 * carry a prefix and are removed at start-up.
 */
import { randomBytes } from "node:crypto";
import type { RootfsLocation } from "../native/tools.ts";
import type { ImageService } from "../image/service.ts";
import { layerKey } from "../storage/layer-store.ts";

const PREFIX = "build-view-";

/** Runs `fn` on a read view of the image's files; the view goes afterwards. */
export async function withImageView<T>(images: ImageService, imageId: string, fn: (loc: RootfsLocation) => Promise<T>): Promise<T> {
  const snap = images.layers.snapshotter;
  const record = images.images.get(imageId);
  const top = record ? images.topChainId(record) : undefined;
  const key = `${PREFIX}${randomBytes(8).toString("hex")}`;
  const [m] = await snap.prepare(key, top ? layerKey(top) : undefined);
  try {
    let loc: RootfsLocation;
    if (!m || m.type === "bind") loc = { root: m?.source ?? snap.diffDir(key) };
    else {
      const merged = snap.graphDriverData(key).MergedDir ?? snap.diffDir(key);
      loc = { root: merged, mount: { type: m.type, source: m.source, data: m.options.filter((o) => o !== "ro" && o !== "rw").join(","), ...(m.cwd ? { cwd: m.cwd } : {}) } };
    }
    return await fn(loc);
  } finally {
    await snap.remove(key).catch(() => {});
  }
}

/** Removes views a crashed hakod left behind. */
export async function removeStaleImageViews(images: ImageService): Promise<void> {
  const snap = images.layers.snapshotter;
  for (const s of snap.list()) if (s.key.startsWith(PREFIX)) await snap.remove(s.key).catch(() => {});
}
