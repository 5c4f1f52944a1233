/** Go's RFC3339Nano, as Docker's JSON writes times: trailing zeros of the fraction dropped. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nowRfc3339Nano, rfc3339Nano } from "../../src/common/time.ts";

describe("rfc3339Nano", () => {
  it("keeps the nanoseconds and drops the fraction's trailing zeros", () => {
    const s = BigInt(Date.parse("2026-05-07T20:33:45Z")) * 1_000_000n;
    assert.equal(rfc3339Nano(s), "2026-05-07T20:33:45Z");
    assert.equal(rfc3339Nano(s + 120_000_000n), "2026-05-07T20:33:45.12Z");
    assert.equal(rfc3339Nano(s + 123_456_789n), "2026-05-07T20:33:45.123456789Z");
    assert.equal(rfc3339Nano(s + 1n), "2026-05-07T20:33:45.000000001Z");
  });
  it("now is a valid date to the millisecond", () => {
    const before = Date.now();
    const t = Date.parse(nowRfc3339Nano());
    assert.ok(t >= before - 1 && t <= Date.now() + 1);
    assert.match(nowRfc3339Nano(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
  });
});
