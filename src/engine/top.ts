/**
 * docker top: like dockerd, run ps on the host with the user's options and
 * keep the rows whose PID belongs to the container (not a hot path: one
 * process per call is what Docker does too).
 */
import { execFile } from "node:child_process";
import { InvalidArgumentError, InternalError } from "../common/errors.ts";

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/** Splits ps output into columns: the last column (the command) keeps its spaces. */
export function parsePs(output: string, pids: Set<number>): TopResult {
  const lines = output.split("\n").filter((l) => l.trim());
  if (lines.length === 0) throw new InternalError("ps printed nothing");
  const titles = lines[0]!.trim().split(/\s+/);
  const pidCol = titles.indexOf("PID");
  if (pidCol < 0) throw new InvalidArgumentError(`Couldn't find PID field in ps output`);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    const row = [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(" ")];
    if (pids.has(Number(row[pidCol]))) processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}

export function top(pids: number[], psArgs = "-ef"): Promise<TopResult> {
  const args = psArgs.trim() ? psArgs.trim().split(/\s+/) : [];
  return new Promise((resolve, reject) => {
    execFile("ps", args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new InternalError(`Error running ps: ${stderr.trim() || err.message}`));
        return;
      }
      try {
        resolve(parsePs(stdout, new Set(pids)));
      } catch (e) {
        reject(e);
      }
    });
  });
}
