/**
 * Image references, parsed and normalised as github.com/distribution/reference
 * does (ParseNormalizedNamed, TagNameOnly, FamiliarName/FamiliarString,
 * ParseDockerRef), so names, error messages and edge cases match Docker's.
 *
 *   reference      := name [ ":" tag ] [ "@" digest ]
 *   name           := [domain "/"] path
 *   domain         := host [":" port]        host: DNS-ish name, IPv4, or [IPv6]
 *   path           := component ("/" component)*    at most 255 characters
 *   component      := [a-z0-9]+ (separator [a-z0-9]+)*   separator: "." "_" "__" "-"+
 *   tag            := [\w][\w.-]{0,127}
 *   digest         := algorithm ":" hex       (sha256: 64 hex, sha512: 128 hex)
 *
 * A name without a domain is on Docker Hub: `busybox` is
 * `docker.io/library/busybox`, `user/app` is `docker.io/user/app`; the first
 * component is a domain only when it contains "." or ":", is `localhost`, or
 * has uppercase letters. `index.docker.io` is folded into `docker.io`.
 */
import { InvalidArgumentError } from "../common/errors.ts";
import type { Digest } from "../spec/oci-image.ts";
import { digestProblem, isValidDigest } from "./digest.ts";

/** A parsed reference; `domain` is always set once normalised. */
export interface Reference {
  domain: string;
  path: string;
  tag?: string;
  digest?: Digest;
}

export const DEFAULT_DOMAIN = "docker.io";
export const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
/** Where Docker Hub's registry API actually answers. */
export const DEFAULT_REGISTRY_HOST = "registry-1.docker.io";
export const OFFICIAL_REPO_PREFIX = "library/";
export const DEFAULT_TAG = "latest";
export const NAME_TOTAL_LENGTH_MAX = 255;

// The grammar, built from the same pieces and in the same order as
// distribution/reference's regexp.go; Go's RE2 uses leftmost-first
// submatch semantics, as JavaScript's backtracking engine does, so the
// captured domain and path are the same.
const alphanumeric = "[a-z0-9]+";
const separator = "(?:[._]|__|[-]+)";
const domainNameComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const optionalPort = "(?::[0-9]+)?";
const tagPat = "[\\w][\\w.-]{0,127}";
const digestPat = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";
const ipv6address = "\\[(?:[a-fA-F0-9:]+)\\]";
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = `${host}${optionalPort}`;
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;

const referenceRegexp = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const anchoredNameRegexp = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const anchoredTagRegexp = new RegExp(`^${tagPat}$`);
const anchoredDigestRegexp = new RegExp(`^${digestPat}$`);
const anchoredIdentifierRegexp = /^[a-f0-9]{64}$/;
const imageIdLikeRegexp = /^(?:sha256:)?[a-f0-9]{12,64}$/;

// distribution/reference's error texts.
const ERR_REFERENCE_INVALID_FORMAT = "invalid reference format";
const ERR_NAME_CONTAINS_UPPERCASE = "repository name must be lowercase";
const ERR_NAME_EMPTY = "repository name must have at least one component";
const ERR_NAME_TOO_LONG = `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`;
const ERR_TAG_INVALID_FORMAT = "invalid tag format";
const ERR_DIGEST_INVALID_FORMAT = "invalid digest format";

/**
 * distribution/reference's Parse: the reference exactly as written, no
 * defaults applied (a name without a domain gets `domain: ""`).
 */
export function parseExact(s: string): Reference {
  if (s === "") throw new InvalidArgumentError(ERR_NAME_EMPTY);
  const m = referenceRegexp.exec(s);
  if (m === null) {
    const lower = s.toLowerCase();
    if (lower !== s && referenceRegexp.test(lower)) throw new InvalidArgumentError(ERR_NAME_CONTAINS_UPPERCASE);
    throw new InvalidArgumentError(ERR_REFERENCE_INVALID_FORMAT);
  }
  const name = m[1]!;
  const nm = anchoredNameRegexp.exec(name);
  const ref: Reference = nm ? { domain: nm[1] ?? "", path: nm[2]! } : { domain: "", path: name };
  if (ref.path.length > NAME_TOTAL_LENGTH_MAX) throw new InvalidArgumentError(ERR_NAME_TOO_LONG);
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) {
    const problem = digestProblem(m[3]);
    if (problem !== undefined) throw new InvalidArgumentError(problem);
    ref.digest = m[3];
  }
  return ref;
}

/**
 * Splits a familiar name into domain and remainder (path plus any tag or
 * digest), Docker Hub's defaults applied: distribution's splitDockerDomain.
 */
function splitDockerDomain(name: string): [domain: string, remainder: string] {
  const slash = name.indexOf("/");
  if (slash < 0) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const maybeRemote = name.slice(slash + 1);
  let domain: string;
  let remote: string;
  if (maybeDomain === "localhost") {
    [domain, remote] = [maybeDomain, maybeRemote];
  } else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) {
    [domain, remote] = [DEFAULT_DOMAIN, maybeRemote];
  } else if (maybeDomain.includes(".") || maybeDomain.includes(":")) {
    [domain, remote] = [maybeDomain, maybeRemote];
  } else if (maybeDomain.toLowerCase() !== maybeDomain) {
    // Namespaces are lowercase, so an uppercase first component can only be a host name.
    [domain, remote] = [maybeDomain, maybeRemote];
  } else {
    [domain, remote] = [DEFAULT_DOMAIN, name];
  }
  if (domain === DEFAULT_DOMAIN && !remote.includes("/")) remote = OFFICIAL_REPO_PREFIX + remote;
  return [domain, remote];
}

/**
 * ParseNormalizedNamed: a familiar or full reference to its fully qualified
 * form, without adding a default tag.
 *
 * @example parseReference("busybox") // { domain: "docker.io", path: "library/busybox" }
 * @throws InvalidArgumentError with distribution/reference's message
 */
export function parseReference(s: string): Reference {
  if (anchoredIdentifierRegexp.test(s)) {
    throw new InvalidArgumentError(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDockerDomain(s);
  const colon = remainder.indexOf(":");
  const remote = colon >= 0 ? remainder.slice(0, colon) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw new InvalidArgumentError(`${ERR_REFERENCE_INVALID_FORMAT}: repository name (${remote}) must be lowercase`);
  }
  return parseExact(`${domain}/${remainder}`);
}

/** TagNameOnly: adds `:latest` when the reference has neither tag nor digest. */
export function tagNameOnly(ref: Reference): Reference {
  if (ref.tag === undefined && ref.digest === undefined) return { ...ref, tag: DEFAULT_TAG };
  return ref;
}

/**
 * A reference as Docker looks it up locally: parsed, normalised, `:latest`
 * added when neither tag nor digest is given.
 *
 * @example fullString(normalize("busybox")) // "docker.io/library/busybox:latest"
 */
export function normalize(s: string): Reference {
  return tagNameOnly(parseReference(s));
}

/**
 * ParseDockerRef: like normalize, but a reference with both a tag and a
 * digest keeps only the digest (what `docker pull name:tag@digest` fetches).
 */
export function parseDockerRef(s: string): Reference {
  const ref = parseReference(s);
  if (ref.tag !== undefined && ref.digest !== undefined) return { domain: ref.domain, path: ref.path, digest: ref.digest };
  return tagNameOnly(ref);
}

/** `domain/path`, the repository the reference names. */
export function repository(ref: Reference): string {
  return ref.domain === "" ? ref.path : `${ref.domain}/${ref.path}`;
}

/** The fully qualified string: `domain/path[:tag][@digest]`. */
export function fullString(ref: Reference): string {
  return suffixed(repository(ref), ref);
}

/**
 * The name as Docker shows it: Docker Hub's domain and the `library/`
 * namespace of official images dropped.
 *
 * @example familiarName(parseReference("docker.io/library/busybox")) // "busybox"
 */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repository(ref);
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes("/")) return rest;
  }
  return ref.path;
}

/** familiarName with the tag and digest: `busybox:latest`, `user/app@sha256:...`. */
export function familiarString(ref: Reference): string {
  return suffixed(familiarName(ref), ref);
}

function suffixed(name: string, ref: Reference): string {
  let s = name;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The repository alone, tag and digest removed (TrimNamed). */
export function trimNamed(ref: Reference): Reference {
  return { domain: ref.domain, path: ref.path };
}

/** True when `s` is a valid digest string (`sha256:<64 hex>`, `sha512:<128 hex>`). */
export function isDigest(s: string): boolean {
  return isValidDigest(s);
}

/** True when the reference pins a digest. */
export function isDigested(ref: Reference): boolean {
  return ref.digest !== undefined;
}

/** True when `tag` is a valid tag. */
export function isValidTag(tag: string): boolean {
  return anchoredTagRegexp.test(tag);
}

/** The reference with `tag` (a digest it has is kept, as WithTag does). */
export function withTag(ref: Reference, tag: string): Reference {
  if (!anchoredTagRegexp.test(tag)) throw new InvalidArgumentError(ERR_TAG_INVALID_FORMAT);
  return { ...ref, tag };
}

/** The reference with `digest` (a tag it has is kept, as WithDigest does). */
export function withDigest(ref: Reference, digest: Digest): Reference {
  if (!anchoredDigestRegexp.test(digest)) throw new InvalidArgumentError(ERR_DIGEST_INVALID_FORMAT);
  const problem = digestProblem(digest);
  if (problem !== undefined) throw new InvalidArgumentError(problem);
  return { ...ref, digest };
}

/**
 * True for strings that look like an image ID rather than a name: 64 hex,
 * `sha256:` and hex, or a hex prefix of at least 12 characters (the short ID
 * `docker images` prints).
 */
export function isImageIdLike(s: string): boolean {
  return imageIdLikeRegexp.test(s);
}

/** The host that serves the registry API for a reference's domain. */
export function registryHost(domain: string): string {
  if (domain === DEFAULT_DOMAIN || domain === LEGACY_DEFAULT_DOMAIN) return DEFAULT_REGISTRY_HOST;
  return domain;
}

/**
 * moby's splitReposSearchTerm: a term whose first part names a host
 * ("localhost:5000/x", "my.reg/x") searches that registry's index, any
 * other Docker Hub's ("docker.io"), where "library/foo" is asked as "foo".
 */
export function splitSearchTerm(term: string): { index: string; remote: string } {
  const slash = term.indexOf("/");
  const first = slash < 0 ? "" : term.slice(0, slash);
  if (first.includes(".") || first.includes(":") || first === "localhost") return { index: first, remote: term.slice(slash + 1) };
  return { index: "docker.io", remote: term.replace(/^library\//, "") };
}
