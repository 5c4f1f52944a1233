import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ConflictError } from "../../common/errors.ts";
import { defaultSpec } from "../spec-defaults.ts";
import type { RuntimeCommand } from "./command.ts";

export const spec: RuntimeCommand = {
  name: "spec",
  usage: "spec [flags]",
  summary: "write a default config.json into the bundle",
  flags: [
    { name: "bundle", short: "b", type: "string", value: "path", help: "the bundle directory", default: "." },
    { name: "rootless", type: "bool", help: "a config for an unprivileged user (user namespace)" },
  ],
  args: [0, 0],
  run(_ctx, flags) {
    const file = path.join(flags.bundle as string, "config.json");
    if (existsSync(file)) throw new ConflictError(`File ${file} exists. Remove it first`);
    writeFileSync(file, `${JSON.stringify(defaultSpec({ rootless: flags.rootless as boolean }), null, "\t")}\n`);
    return 0;
  },
};
