import type { RuntimeCommand } from "./command.ts";

export const bundleFlags = [
  { name: "bundle", short: "b", type: "string", value: "path", help: "path to the root of the bundle directory", default: "." },
  { name: "pid-file", type: "string", value: "path", help: "file to write the process id to" },
  { name: "console-socket", type: "string", value: "path", help: "unix socket that receives the pty master (SCM_RIGHTS)" },
  { name: "preserve-fds", type: "int", value: "n", help: "pass this many additional fds (from 3) to the container", default: 0 },
  { name: "no-pivot", type: "bool", help: "accepted for runc compatibility; pivot_root is always used with a mount namespace", hidden: true },
  { name: "no-new-keyring", type: "bool", help: "accepted for runc compatibility", hidden: true },
] as const satisfies RuntimeCommand["flags"];

export const create: RuntimeCommand = {
  name: "create",
  usage: "create [flags] <container-id>",
  summary: "create a container from a bundle; it waits for start",
  flags: [...bundleFlags],
  args: [1, 1],
  async run({ runtime }, flags, [id]) {
    await runtime.create(id!, {
      bundle: flags.bundle as string,
      pidFile: flags["pid-file"] as string | undefined,
      consoleSocket: flags["console-socket"] as string | undefined,
      preserveFds: flags["preserve-fds"] as number,
    });
    return 0;
  },
};
