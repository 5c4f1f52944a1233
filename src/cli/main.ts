/** hako: the docker-compatible command line, a client of hakod's API (entry point of dist/hako.cjs). */
import { errorMessage } from "../common/errors.ts";
import { runCli } from "./commands/root.ts";

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`hako: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  },
);
