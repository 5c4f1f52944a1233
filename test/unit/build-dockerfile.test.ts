/**
 * The Dockerfile parser, variable expansion and .dockerignore matching,
 * against the behaviour of moby's parser, shell.Lex and patternmatcher.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseDockerfile } from "../../src/build/dockerfile.ts";
import { envFromList, processWord, processWords } from "../../src/build/shell-lex.ts";
import { IgnoreMatcher, readIgnoreFile } from "../../src/build/dockerignore.ts";
import { HakoError } from "../../src/common/errors.ts";

function throwsInvalid(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => HakoError.is(err) && err.code === "ERR_INVALID_ARGUMENT" && re.test(err.message));
}

describe("dockerfile parser", () => {
  it("reads instructions, comments, continuations and flags", () => {
    const df = parseDockerfile(
      [
        "# syntax=docker/dockerfile:1",
        "# a comment",
        "from busybox:latest AS base",
        "RUN echo a \\",
        "  # a comment inside",
        "  && echo b",
        'CMD ["echo", "hi"]',
        "COPY --from=base --chown=1:2 /a /b/",
        "ENV A=1 B=\"two words\"",
        "ENV LEGACY value with spaces",
        "LABEL x=y",
        "HEALTHCHECK --interval=5s CMD true",
        "HEALTHCHECK NONE",
        "ONBUILD RUN echo later",
        "MAINTAINER someone <a@b>",
        "",
      ].join("\n"),
    );
    assert.equal(df.syntax, "docker/dockerfile:1");
    const [from, run, cmd, copy, env, legacy, label, hc, none, onbuild, maint] = df.instructions;
    assert.deepEqual([from!.name, from!.args], ["FROM", ["busybox:latest", "AS", "base"]]);
    assert.equal(from!.line, 3);
    assert.deepEqual(run!.args, ["echo a   && echo b"]);
    assert.equal(run!.json, false);
    assert.deepEqual([cmd!.args, cmd!.json], [["echo", "hi"], true]);
    assert.deepEqual(copy!.flags, { from: "base", chown: "1:2" });
    assert.deepEqual(copy!.args, ["/a", "/b/"]);
    assert.deepEqual(env!.args, ["A=1", 'B="two words"']);
    assert.deepEqual(legacy!.args, ["LEGACY=value with spaces"]);
    assert.deepEqual(label!.args, ["x=y"]);
    assert.deepEqual([hc!.flags, hc!.args], [{ interval: "5s" }, ["CMD", "true"]]);
    assert.deepEqual(none!.args, ["NONE"]);
    assert.equal(onbuild!.next?.name, "RUN");
    assert.deepEqual(maint!.args, ["someone <a@b>"]);
  });

  it("skips empty and comment lines inside a continuation", () => {
    const df = parseDockerfile("FROM busybox\nRUN echo a \\\n\n   \n# note\n  && echo b\nCMD x\n");
    assert.deepEqual(df.instructions.map((i) => i.name), ["FROM", "RUN", "CMD"]);
    assert.equal(df.instructions[1]!.args[0], "echo a   && echo b");
  });

  it("honours # escape=`", () => {
    const df = parseDockerfile("# escape=`\nFROM busybox\nRUN echo a `\n  b\nCOPY a\\b c\n");
    assert.equal(df.escape, "`");
    assert.deepEqual(df.instructions[1]!.args, ["echo a   b"]);
    assert.deepEqual(df.instructions[2]!.args, ["a\\b", "c"]);
  });

  it("refuses unknown instructions and bad arguments with the line", () => {
    throwsInvalid(() => parseDockerfile("FROM busybox\nFROBNICATE x\n"), /line 2: unknown instruction: FROBNICATE/);
    throwsInvalid(() => parseDockerfile("FROM busybox\nCOPY onlyone\n"), /COPY requires at least two arguments/);
    throwsInvalid(() => parseDockerfile("SHELL /bin/sh -c\n"), /JSON form/);
    throwsInvalid(() => parseDockerfile("ONBUILD ONBUILD RUN x\n"), /Chaining ONBUILD/);
  });
});

describe("shell-word expansion", () => {
  const env = envFromList(["A=1", "EMPTY=", "S=x y"]);
  it("expands $V, ${V} and the modifiers", () => {
    assert.equal(processWord("$A-${A}", env), "1-1");
    assert.equal(processWord("${NOPE:-def}", env), "def");
    assert.equal(processWord("${EMPTY:-def}", env), "def");
    assert.equal(processWord("${EMPTY-def}", env), "");
    assert.equal(processWord("${A:+alt}", env), "alt");
    assert.equal(processWord("${NOPE:+alt}", env), "");
    assert.equal(processWord("${NOPE:-$A}", env), "1");
    assert.equal(processWord("$NOPE", env), "");
    assert.equal(processWord("a$", env), "a$");
    throwsInvalid(() => processWord("${NOPE:?must be set}", env), /NOPE: must be set/);
  });
  it("unquotes and escapes like moby", () => {
    assert.equal(processWord(`"$A b"`, env), "1 b");
    assert.equal(processWord(`'$A b'`, env), "$A b");
    assert.equal(processWord(`\\$A`, env), "$A");
    assert.equal(processWord(`"a\\"b\\n"`, env), 'a"b\\n');
    assert.equal(processWord("x\\ y", env), "x y");
    assert.equal(processWord("`$A", env, "`"), "$A");
    throwsInvalid(() => processWord(`"open`, env), /double-quote/);
  });
  it("splits words for EXPOSE", () => {
    assert.deepEqual(processWords("80 $S '8 0'", env), ["80", "x", "y", "8 0"]);
  });
});

describe(".dockerignore", () => {
  it("reads patterns and matches like patternmatcher", () => {
    const lines = readIgnoreFile("# comment\n\n*.log\n/build/\n**/tmp\nsecret*\n!secret-ok\ndocs/**/*.md\n");
    assert.deepEqual(lines, ["*.log", "build", "**/tmp", "secret*", "!secret-ok", "docs/**/*.md"]);
    const m = new IgnoreMatcher(lines);
    assert.equal(m.ignores("a.log"), true);
    assert.equal(m.ignores("sub/a.log"), false);
    assert.equal(m.ignores("build/x/y"), true);
    assert.equal(m.ignores("tmp"), true);
    assert.equal(m.ignores("a/b/tmp/c"), true);
    assert.equal(m.ignores("secret.txt"), true);
    assert.equal(m.ignores("secret-ok"), false);
    assert.equal(m.ignores("docs/a.md"), true);
    assert.equal(m.ignores("docs/x/y/a.md"), true);
    assert.equal(m.ignores("docs/a.txt"), false);
    assert.equal(m.ignores("keep.txt"), false);
  });
  it("single-character classes and escapes", () => {
    const m = new IgnoreMatcher(["file[0-9].txt", "a\\*b", "?.c"]);
    assert.equal(m.ignores("file1.txt"), true);
    assert.equal(m.ignores("filex.txt"), false);
    assert.equal(m.ignores("a*b"), true);
    assert.equal(m.ignores("axb"), false);
    assert.equal(m.ignores("x.c"), true);
    assert.equal(m.ignores("xy.c"), false);
  });
});
