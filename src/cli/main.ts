/** hako: the docker-compatible command line (a client of hakod's API; grows with the engine). */
import { VERSION } from "../common/version.ts";

const args = process.argv.slice(2);
if (args[0] === "--version" || args[0] === "-v" || args[0] === "version") {
  process.stdout.write(`hako version ${VERSION}\n`);
} else {
  process.stderr.write("hako: the container commands arrive with the engine (issue #4); for now: hako --version, and hako-runtime for OCI bundles\n");
  process.exitCode = 1;
}
