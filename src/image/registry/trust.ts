/**
 * The CA certificates hakod's own HTTPS requests (registries, URL imports)
 * trust: node's bundled roots plus those of the file NODE_EXTRA_CA_CERTS
 * names. Node 20 parses that file at start-up, before any JavaScript:
 * ~45 ms and ~2 MiB for a daemon that may never make a TLS connection.
 * hako's launchers start node without the variable and put it back into
 * the environment (scripts/launch.cjs); it is read here instead, once,
 * when the first HTTPS request needs it. Started some other way, node has
 * read it already and the certificates are simply trusted twice.
 */
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";

let cached: { file: string | undefined; ca: string[] | undefined } | undefined;

/** `{ ca }` for an HTTPS agent or request; empty (node's defaults) without NODE_EXTRA_CA_CERTS. */
export function trustedCas(): { ca?: string[] } {
  const file = process.env.NODE_EXTRA_CA_CERTS || undefined;
  if (!cached || cached.file !== file) {
    let ca: string[] | undefined;
    if (file) {
      try {
        ca = [...rootCertificates, readFileSync(file, "utf8")];
      } catch (err) {
        // As node: a warning, and the bundled roots only.
        process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
      }
    }
    cached = { file, ca };
  }
  return cached.ca ? { ca: cached.ca } : {};
}
