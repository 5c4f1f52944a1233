/**
 * A throw-away hakod whose default bridge and netfilter chains carry test
 * names (HAKO_DEFAULT_BRIDGE, HAKO_NETFILTER_PREFIX), so a hakod running on
 * this machine never meets them, and the teardown that leaves no link or
 * rule of the test behind.
 */
import { spawnSync } from "node:child_process";
import { Netfilter } from "../../src/network/netfilter.ts";
import { listLinks } from "../../src/network/netlink.ts";
import { startDaemon, type TestDaemon } from "./daemon.ts";

export interface NetworkDaemonOptions {
  /** The name hakod gives its default bridge. */
  defaultBridge: string;
  /** The prefix of hakod's iptables chains. */
  prefix: string;
  execRoot: string;
  /** Reuse a daemon's directory (restart tests). */
  dir?: string;
}

/** startDaemon with the test's bridge and chain names; the environment is restored before it returns. */
export async function startNetworkDaemon(options: NetworkDaemonOptions): Promise<TestDaemon> {
  // The daemon reads these at start-up only; unset at once so no later child inherits them.
  process.env.HAKO_DEFAULT_BRIDGE = options.defaultBridge;
  process.env.HAKO_NETFILTER_PREFIX = options.prefix;
  try {
    return await startDaemon({ dir: options.dir, extraArgs: ["--exec-root", options.execRoot] });
  } finally {
    delete process.env.HAKO_DEFAULT_BRIDGE;
    delete process.env.HAKO_NETFILTER_PREFIX;
  }
}

/**
 * Stops the daemon (it force-removes its containers first), then deletes
 * every bridge of `bridges` and of the daemon's networks that is still
 * there, and the chains under `prefix`.
 */
export async function stopNetworkDaemon(d: TestDaemon | undefined, bridges: Set<string>, prefix: string): Promise<void> {
  if (d) {
    const list = await d.request("GET", "/networks").catch(() => undefined);
    for (const n of list?.status === 200 ? list.json<{ Id: string }[]>() : []) bridges.add(`br-${n.Id.slice(0, 12)}`);
    await d.stop();
  }
  for (const br of bridges) if (listLinks().some((l) => l.name === br)) spawnSync("ip", ["link", "del", br], { stdio: "ignore" });
  await new Netfilter({ prefix }).teardown().catch(() => {});
}
