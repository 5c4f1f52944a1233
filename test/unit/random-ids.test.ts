/** Random 64-hex IDs from the pooled CSPRNG bytes (src/common/ids.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomHexId } from "../../src/common/ids.ts";

test("randomHexId: 64 hex digits, no repeats across several refills of the pool", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = randomHexId();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.ok(!seen.has(id), `repeated after ${i}`);
    seen.add(id);
  }
  // Every hex digit turns up in every position of some ID: the bytes are not, say, a counter.
  for (let pos = 0; pos < 64; pos += 21) assert.equal(new Set([...seen].map((id) => id[pos])).size, 16);
});
