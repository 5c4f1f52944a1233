/** hakod: the daemon serving the Docker Engine API (grows with the image and engine issues). */
import { VERSION } from "../common/version.ts";

const args = process.argv.slice(2);
if (args[0] === "--version" || args[0] === "-v") {
  process.stdout.write(`hakod version ${VERSION}\n`);
} else {
  process.stderr.write("hakod: the API server arrives with the image issue (#3); for now: hakod --version\n");
  process.exitCode = 1;
}
