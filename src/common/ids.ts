/**
 * Random 64-hex IDs, as Docker's stringid.GenerateRandomID gives them for
 * containers, execs, networks and anonymous volumes. The bytes come from a
 * pool filled 4 KiB at a time: one call into the CSPRNG per 128 IDs, not
 * one per ID (an exec makes one for every `docker exec`).
 */
import { randomFillSync } from "node:crypto";

const ID_BYTES = 32;
const pool = Buffer.alloc(ID_BYTES * 128);
let used = pool.length;

/** 64 lower-case hex digits from the CSPRNG. */
export function randomHexId(): string {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const id = pool.toString("hex", used, used + ID_BYTES);
  // Handed out once: the pool's copy goes, so no later reader of the buffer can learn an ID.
  pool.fill(0, used, used + ID_BYTES);
  used += ID_BYTES;
  return id;
}
