/**
 * Reference parsing against distribution/reference's behaviour: the cases
 * come from its normalize_test.go and reference_test.go (ParseNormalizedNamed,
 * Parse, FamiliarString, ParseDockerRef) and from what `docker pull` prints.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HakoError, InvalidArgumentError } from "../../src/common/errors.ts";
import {
  familiarName,
  familiarString,
  fullString,
  isDigest,
  isDigested,
  isImageIdLike,
  normalize,
  parseDockerRef,
  parseExact,
  parseReference,
  registryHost,
  repository,
  tagNameOnly,
  trimNamed,
  withDigest,
  withTag,
} from "../../src/image/reference.ts";

const D = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const BB = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
const HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
const S512 = `sha512:${"f".repeat(128)}`;

/** input → normalised (default tag added) and familiar forms. */
const VALID: Array<[input: string, normalized: string, familiar: string]> = [
  ["busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"],
  ["library/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
  ["index.docker.io/library/debian:12", "docker.io/library/debian:12", "debian:12"],
  ["user/app", "docker.io/user/app:latest", "user/app:latest"],
  ["docker.io/user/app:v1", "docker.io/user/app:v1", "user/app:v1"],
  ["docker/docker", "docker.io/docker/docker:latest", "docker/docker:latest"],
  ["library/foo/bar", "docker.io/library/foo/bar:latest", "library/foo/bar:latest"],
  ["store/foo/bar", "docker.io/store/foo/bar:latest", "store/foo/bar:latest"],
  ["other/library", "docker.io/other/library:latest", "other/library:latest"],
  ["localhost/fooo", "localhost/fooo:latest", "localhost/fooo:latest"],
  ["localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest"],
  ["localhost:5000/x:dev", "localhost:5000/x:dev", "localhost:5000/x:dev"],
  ["LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar:latest", "LOCALDOMAIN/fooo/bar:latest"],
  ["Foo/bar", "Foo/bar:latest", "Foo/bar:latest"],
  ["127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase:latest", "127.0.0.1:8000/private/moonbase:latest"],
  ["192.168.0.1", "docker.io/library/192.168.0.1:latest", "192.168.0.1:latest"],
  ["192.168.0.1:80", "docker.io/library/192.168.0.1:80", "192.168.0.1:80"],
  ["example.com/privatebase", "example.com/privatebase:latest", "example.com/privatebase:latest"],
  ["example.com:8000/private/moonbase:tag", "example.com:8000/private/moonbase:tag", "example.com:8000/private/moonbase:tag"],
  ["[fc00::1]:5000/docker", "[fc00::1]:5000/docker:latest", "[fc00::1]:5000/docker:latest"],
  ["[2001:db8::1]/repo:tag", "[2001:db8::1]/repo:tag", "[2001:db8::1]/repo:tag"],
  ["sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag"],
  ["b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com"],
  ["xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com"],
  ["ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base:latest", "ubuntu-12.04-base:latest"],
  ["docker---rules/docker", "docker.io/docker---rules/docker:latest", "docker---rules/docker:latest"],
  ["dock__er/docker", "docker.io/dock__er/docker:latest", "dock__er/docker:latest"],
  ["d/docker", "docker.io/d/docker:latest", "d/docker:latest"],
  ["lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "lowercase:Uppercase"],
  ["foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", "foo_bar.com:8080"],
  ["docker.io/" + HEX64, "docker.io/library/" + HEX64 + ":latest", HEX64 + ":latest"],
  ["busybox@" + BB, "docker.io/library/busybox@" + BB, "busybox@" + BB],
  ["busybox:latest@" + BB, "docker.io/library/busybox:latest@" + BB, "busybox:latest@" + BB],
  ["user/app@" + S512, "docker.io/user/app@" + S512, "user/app@" + S512],
  ["registry.example.com/a/b:tag@" + D, "registry.example.com/a/b:tag@" + D, "registry.example.com/a/b:tag@" + D],
  ["test:5000/repo@" + D, "test:5000/repo@" + D, "test:5000/repo@" + D],
  ["[2001:db8::1]:5000/repo:tag@" + D, "[2001:db8::1]:5000/repo:tag@" + D, "[2001:db8::1]:5000/repo:tag@" + D],
  ["example.com/" + "a".repeat(255), "example.com/" + "a".repeat(255) + ":latest", "example.com/" + "a".repeat(255) + ":latest"],
  ["sha256:abc", "docker.io/library/sha256:abc", "sha256:abc"],
  ["a:" + "t".repeat(128), "docker.io/library/a:" + "t".repeat(128), "a:" + "t".repeat(128)],
];

/** input → the exact error message Docker prints. */
const INVALID: Array<[input: string, message: string]> = [
  ["", "invalid reference format"],
  ["Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"],
  ["docker/Docker", "invalid reference format: repository name (docker/Docker) must be lowercase"],
  ["docker.io/docker/Docker", "invalid reference format: repository name (docker/Docker) must be lowercase"],
  ["Uppercase:tag", "invalid reference format: repository name (library/Uppercase) must be lowercase"],
  ["test:5000/Uppercase/lowercase:tag", "invalid reference format: repository name (Uppercase/lowercase) must be lowercase"],
  [HEX64, `invalid repository name (${HEX64}), cannot specify 64-byte hexadecimal strings`],
  ["https://github.com/docker/docker", "invalid reference format"],
  ["-docker", "invalid reference format"],
  ["-docker/docker", "invalid reference format"],
  ["docker-/docker", "invalid reference format"],
  ["-docker.io/docker/docker", "invalid reference format"],
  ["docker///docker", "invalid reference format"],
  ["____/____", "invalid reference format"],
  ["_docker/_docker", "invalid reference format"],
  ["dock..er/docker", "invalid reference format"],
  ["dock_.er/docker", "invalid reference format"],
  ["dock-.er/docker", "invalid reference format"],
  ["docker/", "invalid reference format"],
  ["[fc00::1]", "invalid reference format"],
  ["[fc00::1]:5000", "invalid reference format"],
  ["fc00::1:5000/debian", "invalid reference format"],
  ["[fe80::1%eth0]:5000/debian", "invalid reference format"],
  ["[2001:db8:3:4::192.0.2.33]:5000/debian", "invalid reference format"],
  [":justtag", "invalid reference format"],
  ["@" + D, "invalid reference format"],
  ["aa/asdf$$^/aa", "invalid reference format"],
  ["busybox:-tag", "invalid reference format"],
  ["busybox:" + "t".repeat(129), "invalid reference format"],
  ["busybox@sha256:abc", "invalid reference format"],
  ["repo@sha256:" + "f".repeat(34), "invalid checksum digest length"],
  ["repo@sha256:" + "F".repeat(64), "invalid checksum digest format"],
  ["validname@invaliddigest:" + "f".repeat(64), "unsupported digest algorithm"],
  ["example.com/" + "a".repeat(256), "repository name must not be more than 255 characters"],
  [
    Array(4).fill("this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255").join("_") + "/docker",
    "repository name must not be more than 255 characters",
  ],
];

describe("parseReference / normalize", () => {
  for (const [input, normalized, familiar] of VALID) {
    it(`accepts ${input.length > 60 ? `${input.slice(0, 57)}...` : input}`, () => {
      const ref = normalize(input);
      assert.equal(fullString(ref), normalized);
      assert.equal(familiarString(ref), familiar);
      // The full and the familiar forms parse back to the same reference.
      assert.deepEqual(normalize(normalized), ref);
      assert.deepEqual(normalize(familiar), ref);
    });
  }

  for (const [input, message] of INVALID) {
    it(`rejects ${JSON.stringify(input.length > 60 ? `${input.slice(0, 57)}...` : input)}`, () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) => err instanceof InvalidArgumentError && HakoError.is(err) && err.message === message,
        `expected ${message}`,
      );
    });
  }

  it("has at least 40 table cases", () => {
    assert.ok(VALID.length + INVALID.length >= 40);
  });

  it("splits domain and path and keeps tag and digest", () => {
    assert.deepEqual(parseReference("busybox"), { domain: "docker.io", path: "library/busybox" });
    assert.deepEqual(parseReference("registry.example.com/a/b:tag@" + D), {
      domain: "registry.example.com",
      path: "a/b",
      tag: "tag",
      digest: D,
    });
    assert.deepEqual(parseReference("localhost:5000/x"), { domain: "localhost:5000", path: "x" });
    assert.equal(parseReference("user/app").tag, undefined);
  });

  it("adds :latest only when there is neither tag nor digest", () => {
    assert.equal(normalize("busybox").tag, "latest");
    assert.equal(normalize("busybox@" + BB).tag, undefined);
    assert.equal(normalize("busybox:1").tag, "1");
    assert.deepEqual(tagNameOnly({ domain: "docker.io", path: "library/a" }), { domain: "docker.io", path: "library/a", tag: "latest" });
  });
});

describe("parseExact (Parse, no defaults)", () => {
  it("keeps names without a domain as written", () => {
    assert.deepEqual(parseExact("test_com"), { domain: "", path: "test_com" });
    assert.deepEqual(parseExact("test.com:5000"), { domain: "", path: "test.com", tag: "5000" });
    assert.deepEqual(parseExact("foo/foo_bar.com:8080"), { domain: "foo", path: "foo_bar.com", tag: "8080" });
    assert.deepEqual(parseExact("192.168.1.1:5000/repo:5050"), { domain: "192.168.1.1:5000", path: "repo", tag: "5050" });
    assert.equal(fullString(parseExact("a/".repeat(127) + "a:tag-puts-this-over-max")), "a/".repeat(127) + "a:tag-puts-this-over-max");
  });

  it("reports an empty name and uppercase as distribution does", () => {
    assert.throws(() => parseExact(""), { message: "repository name must have at least one component" });
    assert.throws(() => parseExact("Uppercase:tag"), { message: "repository name must be lowercase" });
    assert.throws(() => parseExact("test:5000/Uppercase/lowercase:tag"), { message: "repository name must be lowercase" });
  });
});

describe("familiar forms", () => {
  it("drops docker.io and library/ only where Docker does", () => {
    assert.equal(familiarName(parseReference("docker.io/library/busybox")), "busybox");
    assert.equal(familiarName(parseReference("docker.io/user/app")), "user/app");
    assert.equal(familiarName(parseReference("docker.io/library/foo/bar")), "library/foo/bar");
    assert.equal(familiarName(parseReference("quay.io/library/busybox")), "quay.io/library/busybox");
    assert.equal(familiarString(normalize("busybox:latest@" + BB)), "busybox:latest@" + BB);
  });

  it("repository() and trimNamed() drop tag and digest", () => {
    const ref = parseReference("registry.example.com/a/b:tag@" + D);
    assert.equal(repository(ref), "registry.example.com/a/b");
    assert.deepEqual(trimNamed(ref), { domain: "registry.example.com", path: "a/b" });
  });
});

describe("parseDockerRef", () => {
  it("keeps only the digest when both are given, else adds :latest", () => {
    assert.equal(fullString(parseDockerRef("busybox:latest@" + BB)), "docker.io/library/busybox@" + BB);
    assert.equal(fullString(parseDockerRef("busybox@" + BB)), "docker.io/library/busybox@" + BB);
    assert.equal(fullString(parseDockerRef("busybox")), "docker.io/library/busybox:latest");
    assert.equal(fullString(parseDockerRef("busybox:1.36")), "docker.io/library/busybox:1.36");
  });
});

describe("withTag / withDigest", () => {
  const ref = parseReference("busybox");

  it("builds references and keeps the other part", () => {
    assert.equal(fullString(withTag(ref, "1.36")), "docker.io/library/busybox:1.36");
    assert.equal(fullString(withDigest(withTag(ref, "v1"), BB)), "docker.io/library/busybox:v1@" + BB);
    assert.equal(fullString(withTag(withDigest(ref, BB), "v2")), "docker.io/library/busybox:v2@" + BB);
  });

  it("rejects invalid tags and digests", () => {
    assert.throws(() => withTag(ref, "-foo"), { message: "invalid tag format" });
    assert.throws(() => withTag(ref, "a".repeat(129)), { message: "invalid tag format" });
    assert.throws(() => withDigest(ref, "foo"), { message: "invalid digest format" });
    assert.throws(() => withDigest(ref, "sha256:" + "f".repeat(40)), { message: "invalid checksum digest length" });
  });
});

describe("digests and IDs", () => {
  it("isDigest / isDigested", () => {
    assert.equal(isDigest(BB), true);
    assert.equal(isDigest(S512), true);
    assert.equal(isDigest("sha256:abc"), false);
    assert.equal(isDigest(HEX64), false);
    assert.equal(isDigested(parseReference("busybox@" + BB)), true);
    assert.equal(isDigested(parseReference("busybox")), false);
  });

  it("isImageIdLike accepts full IDs, sha256: IDs and 12+ hex prefixes", () => {
    assert.equal(isImageIdLike(HEX64), true);
    assert.equal(isImageIdLike("sha256:" + HEX64), true);
    assert.equal(isImageIdLike("1a3f5e7d9c1b"), true);
    assert.equal(isImageIdLike("sha256:1a3f5e7d9c1b"), true);
    assert.equal(isImageIdLike("1a3f5e7d9c1"), false);
    assert.equal(isImageIdLike("busybox"), false);
    assert.equal(isImageIdLike(HEX64 + "0"), false);
    assert.equal(isImageIdLike("1A3F5E7D9C1B"), false);
  });
});

describe("registryHost", () => {
  it("maps Docker Hub to its API host and leaves others alone", () => {
    assert.equal(registryHost("docker.io"), "registry-1.docker.io");
    assert.equal(registryHost("index.docker.io"), "registry-1.docker.io");
    assert.equal(registryHost(parseReference("busybox").domain), "registry-1.docker.io");
    assert.equal(registryHost("localhost:5000"), "localhost:5000");
    assert.equal(registryHost("ghcr.io"), "ghcr.io");
  });
});

describe("hostile input", () => {
  it("parses long pathological strings quickly", () => {
    const start = process.hrtime.bigint();
    for (const s of ["a".repeat(5000) + "!", "a-".repeat(3000) + "!", "a".repeat(3000) + "/" + "-".repeat(3000) + "a"]) {
      assert.throws(() => parseReference(s));
    }
    assert.ok(Number(process.hrtime.bigint() - start) / 1e6 < 2000);
  });
});
