/**
 * dockerd's filter matching, shared by containers, images, networks and
 * volumes: regular expressions for names and ids, "key"/"key=value" labels,
 * and until/since times as Go durations, unix seconds or dates.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { filterTime, matchesLabels, matchesRegexp, parseGoDurationMs } from "../../src/common/filters.ts";

describe("filters", () => {
  it("names and ids: regular expressions matched anywhere; one that does not compile must equal", () => {
    assert.equal(matchesRegexp(["^n1"], "n1-net"), true);
    assert.equal(matchesRegexp(["^n1"], "an1"), false);
    assert.equal(matchesRegexp(["et$", "zz"], "n1-net"), true);
    assert.equal(matchesRegexp(["1-n"], "n1-net"), true);
    assert.equal(matchesRegexp(["("], "("), true);
    assert.equal(matchesRegexp(["("], "a(b"), false);
  });

  it("labels: every key present, every key=value equal; not the object's prototype", () => {
    const labels = { team: "a", "com.x": "" };
    assert.equal(matchesLabels(["team", "team=a", "com.x="], labels), true);
    assert.equal(matchesLabels(["team=b"], labels), false);
    assert.equal(matchesLabels(["constructor"], labels), false);
    assert.equal(matchesLabels([], labels), true);
  });

  it("times: Go durations back from now, unix seconds, dates; anything else is refused", () => {
    const now = Date.parse("2026-11-24T12:00:00Z");
    assert.equal(parseGoDurationMs("1h30m"), 5_400_000);
    assert.equal(parseGoDurationMs("1.5h"), 5_400_000);
    assert.equal(parseGoDurationMs("300ms"), 300);
    assert.equal(parseGoDurationMs("10"), undefined);
    assert.equal(filterTime("2h", "until", now), now - 7_200_000);
    assert.equal(filterTime("1795532745.5", "until", now), 1795532745500);
    assert.equal(filterTime("2026-01-02T03:04:05Z", "until", now), Date.parse("2026-01-02T03:04:05Z"));
    assert.throws(() => filterTime("yesterday", "until", now), /invalid filter 'until=yesterday'/);
  });
});
