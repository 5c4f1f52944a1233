import { readFileSync } from "node:fs";
import { InvalidArgumentError } from "../../common/errors.ts";
import type { Process } from "../../spec/oci-runtime.ts";
import type { RuntimeCommand } from "./command.ts";

export const exec: RuntimeCommand = {
  name: "exec",
  usage: "exec [flags] <container-id> <command> [args...]",
  summary: "run a new process inside a running container",
  flags: [
    { name: "process", short: "p", type: "string", value: "path", help: "a process.json to run instead of the command line" },
    { name: "tty", short: "t", type: "bool", help: "allocate a pseudo-terminal" },
    { name: "detach", short: "d", type: "bool", help: "return once the process started" },
    { name: "cwd", type: "string", value: "path", help: "working directory in the container" },
    { name: "env", short: "e", type: "list", value: "KEY=VALUE", help: "add an environment variable" },
    { name: "user", short: "u", type: "string", value: "uid[:gid]", help: "run as this user" },
    { name: "additional-gids", short: "g", type: "list", value: "gid", help: "additional groups" },
    { name: "cap", short: "c", type: "list", value: "CAP", help: "add a capability" },
    { name: "no-new-privs", type: "bool", help: "set no_new_privileges" },
    { name: "pid-file", type: "string", value: "path", help: "file to write the process id to" },
    { name: "console-socket", type: "string", value: "path", help: "unix socket that receives the pty master" },
    { name: "preserve-fds", type: "int", value: "n", help: "pass this many additional fds (from 3)", default: 0 },
  ],
  args: [1, -1],
  stopAtFirstArg: true,
  async run({ runtime }, flags, [id, ...command]) {
    const record = runtime.store.load(id!);
    let proc: Process;
    if (flags.process) {
      try {
        proc = JSON.parse(readFileSync(flags.process as string, "utf8")) as Process;
      } catch (e) {
        throw new InvalidArgumentError(`cannot read process ${flags.process as string}: ${(e as Error).message}`);
      }
    } else {
      if (command.length === 0) throw new InvalidArgumentError("exec needs a command (or --process)");
      // As runc: the container's own process is the template; the command line overrides.
      const base = record.spec.process ?? { cwd: "/", user: { uid: 0, gid: 0 } };
      proc = { ...structuredClone(base), args: command, terminal: flags.tty as boolean };
      if (flags.cwd) proc.cwd = flags.cwd as string;
      proc.env = [...(proc.env ?? []), ...(flags.env as string[])];
      if (flags.user) {
        const [uid, gid] = (flags.user as string).split(":");
        if (!/^\d+$/.test(uid!) || (gid !== undefined && !/^\d+$/.test(gid))) {
          throw new InvalidArgumentError(`--user "${flags.user as string}" must be uid[:gid] with numbers`);
        }
        proc.user = { ...proc.user, uid: Number(uid), gid: gid !== undefined ? Number(gid) : 0 };
      }
      const gids = (flags["additional-gids"] as string[]).map(Number);
      if (gids.length) proc.user = { ...proc.user, additionalGids: gids };
      const caps = flags.cap as string[];
      if (caps.length && proc.capabilities) {
        const add = (list?: string[]): string[] => [...new Set([...(list ?? []), ...caps])];
        proc.capabilities = {
          ...proc.capabilities,
          bounding: add(proc.capabilities.bounding),
          effective: add(proc.capabilities.effective),
          permitted: add(proc.capabilities.permitted),
        };
      }
      if (flags["no-new-privs"]) proc.noNewPrivileges = true;
    }
    return runtime.exec(id!, proc, {
      detach: flags.detach as boolean,
      pidFile: flags["pid-file"] as string | undefined,
      consoleSocket: flags["console-socket"] as string | undefined,
      preserveFds: flags["preserve-fds"] as number,
    });
  },
};
