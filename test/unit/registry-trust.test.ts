/**
 * trustedCas: hakod's HTTPS requests trust node's roots plus the file
 * NODE_EXTRA_CA_CERTS names, read when first needed (the launcher starts
 * node without the variable); without it, node's defaults.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { rootCertificates } from "node:tls";
import { trustedCas } from "../../src/image/registry/trust.ts";

const dir = mkdtempSync(join(tmpdir(), "hako-trust-"));
const saved = process.env.NODE_EXTRA_CA_CERTS;
after(() => {
  if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
  else process.env.NODE_EXTRA_CA_CERTS = saved;
  rmSync(dir, { recursive: true, force: true });
});

test("no NODE_EXTRA_CA_CERTS: node's defaults", () => {
  delete process.env.NODE_EXTRA_CA_CERTS;
  assert.deepEqual(trustedCas(), {});
});

test("NODE_EXTRA_CA_CERTS: the bundled roots and the file's certificates", () => {
  const file = join(dir, "extra.pem");
  // The content is passed on as it is; node's TLS parses it.
  writeFileSync(file, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  process.env.NODE_EXTRA_CA_CERTS = file;
  const { ca } = trustedCas();
  assert.equal(ca?.length, rootCertificates.length + 1);
  assert.ok(ca!.at(-1)!.includes("BEGIN CERTIFICATE"));
  assert.equal(trustedCas().ca, ca, "read once");
});

test("an unreadable file: a warning and node's defaults, as node does", async () => {
  process.env.NODE_EXTRA_CA_CERTS = join(dir, "missing.pem");
  const warned = new Promise<Error>((resolve) => process.once("warning", resolve));
  assert.deepEqual(trustedCas(), {});
  assert.match((await warned).message, /Ignoring extra certs from .*missing\.pem/);
});
