/**
 * Dockerfile instructions applied to a config (`commit -c`, `import -c`),
 * as moby's BuildFromConfig applies them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyChanges } from "../../src/image/changes.ts";

describe("applyChanges", () => {
  it("a new ENTRYPOINT drops the old CMD, unless a CMD comes with it", () => {
    const base = { Cmd: ["sh", "-c", "old"], Entrypoint: null };
    assert.deepEqual(applyChanges(base, ['ENTRYPOINT ["/bin/echo"]']), { Cmd: null, Entrypoint: ["/bin/echo"] });
    assert.deepEqual(applyChanges(base, ['CMD ["hi"]', 'ENTRYPOINT ["/bin/echo"]']), { Cmd: ["hi"], Entrypoint: ["/bin/echo"] });
    assert.deepEqual(applyChanges(base, ['ENTRYPOINT ["/bin/echo"]', 'CMD ["hi"]']), { Cmd: ["hi"], Entrypoint: ["/bin/echo"] });
  });

  it("refuses what commit does not take, named as the parser names it", () => {
    assert.throws(() => applyChanges({}, ["BOGUS x"]), /^InvalidArgumentError: bogus is not a valid change command$|bogus is not a valid change command/);
    assert.throws(() => applyChanges({}, ["RUN true"]), /run is not a valid change command/);
  });
});
