/**
 * What the network tests need on the real kernel: a reason to skip, network
 * namespaces held by `unshare --net sleep` children (the "containers" of the
 * driver and service tests), commands run inside them, a 10.x subnet and a
 * 127.0.0.1 port nobody uses, and the iptables lines a leftover check reads.
 * No node:test hook is registered here: each file calls cleanup() from its
 * own after(), so the helper stays importable outside a test run.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readlinkSync } from "node:fs";
import net from "node:net";
import { helperPath } from "../../src/native/shim.ts";
import { listRoutes } from "../../src/network/netlink.ts";
import { formatSubnet, overlaps, parseSubnet } from "../../src/network/subnet.ts";

/**
 * Why a kernel network test cannot run here, or undefined: it needs root
 * (`rootFor` says for what), the built hako-shim and every command named.
 */
export function networkSkipReason(rootFor: string, commands: string[]): string | undefined {
  if (process.getuid?.() !== 0) return `needs root (${rootFor})`;
  try {
    if (!existsSync(helperPath())) return "hako-shim is not built";
  } catch {
    return "hako-shim is not built (npm run build)";
  }
  for (const cmd of commands) {
    if (spawnSync("sh", ["-c", `command -v ${cmd}`]).status !== 0) return `${cmd} is not installed`;
  }
  return undefined;
}

function running(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/**
 * The processes a test file starts in network namespaces: the namespace
 * holders and what runs inside them. cleanup() kills them all by pid.
 */
export class NetnsHolders {
  private readonly children: ChildProcess[] = [];

  /** Keeps a child started elsewhere, so cleanup() kills it too. */
  track(child: ChildProcess): ChildProcess {
    this.children.push(child);
    return child;
  }

  /** A fresh network namespace held by a sleeping child; resolves to the holder's pid once its netns differs from ours. */
  async newNetns(): Promise<number> {
    const child = this.track(spawn("unshare", ["--net", "sleep", "120"], { stdio: "ignore" }));
    const ours = readlinkSync("/proc/self/ns/net");
    for (let i = 0; i < 200; i++) {
      try {
        if (readlinkSync(`/proc/${child.pid}/ns/net`) !== ours) return child.pid!;
      } catch {
        /* not started yet */
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`unshare --net (pid ${child.pid}) did not make a namespace within 1 s`);
  }

  /** A long-running process inside the namespace of `pid` (a server, say), killed in cleanup(). */
  inNetns(pid: number, args: string[]): ChildProcess {
    return this.track(spawn("nsenter", ["-t", String(pid), "-n", ...args], { stdio: "ignore" }));
  }

  /** SIGKILL to one of ours, resolved once it has exited (a "container" that stops). */
  kill(pid: number): Promise<void> {
    const child = this.children.find((c) => c.pid === pid);
    if (!child || !running(child)) return Promise.resolve();
    return new Promise((resolve) => {
      child.once("exit", () => resolve());
      process.kill(pid, "SIGKILL");
    });
  }

  /** SIGKILL to every child still running; their namespaces go with the holders. */
  cleanup(): void {
    for (const child of this.children) {
      if (!running(child)) continue;
      try {
        process.kill(child.pid!, "SIGKILL");
      } catch {
        // exited between the check and the kill
      }
    }
  }
}

/** Runs a command to completion inside the network namespace of `pid`; stdout and stderr together. */
export function nsExec(pid: number, args: string[]): { status: number | null; out: string } {
  const r = spawnSync("nsenter", ["-t", String(pid), "-n", ...args], { encoding: "utf8", timeout: 10_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** A 10.x.y.0/24 that no host route (but the default) and none of `taken` overlaps. */
export function freeSubnet(taken: string[] = []): string {
  const routes = listRoutes().filter((r) => !r.destination.endsWith("/0"));
  for (;;) {
    const [a, b] = randomBytes(2);
    const s = parseSubnet(`10.${a}.${b}.0/24`);
    if (routes.some((r) => overlaps(s, parseSubnet(r.destination)))) continue;
    if (taken.some((t) => overlaps(s, parseSubnet(t)))) continue;
    return formatSubnet(s);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The iptables-save lines naming any of `words` (a chain prefix, a bridge, a subnet): what a test must not leave behind. */
export function ruleLinesMentioning(words: string[]): string[] {
  const save = spawnSync("iptables-save", [], { encoding: "utf8" }).stdout;
  return save.split("\n").filter((l) => words.some((w) => l.includes(w)));
}
