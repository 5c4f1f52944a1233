/**
 * The network bench (issue 5): hakod beside dockerd through the same docker
 * CLI. `npm run bench -- network` (or BENCH_ONLY=network).
 *
 *   BENCH_NET_RUNS=15      timed runs of each run-to-exit row (interleaved none / bridge)
 *   BENCH_NET_HTTP_RUNS=10 timed `run -d` to first HTTP 200
 *   BENCH_NET_AB_ROUNDS=3  ab rounds per target (median reported)
 *   BENCH_NET_AB_N=20000   requests per ab round (`ab -n N -c 16 -k`)
 *   BENCH_DOCKERD=0        no dockerd
 *
 * Rows:
 *   run none / bridge  `docker run --rm [--network none] busybox true`, start of the
 *                      client to its exit; the difference is what networking costs
 *   run -d → 200       `docker run -d -p 127.0.0.1:PORT:80 busybox httpd` to the first
 *                      HTTP 200 on the published port (polled every 2 ms from the
 *                      client's start, and polled only once the client returned)
 *   req/s              ab against the published port and against the container's own
 *                      address; a busybox httpd on the host itself for reference
 *
 * dockerd is started by hand on its own roots and socket, with a bridge made
 * for the bench (`hkbench0`, a private /24 no host route uses), iptables on
 * and its default docker-proxy for published ports. Afterwards its bridge,
 * its DOCKER* chains and the jumps to them are removed (the bench refuses to
 * start dockerd when DOCKER chains exist already: they would be someone
 * else's). Everything is stopped by pid; results in bench/results/network-latest.json.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { listRoutes } from "../src/network/netlink.ts";
import { formatIPv4, maskOf, overlaps, parseIPv4, parseSubnet } from "../src/network/subnet.ts";
import { Cleanup, intEnv, log, onStopSignal, table } from "./common.ts";
import { DOCKER, HAKOD, IMAGE, PROJECT, run, startDockerd, startHakod, timed, unmountUnder, type Engine } from "./daemons.ts";
import { summarize, type Summary } from "./stats.ts";

const BENCH_BRIDGE = "hkbench0";
const AB = "/usr/bin/ab";
/** The container's command: a small file served by busybox httpd. */
const HTTPD = ["sh", "-c", "echo hello-from-the-bench > /tmp/index.html && exec httpd -f -p 80 -h /tmp"];
/**
 * For the throughput container: busybox httpd closes every connection
 * first, so each one leaves a TIME_WAIT socket in the container, which the
 * host's client knows nothing of; once the client's ports wrap (~14k
 * connections) its SYNs meet those and wait a 1 s retransmission, and
 * req/s collapses. No TIME_WAIT buckets in the container's namespace,
 * same on both engines.
 */
const NO_TIME_WAIT = ["--sysctl", "net.ipv4.tcp_max_tw_buckets=0"];

let stopped = false;

/** A /24 in 10.213–10.249 that overlaps no route of the host. */
function freeSubnet(): string {
  const routed = listRoutes()
    .filter((r) => r.destination !== "0.0.0.0/0")
    .map((r) => {
      const [addr, bits] = r.destination.split("/") as [string, string];
      return { base: (parseIPv4(addr) & maskOf(Number(bits))) >>> 0, prefix: Number(bits) };
    });
  for (let b = 213; b < 250; b++) {
    const candidate = parseSubnet(`10.${b}.0.0/24`);
    if (!routed.some((r) => overlaps(parseSubnet(`${formatIPv4(r.base)}/${r.prefix}`), candidate))) return `10.${b}.0.0/24`;
  }
  throw new Error("no free 10.x.0.0/24 for the bench's docker bridge");
}

/** A TCP port on 127.0.0.1 nobody listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", input });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Names of chains called DOCKER* in the nat and filter tables. */
function dockerChains(): string[] {
  return sh("iptables-save", [])
    .split("\n")
    .filter((l) => /^:DOCKER/.test(l))
    .map((l) => l.slice(1).split(" ")[0]!);
}

/**
 * Removes what dockerd left in netfilter: jumps to DOCKER* chains and rules
 * naming the bench's bridge or subnet in the built-in chains, then the
 * DOCKER* chains themselves. One restore per table.
 */
function removeDockerRules(bridge: string, subnet: string): void {
  const saved = sh("iptables-save", []);
  const out: string[] = [];
  let table = "";
  let body: string[] = [];
  const chains: string[] = [];
  const flush = (): void => {
    if (table && (body.length || chains.length)) out.push(`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...body, ...chains.map((c) => `-X ${c}`), "COMMIT");
    body = [];
    chains.length = 0;
  };
  for (const line of saved.split("\n")) {
    if (line.startsWith("*")) {
      flush();
      table = line.slice(1);
    } else if (line.startsWith(":DOCKER")) {
      chains.push(line.slice(1).split(" ")[0]!);
    } else if (line.startsWith("-A ")) {
      const chain = line.split(" ")[1]!;
      if (chain.startsWith("DOCKER")) continue; // flushed with its chain
      if (/-j DOCKER/.test(line) || line.includes(` ${bridge} `) || line.endsWith(` ${bridge}`) || line.includes(` ${subnet} `)) body.push(`-D ${line.slice(3)}`);
    }
  }
  flush();
  if (out.length) sh("iptables-restore", ["-w", "--noflush"], `${out.join("\n")}\n`);
}

/** One GET; resolves with the status, or 0 for a refused/reset connection. */
function get(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(0));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(0));
  });
}

/**
 * `run -d -p` of an httpd, timed from the client's start to the first 200 on
 * the published port, polled from the start or only once the client returned
 * (as `docker run -d … && curl` would: early connections through
 * docker-proxy can wait out a SYN retransmission).
 */
async function runToFirst200(e: Engine, port: number, pollAfterReturn: boolean): Promise<{ ms: number; returned: number; id: string }> {
  const url = `http://127.0.0.1:${port}/index.html`;
  const t0 = performance.now();
  const child = spawn(e.argv[0]!, [...e.argv.slice(1), "run", "-d", "-p", `127.0.0.1:${port}:80`, IMAGE, ...HTTPD], { env: e.env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  let code: number | null | undefined;
  let returned = Number.NaN;
  void exited.then((c) => {
    code = c;
    returned = performance.now() - t0;
  });
  for (;;) {
    if (code !== undefined && code !== 0) throw new Error(`${e.name}: run -d httpd: exit ${code}: ${stderr.trim()}`);
    if ((!pollAfterReturn || code === 0) && (await get(url)) === 200) break;
    if (performance.now() - t0 > 20_000) throw new Error(`${e.name}: no HTTP 200 on 127.0.0.1:${port} after 20 s`);
    await new Promise((r) => setTimeout(r, 2));
  }
  const ms = performance.now() - t0;
  await exited;
  return { ms, returned, id: stdout.trim() };
}

/** Requests per second of one ab round (keep-alive asked for; busybox httpd closes anyway). */
function ab(url: string, n: number): number {
  const r = spawnSync(AB, ["-q", "-n", String(n), "-c", "16", "-k", url], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`ab ${url}: exit ${r.status}: ${r.stderr.trim().split("\n").pop()}`);
  const failed = Number(/Failed requests:\s+(\d+)/.exec(r.stdout)?.[1] ?? "0");
  const non2xx = Number(/Non-2xx responses:\s+(\d+)/.exec(r.stdout)?.[1] ?? "0");
  if (failed > 0 || non2xx > 0) log(`ab ${url}: ${failed} failed, ${non2xx} non-2xx of ${n}`);
  const rps = /Requests per second:\s+([\d.]+)/.exec(r.stdout);
  if (!rps) throw new Error(`ab ${url}: no "Requests per second" in its output`);
  return Number(rps[1]);
}

function containerIp(e: Engine, id: string): string {
  const ip = run(e, ["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", id]).trim().split(" ")[0];
  if (!ip) throw new Error(`${e.name}: container ${id} has no address`);
  return ip;
}

interface EngineResults {
  runNone?: Summary;
  runBridge?: Summary;
  /** Per-run paired difference bridge − none. */
  networkCost?: Summary;
  first200?: Summary;
  /** Polling only once `run -d` returned. */
  first200AfterReturn?: Summary;
  /** The same runs: when `run -d` returned. */
  runD?: Summary;
  rpsPublished?: Summary;
  rpsDirect?: Summary;
}

async function measure(e: Engine, runs: number, httpRuns: number, abRounds: number, abN: number): Promise<EngineResults> {
  const out: EngineResults = {};
  log(`${e.name}: run-to-exit, none and bridge interleaved`);
  const none: number[] = [];
  const bridge: number[] = [];
  for (let i = 0; i < 2; i++) {
    timed(e, ["run", "--rm", "--network", "none", IMAGE, "true"]);
    timed(e, ["run", "--rm", IMAGE, "true"]);
  }
  for (let i = 0; i < runs && !stopped; i++) {
    // Alternate which goes first, so drift hits both alike.
    const pair = i % 2 === 0 ? (["none", "bridge"] as const) : (["bridge", "none"] as const);
    for (const kind of pair) {
      const ms = timed(e, ["run", "--rm", ...(kind === "none" ? ["--network", "none"] : []), IMAGE, "true"]);
      (kind === "none" ? none : bridge).push(ms);
    }
    await new Promise((r) => setImmediate(r));
  }
  out.runNone = summarize(none);
  out.runBridge = summarize(bridge);
  out.networkCost = summarize(bridge.map((b, i) => b - none[i]!));

  log(`${e.name}: run -d -p … httpd to first HTTP 200`);
  const first: number[] = [];
  const firstAfter: number[] = [];
  const returned: number[] = [];
  for (let i = 0; i < httpRuns + 1 && !stopped; i++) {
    for (const after of [false, true]) {
      const port = await freePort();
      const r = await runToFirst200(e, port, after);
      if (i > 0) {
        // the first round warms up
        (after ? firstAfter : first).push(r.ms);
        returned.push(r.returned);
      }
      run(e, ["rm", "-f", r.id]);
    }
  }
  out.first200 = summarize(first);
  out.first200AfterReturn = summarize(firstAfter);
  out.runD = summarize(returned);

  if (stopped) return out;
  log(`${e.name}: ab -n ${abN} -c 16 -k, published port and container address`);
  const port = await freePort();
  const id = run(e, ["run", "-d", ...NO_TIME_WAIT, "-p", `127.0.0.1:${port}:80`, IMAGE, ...HTTPD]).trim();
  try {
    const ip = containerIp(e, id);
    const published = `http://127.0.0.1:${port}/index.html`;
    const direct = `http://${ip}:80/index.html`;
    for (let i = 0; i < 200 && (await get(published)) !== 200; i++) await new Promise((r) => setTimeout(r, 10));
    ab(published, 1000);
    ab(direct, 1000);
    const pub: number[] = [];
    const dir: number[] = [];
    for (let i = 0; i < abRounds && !stopped; i++) {
      pub.push(ab(published, abN));
      dir.push(ab(direct, abN));
    }
    out.rpsPublished = summarize(pub);
    out.rpsDirect = summarize(dir);
  } finally {
    run(e, ["rm", "-f", id]);
  }
  return out;
}

/** A busybox httpd on the host itself (127.0.0.1): the ceiling for both. */
async function hostHttpd(tmp: string, abRounds: number, abN: number): Promise<Summary | undefined> {
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
  if (!busybox) return undefined;
  const www = path.join(tmp, "www");
  mkdirSync(www, { recursive: true });
  writeFileSync(path.join(www, "index.html"), "hello-from-the-bench\n");
  const port = await freePort();
  const child = spawn(busybox, ["httpd", "-f", "-p", `127.0.0.1:${port}`, "-h", www], { stdio: "ignore" });
  try {
    const url = `http://127.0.0.1:${port}/index.html`;
    for (let i = 0; i < 200 && (await get(url)) !== 200; i++) await new Promise((r) => setTimeout(r, 10));
    ab(url, 1000);
    const rps: number[] = [];
    for (let i = 0; i < abRounds && !stopped; i++) rps.push(ab(url, abN));
    return summarize(rps);
  } finally {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGTERM");
  }
}

function ms(s: Summary | undefined): string {
  return s ? `${s.min.toFixed(1)} / ${s.median.toFixed(1)}` : "-";
}

function rps(s: Summary | undefined): string {
  return s ? `${s.median.toFixed(0)}` : "-";
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a !== undefined && b !== undefined && b !== 0 ? `${(a / b).toFixed(2)}×` : "-";
}

export async function runNetworkBench(): Promise<number> {
  for (const [what, file] of [
    ["dist/hakod.cjs (npm run build)", HAKOD],
    ["the docker CLI", DOCKER],
    ["ab (apache2-utils)", AB],
  ] as const) {
    if (!existsSync(file)) {
      log(`bench: ${what} is missing`);
      return 2;
    }
  }
  const runs = intEnv("BENCH_NET_RUNS", 15, 1);
  const httpRuns = intEnv("BENCH_NET_HTTP_RUNS", 10, 1);
  const abRounds = intEnv("BENCH_NET_AB_ROUNDS", 3, 1);
  const abN = intEnv("BENCH_NET_AB_N", 20000, 100);
  onStopSignal("row", () => (stopped = true));
  const cleanup = new Cleanup();
  const tmp = mkdtempSync(path.join(os.tmpdir(), "hako-bench-network-"));
  cleanup.add(`remove ${tmp}`, () => {
    unmountUnder(tmp);
    rmSync(tmp, { recursive: true, force: true });
  });
  try {
    const hakod = await startHakod(tmp, cleanup);
    const archive = spawnSync(DOCKER, ["save", IMAGE], { env: hakod.engine.env, maxBuffer: 1 << 28 }).stdout;

    let dockerd: Engine | undefined;
    if (process.env.BENCH_DOCKERD !== "0") {
      const existing = dockerChains();
      if (existing.length > 0) {
        log(`bench: netfilter already has ${existing.join(", ")}: not starting a dockerd with iptables (its clean-up would touch them); docker rows skipped`);
      } else if (existsSync(`/sys/class/net/${BENCH_BRIDGE}`)) {
        log(`bench: ${BENCH_BRIDGE} exists already (another bench?); docker rows skipped`);
      } else {
        const subnet = freeSubnet();
        const bip = subnet.replace(/\.0\/24$/, ".1/24");
        const nfCall = readFileSync("/proc/sys/net/bridge/bridge-nf-call-iptables", "utf8").trim();
        sh("ip", ["link", "add", BENCH_BRIDGE, "type", "bridge"]);
        cleanup.add(`delete ${BENCH_BRIDGE}`, () => sh("ip", ["link", "del", BENCH_BRIDGE]));
        sh("ip", ["addr", "add", bip, "dev", BENCH_BRIDGE]);
        sh("ip", ["link", "set", BENCH_BRIDGE, "up"]);
        cleanup.add("restore bridge-nf-call-iptables", () => writeFileSync("/proc/sys/net/bridge/bridge-nf-call-iptables", nfCall));
        cleanup.add("remove dockerd's netfilter rules", () => removeDockerRules(BENCH_BRIDGE, subnet));
        dockerd = await startDockerd(tmp, cleanup, archive, { bridge: { name: BENCH_BRIDGE } });
      }
    }

    const results: Record<string, EngineResults> = {};
    for (const e of [hakod.engine, dockerd]) {
      if (!e || stopped) continue;
      results[e.name] = await measure(e, runs, httpRuns, abRounds, abN);
    }
    log("host: busybox httpd on 127.0.0.1");
    const host = await hostHttpd(tmp, abRounds, abN);

    const h = results.hakod ?? {};
    const d = results.dockerd ?? {};
    const rows: string[][] = [["row (docker CLI)", "unit", "hakod", "dockerd", "hakod/dockerd"]];
    const msRow = (label: string, key: keyof EngineResults): void => {
      rows.push([label, "ms min / med", ms(h[key]), ms(d[key]), ratio(h[key]?.median, d[key]?.median)]);
    };
    msRow("run --rm --network none true", "runNone");
    msRow("run --rm true (default bridge)", "runBridge");
    msRow("  network cost (bridge − none, paired)", "networkCost");
    msRow("run -d -p httpd: client returns", "runD");
    msRow("run -d -p httpd → first 200", "first200");
    msRow("  polling once run -d returned", "first200AfterReturn");
    const rpsRow = (label: string, key: keyof EngineResults): void => {
      rows.push([label, "req/s median", rps(h[key]), rps(d[key]), ratio(h[key]?.median, d[key]?.median)]);
    };
    rpsRow("ab via 127.0.0.1:PORT (published)", "rpsPublished");
    rpsRow("ab via container address", "rpsDirect");
    rows.push([
      "  published / direct",
      "ratio",
      ratio(h.rpsPublished?.median, h.rpsDirect?.median),
      ratio(d.rpsPublished?.median, d.rpsDirect?.median),
      "",
    ]);
    if (host) {
      rows.push(["ab host busybox httpd 127.0.0.1", "req/s median", rps(host), "", ""]);
      rows.push(["  published / host httpd", "ratio", ratio(h.rpsPublished?.median, host.median), ratio(d.rpsPublished?.median, host.median), ""]);
    }
    log("");
    process.stdout.write(`${table(rows, new Set([2, 3, 4]))}\n`);
    const json = { date: new Date().toISOString(), runs, httpRuns, abRounds, abN, results, hostHttpd: host };
    mkdirSync(path.join(PROJECT, "bench/results"), { recursive: true });
    writeFileSync(path.join(PROJECT, "bench/results/network-latest.json"), `${JSON.stringify(json, null, 2)}\n`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(json, null, 2)}\n`);
    return stopped ? 130 : 0;
  } finally {
    await cleanup.run();
  }
}

if (require.main === module) {
  void runNetworkBench().then((code) => (process.exitCode = code));
}
