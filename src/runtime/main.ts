/** Entry point of the hako-runtime program. */
import { main } from "./cli/main.ts";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`hako-runtime: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
