/**
 * Signal names as Docker and kill(1) take them: with or without SIG, any
 * case, numbers 1-64, and Linux's real-time signals (systemd images stop
 * with SIGRTMIN+3).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSignal } from "../../src/runtime/runtime.ts";

describe("parseSignal", () => {
  it("names, numbers and real-time signals", () => {
    assert.equal(parseSignal("TERM"), 15);
    assert.equal(parseSignal("sigkill"), 9);
    assert.equal(parseSignal("10"), 10);
    assert.equal(parseSignal("SIGRTMIN"), 34);
    assert.equal(parseSignal("SIGRTMIN+3"), 37);
    assert.equal(parseSignal("rtmin+15"), 49);
    assert.equal(parseSignal("RTMAX-14"), 50);
    assert.equal(parseSignal("SIGRTMAX"), 64);
  });

  it("refuses what is not a signal here", () => {
    for (const bad of ["NOPE", "0", "65", "RTMIN+16", "RTMAX-15", "RTMAX+1", "RTMIN-1", "SIG"]) assert.throws(() => parseSignal(bad), /unknown signal/, bad);
  });
});
