/**
 * The client side of registry credentials, as the docker CLI handles them:
 * the credential file (`$DOCKER_CONFIG/config.json`, or the --config
 * directory), the key a registry is stored under (Docker Hub:
 * "https://index.docker.io/v1/", others: host[:port]) and the
 * X-Registry-Auth header sent with pull and push (base64url JSON of an
 * AuthConfig; "e30=", an empty object, when nothing is stored).
 */
import type { AuthConfig } from "../spec/docker-api.ts";
import { parseReference, type Reference } from "../image/reference.ts";
import { CredentialStore, DOCKER_HUB_AUTH_KEY, convertToHostname } from "../image/registry/credentials.ts";

/** docker/cli's IndexServer: Docker Hub's key and login address. */
export const INDEX_SERVER = DOCKER_HUB_AUTH_KEY;

/** The credential store of this invocation (--config wins over $DOCKER_CONFIG, then ~/.docker). */
export function credentialStore(configDir?: string): CredentialStore {
  return new CredentialStore(configDir ? { configDir } : {});
}

/** docker/cli's getAuthConfigKey: Docker Hub's index address for docker.io, else the domain itself. */
export function authConfigKey(domain: string): string {
  return domain === "docker.io" || domain === "index.docker.io" ? INDEX_SERVER : domain;
}

/** The credentials stored for `key` as an AuthConfig (empty when there are none). */
export function storedAuthConfig(store: CredentialStore, key: string): AuthConfig {
  const creds = store.get(key === INDEX_SERVER ? key : convertToHostname(key));
  if (!creds) return {};
  if ("identitytoken" in creds) return { ...(creds.username ? { username: creds.username } : {}), identitytoken: creds.identitytoken, serveraddress: key };
  return { username: creds.username, password: creds.password, serveraddress: key };
}

/** registrytypes.EncodeAuthConfig: base64url (RFC 4648 §5) of the JSON, empty fields left out. */
export function encodeAuthConfig(config: AuthConfig): string {
  const clean = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined && v !== ""));
  return Buffer.from(JSON.stringify(clean)).toString("base64url").padEnd(Math.ceil(Buffer.byteLength(JSON.stringify(clean)) / 3) * 4, "=");
}

/**
 * The X-Registry-Auth value for an image reference (docker/cli's
 * RetrieveAuthTokenFromImage): the stored credentials of its registry.
 *
 * @example registryAuthFor(parseReference("localhost:5000/a:1"), store) // base64url of {"username":...}
 */
export function registryAuthFor(ref: Reference | string, store: CredentialStore): string {
  const r = typeof ref === "string" ? parseReference(ref) : ref;
  return encodeAuthConfig(storedAuthConfig(store, authConfigKey(r.domain)));
}
