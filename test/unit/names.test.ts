/**
 * Container names: Docker's validation and conflict messages, rename, and
 * generated "adjective_surname" names.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HakoError } from "../../src/common/errors.ts";
import { NAME_WORDS, NameRegistry, normalizeName, randomName } from "../../src/engine/names.ts";

const ID1 = "1".repeat(64);
const ID2 = "2".repeat(64);

function error(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(HakoError.is(err), String(err));
    return { code: err.code, message: err.message };
  }
  assert.fail("did not throw");
}

describe("names", () => {
  it("valid names are stored with a leading slash", () => {
    assert.equal(normalizeName("web"), "/web");
    assert.equal(normalizeName("/web"), "/web");
    assert.equal(normalizeName("a.b-c_d9"), "/a.b-c_d9");
    assert.equal(normalizeName("0x"), "/0x");
  });

  it("invalid names: Docker's message", () => {
    for (const bad of ["a", "-web", "_web", ".web", "we b", "web/1", "//web", "wéb", ""]) {
      assert.deepEqual(error(() => normalizeName(bad)), {
        code: "ERR_INVALID_ARGUMENT",
        message: `Invalid container name (${bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      });
    }
  });

  it("reserve, conflict, release", () => {
    const reg = new NameRegistry();
    assert.equal(reg.reserve("web", ID1), "/web");
    assert.equal(reg.reserve("/web", ID1), "/web", "the holder may reserve again");
    assert.deepEqual(error(() => reg.reserve("web", ID2)), {
      code: "ERR_CONFLICT",
      message: `Conflict. The container name "/web" is already in use by container "${ID1}". You have to remove (or rename) that container to be able to reuse that name.`,
    });
    assert.equal(reg.get("web"), ID1);
    assert.equal(reg.get("/web"), ID1);
    reg.release("web");
    assert.equal(reg.has("web"), false);
    assert.equal(reg.reserve("web", ID2), "/web");
    reg.releaseId(ID2);
    assert.equal(reg.has("/web"), false);
  });

  it("rename", () => {
    const reg = new NameRegistry();
    reg.reserve("old", ID1);
    reg.reserve("taken", ID2);
    assert.equal(reg.rename("old", "new", ID1), "/new");
    assert.equal(reg.get("new"), ID1);
    assert.equal(reg.has("old"), false);
    assert.deepEqual(error(() => reg.rename("new", "taken", ID1)), {
      code: "ERR_CONFLICT",
      message: `Error when allocating new name: Conflict. The container name "/taken" is already in use by container "${ID2}". You have to remove (or rename) that container to be able to reuse that name.`,
    });
    assert.equal(reg.get("new"), ID1, "a failed rename keeps the old name");
    assert.deepEqual(error(() => reg.rename("new", "/new", ID1)), { code: "ERR_INVALID_ARGUMENT", message: "Renaming a container with the same name as its current name" });
    assert.deepEqual(error(() => reg.rename("new", " ", ID1)), { code: "ERR_INVALID_ARGUMENT", message: "Neither old nor new names may be empty" });
    assert.equal(error(() => reg.rename("new", "b@d", ID1)).code, "ERR_INVALID_ARGUMENT");
  });

  it("generated names: adjective_surname from our own lists, valid, retried with a digit", () => {
    assert.ok(NAME_WORDS.adjectives.length >= 60);
    assert.ok(NAME_WORDS.surnames.length >= 100);
    assert.equal(new Set(NAME_WORDS.adjectives).size, NAME_WORDS.adjectives.length, "no duplicate adjectives");
    assert.equal(new Set(NAME_WORDS.surnames).size, NAME_WORDS.surnames.length, "no duplicate surnames");
    for (const w of [...NAME_WORDS.adjectives, ...NAME_WORDS.surnames]) assert.match(w, /^[a-z]+$/);
    for (let i = 0; i < 200; i++) {
      const name = randomName();
      const [adj, surname] = name.split("_");
      assert.ok(NAME_WORDS.adjectives.includes(adj!), name);
      assert.ok(NAME_WORDS.surnames.includes(surname!), name);
      assert.equal(normalizeName(name), `/${name}`);
      assert.match(randomName(1), /^[a-z]+_[a-z]+[0-9]$/);
    }
  });

  it("reserveGenerated never collides, and falls back to the short ID", () => {
    const reg = new NameRegistry();
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const id = i.toString(16).padStart(64, "a");
      const name = reg.reserveGenerated(id);
      assert.ok(!seen.has(name), name);
      seen.add(name);
      assert.equal(reg.get(name), id);
    }
    // Every possible name (with and without a digit) taken: the short ID is used.
    const full = new NameRegistry();
    for (const a of NAME_WORDS.adjectives) {
      for (const s of NAME_WORDS.surnames) {
        full.reserve(`${a}_${s}`, ID2);
        for (let d = 0; d < 10; d++) full.reserve(`${a}_${s}${d}`, ID2);
      }
    }
    assert.equal(full.reserveGenerated(ID1), `/${ID1.slice(0, 12)}`);
    const fresh = new NameRegistry();
    fresh.reserve("x1", ID1);
    assert.ok(!fresh.has(fresh.generateName()));
  });
});
