import type { RuntimeCommand } from "./command.ts";

export const list: RuntimeCommand = {
  name: "list",
  usage: "list [flags]",
  summary: "list the containers this runtime knows",
  flags: [
    { name: "format", short: "f", type: "string", value: "table|json", help: "output format", default: "table" },
    { name: "quiet", short: "q", type: "bool", help: "print only the ids" },
  ],
  args: [0, 0],
  run({ runtime, out }, flags) {
    const all = runtime.list();
    if (flags.quiet) {
      for (const c of all) out(`${c.id}\n`);
    } else if (flags.format === "json") {
      out(`${JSON.stringify(all.map((c) => ({ ociVersion: c.ociVersion, id: c.id, pid: c.pid ?? 0, status: c.status, bundle: c.bundle, rootfs: c.rootfs, created: c.created, owner: "root" })))}\n`);
    } else {
      const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"], ...all.map((c) => [c.id, String(c.pid ?? 0), c.status, c.bundle, c.created, "root"])];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) out(`${r.map((cell, i) => cell.padEnd(widths[i]!)).join("   ").trimEnd()}\n`);
    }
    return 0;
  },
};
