/**
 * hakod's networking at start-up: the NetworkService over the data root
 * with the embedded DNS resolver listening on every user network's
 * gateway, then (once the engine knows which containers still run) a
 * reconcile. A failure to reconcile (no iptables, no helper) is logged,
 * never fatal: the API still serves everything else, and each network
 * operation reports its own error.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import type { Logger } from "../api/context.ts";
import { errorMessage } from "../common/errors.ts";
import { DEFAULT_DATA_ROOT } from "../daemon/config.ts";
import { DnsResolver } from "./dns.ts";
import { NetworkService } from "./service.ts";

export interface NetworkSetupOptions {
  dataRoot: string;
  log: Logger;
  /**
   * The default bridge and netfilter chain prefix. HAKO_DEFAULT_BRIDGE and
   * HAKO_NETFILTER_PREFIX in the environment override the defaults (hako0,
   * HAKO): test daemons must not share hakod's bridge or rules.
   */
  defaultBridge?: string;
  chainPrefix?: string;
}

/**
 * The default bridge and chain prefix of a daemon: hako0 and HAKO for
 * /var/lib/hako; a daemon on another data root (a test's, a second hakod)
 * gets names of its own (hk-<hash>, HK<HASH>) so two daemons never share
 * a bridge with two address pools, nor each other's rules.
 */
export function defaultNetworkNames(dataRoot: string): { bridge: string; chainPrefix: string; own: boolean } {
  if (path.resolve(dataRoot) === DEFAULT_DATA_ROOT) return { bridge: "hako0", chainPrefix: "HAKO", own: false };
  const h = createHash("sha256").update(path.resolve(dataRoot)).digest("hex").slice(0, 8);
  return { bridge: `hk-${h}`, chainPrefix: `HK${h.toUpperCase()}`, own: true };
}

export function createNetworkService(opts: NetworkSetupOptions): NetworkService {
  const dns = new DnsResolver({ log: opts.log });
  const names = defaultNetworkNames(opts.dataRoot);
  const defaultBridge = opts.defaultBridge ?? process.env.HAKO_DEFAULT_BRIDGE ?? names.bridge;
  const chainPrefix = opts.chainPrefix ?? process.env.HAKO_NETFILTER_PREFIX ?? names.chainPrefix;
  return new NetworkService({
    dataRoot: opts.dataRoot,
    observer: dns,
    ...(defaultBridge ? { defaultBridge } : {}),
    ...(chainPrefix ? { chainPrefix } : {}),
  });
}

/** Reconciles with the containers still running (their init's pid); logs instead of failing. */
export async function reconcileNetworks(service: NetworkService, live: Array<{ id: string; pid: number }>, log: Logger): Promise<void> {
  try {
    await service.reconcile(live);
  } catch (err) {
    log.warn("network: reconcile at start-up failed", { error: errorMessage(err) });
  }
}

/** At shutdown: DNS stops; a daemon on its own data root also removes its unused default bridge and chains. */
export async function shutdownNetworks(service: NetworkService, dataRoot: string, log: Logger): Promise<void> {
  try {
    await service.shutdown({ removeUnused: defaultNetworkNames(dataRoot).own });
  } catch (err) {
    log.warn("network: clean-up at shutdown failed", { error: errorMessage(err) });
  }
}
