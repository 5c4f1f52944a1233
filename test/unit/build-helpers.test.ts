/**
 * The builder's pure helpers: Go's formatting in history strings, build-arg
 * bookkeeping (moby buildargs.go) and empty-diff detection.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { BuildArgs } from "../../src/build/build-args.ts";
import { goDuration, goList, goQuoteList, healthcheckComment, parseGoDuration } from "../../src/build/go-format.ts";
import { emptyLayerStream } from "../../src/build/layer.ts";
import { buildTar } from "../helpers/tar-writer.ts";

describe("Go formatting of history strings", () => {
  it("%q and %v of string slices", () => {
    assert.equal(goQuoteList(["cat", "/a b"]), '["cat" "/a b"]');
    assert.equal(goQuoteList(null), "[]");
    assert.equal(goList(["/bin/bash", "-c"]), "[/bin/bash -c]");
  });
  it("durations both ways", () => {
    assert.equal(goDuration(0), "0s");
    assert.equal(goDuration(30e9), "30s");
    assert.equal(goDuration(90e9), "1m30s");
    assert.equal(goDuration(3.6e12), "1h0m0s");
    assert.equal(goDuration(1.5e9), "1.5s");
    assert.equal(goDuration(500e6), "500ms");
    assert.equal(parseGoDuration("1m30s"), 90e9);
    assert.equal(parseGoDuration("500ms"), 500e6);
    assert.equal(parseGoDuration("1.5h"), 5.4e12);
    assert.throws(() => parseGoDuration("5 seconds"), /invalid duration/);
  });
  it("the HEALTHCHECK comment", () => {
    assert.equal(
      healthcheckComment({ Test: ["CMD-SHELL", "true"], Interval: 30e9, Retries: 3 }),
      `HEALTHCHECK &{["CMD-SHELL" "true"] "30s" "0s" "0s" "0s" '\\x03'}`,
    );
  });
});

describe("build args", () => {
  it("options, stage ARGs, meta ARGs and the unused warning", () => {
    const meta = new BuildArgs({ A: "opt", UNUSED: "x", HTTP_PROXY: "http://p", NOVAL: null });
    meta.addArg("M", "meta");
    meta.addMetaArg("M", "meta");
    assert.deepEqual([...meta.allMeta()], [["M", "meta"], ["HTTP_PROXY", "http://p"]]);
    const stage = meta.forStage();
    assert.deepEqual([...stage.allAllowed()], [["HTTP_PROXY", "http://p"]]);
    stage.addArg("A", "default");
    stage.addArg("M", undefined);
    stage.addArg("B", "b");
    // The option wins over the default; an ARG without a value takes the meta arg's.
    assert.deepEqual(new Map(stage.allAllowed()), new Map([["A", "opt"], ["M", "meta"], ["B", "b"], ["HTTP_PROXY", "http://p"]]));
    assert.deepEqual(stage.filterAllowed(["B=env"]).sort(), ["A=opt", "HTTP_PROXY=http://p", "M=meta"]);
    assert.equal(stage.isReferencedOrNotBuiltin("HTTP_PROXY"), false);
    assert.equal(stage.isReferencedOrNotBuiltin("A"), true);
    assert.equal(meta.unusedWarning(), "[Warning] One or more build-args [NOVAL UNUSED] were not consumed\n");
  });
});

describe("empty layer detection", () => {
  it("a tar without entries is empty, one with entries comes back whole", async () => {
    assert.equal(await emptyLayerStream(Readable.from([Buffer.alloc(1024)])), undefined);
    assert.equal(await emptyLayerStream(Readable.from([])), undefined);
    const tar = buildTar([{ name: "a", data: "x".repeat(2000) }]);
    const back = await emptyLayerStream(Readable.from([tar.subarray(0, 100), tar.subarray(100)]));
    assert.ok(back);
    const chunks: Buffer[] = [];
    for await (const c of back) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), tar);
  });
});

describe("context tar ends (Go's lenient reader)", () => {
  const run = async (input: Buffer): Promise<Buffer> => {
    const { TarTerminator } = await import("../../src/build/tar-end.ts");
    const chunks: Buffer[] = [];
    for await (const c of Readable.from([input.subarray(0, 300), input.subarray(300)]).pipe(new TarTerminator())) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  it("pads and terminates a tar that stops after an entry's data", async () => {
    const full = buildTar([{ name: "Dockerfile", data: "FROM busybox\n" }]);
    const cut = full.subarray(0, 512 + 13);
    const out = await run(cut);
    assert.equal(out.length, 512 * 4);
    assert.deepEqual(out.subarray(0, cut.length), cut);
    assert.ok(out.subarray(cut.length).every((b) => b === 0));
  });
  it("leaves complete and truncated tars as they are", async () => {
    const full = buildTar([{ name: "a", data: "x".repeat(1500) }]);
    assert.deepEqual(await run(full), full);
    const inData = full.subarray(0, 1000);
    assert.deepEqual(await run(inData), inData);
    const inHeader = full.subarray(0, 400);
    assert.deepEqual(await run(inHeader), inHeader);
  });
});
