/**
 * hako logs (docker/cli cli/command/container/logs.go): GET
 * /containers/{id}/json for Tty, then GET /containers/{id}/logs — raw with
 * a TTY, else demultiplexed to stdout and stderr — until the stream ends
 * (with -f, when the container stops). --since/--until take docker's
 * forms: RFC 3339 dates, Unix timestamps, or durations ("42m") before now.
 */
import { copyRaw, demuxTo } from "../../hijack.ts";
import type { CliCommand } from "../command.ts";
import { containerPath, type ContainerInspect } from "./common.ts";
import { parseGoDuration } from "./parse.ts";

const p2 = (n: number): string => String(n).padStart(2, "0");

function offsetOf(date: Date): number {
  return -date.getTimezoneOffset();
}

/**
 * moby api/types/time GetTimestamp: a Go duration (before `now`), an
 * RFC 3339-like time (local when no zone is given), or a Unix timestamp,
 * as "seconds[.nanoseconds]".
 *
 * @example getTimestamp("10m", now) // String(Math.floor(now/1000) - 600)
 */
export function getTimestamp(value: string, now: number = Date.now()): string {
  if (value !== "0") {
    try {
      const d = parseGoDuration(value);
      return String(Math.floor((now - d / 1e6) / 1000));
    } catch {
      // not a duration
    }
  }
  const parseInLocation = !/[zZ+]/.test(value) && value.split("-").length - 1 !== 3;
  let m: RegExpExecArray | null;
  let ms: number | undefined;
  let nanos = 0;
  const dateTime =
    /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/;
  if ((m = dateTime.exec(value)) !== null) {
    const [, y, mo, d, h, mi, s, frac, zone] = m;
    const hasT = value.includes("T");
    const valid = (hasT ? h !== undefined : h === undefined) && (value.includes(".") ? frac !== undefined : true) && (parseInLocation ? zone === undefined : zone !== undefined);
    if (valid) {
      nanos = frac ? Number(frac.padEnd(9, "0")) : 0;
      const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0));
      let offsetMin: number;
      if (zone === undefined) offsetMin = offsetOf(new Date(now));
      else if (zone === "Z" || zone === "z") offsetMin = 0;
      else offsetMin = (zone.startsWith("-") ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
      ms = utc - offsetMin * 60_000;
    }
  }
  if (ms === undefined) {
    if (value.includes("-")) throw new Error(`parsing time ${JSON.stringify(value)}: cannot parse`);
    if (!/^[+-]?\d+(\.\d+)?$/.test(value)) throw new Error(`failed to parse value as time or duration: ${JSON.stringify(value)}`);
    return value;
  }
  return `${Math.floor(ms / 1000)}.${String(nanos).padStart(9, "0")}`;
}

/** Go's time.Format("2006-01-02T15:04:05") of a local time (tests). */
export function localIso(date: Date): string {
  return `${date.getFullYear()}-${p2(date.getMonth() + 1)}-${p2(date.getDate())}T${p2(date.getHours())}:${p2(date.getMinutes())}:${p2(date.getSeconds())}`;
}

export const logs: CliCommand = {
  name: "logs",
  usage: "[OPTIONS] CONTAINER",
  summary: "Fetch the logs of a container",
  args: [1, 1],
  flags: [
    { name: "details", type: "bool", help: "Show extra details provided to logs" },
    { name: "follow", short: "f", type: "bool", help: "Follow log output" },
    { name: "since", type: "string", value: "string", help: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: "tail", short: "n", type: "string", value: "string", default: "all", help: 'Number of lines to show from the end of the logs (default "all")' },
    { name: "timestamps", short: "t", type: "bool", help: "Show timestamps" },
    { name: "until", type: "string", value: "string", help: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
  ],
  async run(ctx, flags, args) {
    const client = ctx.client();
    const c = await client.json<ContainerInspect>("GET", `${containerPath(args[0]!)}/json`);
    const now = Date.now();
    const since = flags.since as string | undefined;
    const until = flags.until as string | undefined;
    let sinceTs: string | undefined;
    let untilTs: string | undefined;
    try {
      sinceTs = since ? getTimestamp(since, now) : undefined;
    } catch (err) {
      throw new Error(`invalid value for "since": ${(err as Error).message}`);
    }
    try {
      untilTs = until ? getTimestamp(until, now) : undefined;
    } catch (err) {
      throw new Error(`invalid value for "until": ${(err as Error).message}`);
    }
    const res = await client.request("GET", `${containerPath(c.Id)}/logs`, {
      query: {
        details: flags.details === true ? "1" : undefined,
        follow: flags.follow === true ? "1" : undefined,
        since: sinceTs,
        stderr: "1",
        stdout: "1",
        tail: flags.tail as string,
        timestamps: flags.timestamps === true ? "1" : undefined,
        until: untilTs,
      },
    });
    if (c.Config?.Tty) await copyRaw(res, ctx.stdout);
    else await demuxTo(res, ctx.stdout, process.stderr);
    return 0;
  },
};
