/**
 * readLogs with follow: what the process writes while the existing log is
 * being read comes exactly once (a CI run once saw a line twice), and a
 * line half written when the read starts comes whole, from the follower.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readLogs, secondsTextToNanos, type LogEntry } from "../../src/engine/logs.ts";
import { tempDirs } from "../helpers/temp.ts";

const tempDir = tempDirs();

function logFile(): string {
  const d = tempDir("hako-logs-");
  return join(d, "c-json.log");
}

const entry = (log: string): string => `${JSON.stringify({ log, stream: "stdout", time: new Date().toISOString() })}\n`;

async function drain(it: AsyncGenerator<LogEntry>, first: Promise<IteratorResult<LogEntry>>): Promise<string[]> {
  const out: string[] = [];
  for (let r = await first; !r.done; r = await it.next()) out.push(r.value.log);
  return out;
}

/**
 * A follower of `file` whose first entry is asked for at once (the size is
 * taken then; the file is read after), and the container's stop.
 */
function follower(file: string): { it: AsyncGenerator<LogEntry>; first: Promise<IteratorResult<LogEntry>>; stop: () => void } {
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const it = readLogs(file, { follow: true, stopped });
  return { it, first: it.next(), stop };
}

describe("readLogs", () => {
  it("follow: a line written right as the read starts comes once", async () => {
    const file = logFile();
    writeFileSync(file, entry("line1\n"));
    const { it, first, stop } = follower(file);
    appendFileSync(file, entry("line2\n"));
    setTimeout(stop, 150);
    assert.deepEqual(await drain(it, first), ["line1\n", "line2\n"]);
  });

  it("follow: a line half written when the read starts comes whole", async () => {
    const file = logFile();
    const line2 = entry("line2\n");
    writeFileSync(file, entry("line1\n") + line2.slice(0, 10));
    const { it, first, stop } = follower(file);
    appendFileSync(file, line2.slice(10));
    setTimeout(stop, 150);
    assert.deepEqual(await drain(it, first), ["line1\n", "line2\n"]);
  });

  it("follow: lines written before the container's removal come, though the file is gone", async () => {
    const file = logFile();
    writeFileSync(file, entry("line1\n"));
    const { it, first, stop } = follower(file);
    appendFileSync(file, entry("line2\n"));
    // docker-py: wait, then remove, then read the followed logs.
    stop();
    rmSync(file);
    assert.deepEqual(await drain(it, first), ["line1\n", "line2\n"]);
  });

  it("follow: across a rotation, the old file to its end, then the new one", async () => {
    const file = logFile();
    writeFileSync(file, entry("line1\n"));
    const { it, first, stop } = follower(file);
    appendFileSync(file, entry("line2\n"));
    renameSync(file, `${file}.1`);
    writeFileSync(file, entry("line3\n"));
    setTimeout(stop, 150);
    assert.deepEqual(await drain(it, first), ["line1\n", "line2\n", "line3\n"]);
  });

  it("follow: a log that does not exist yet is read once it is written", async () => {
    const file = logFile();
    const { it, first, stop } = follower(file);
    setTimeout(() => writeFileSync(file, entry("late\n")), 60);
    setTimeout(stop, 200);
    assert.deepEqual(await drain(it, first), ["late\n"]);
  });

  it("reads rotated files oldest first, then the live one", async () => {
    const file = logFile();
    writeFileSync(`${file}.2`, entry("a\n"));
    writeFileSync(`${file}.1`, entry("b\n"));
    writeFileSync(file, entry("c\n"));
    const out: string[] = [];
    for await (const e of readLogs(file)) out.push(e.log);
    assert.deepEqual(out, ["a\n", "b\n", "c\n"]);
  });

  it("without follow: the log as it was when the read started", async () => {
    const file = logFile();
    writeFileSync(file, entry("a\n") + entry("b\n"));
    const it = readLogs(file, { tail: 1 });
    const first = it.next();
    appendFileSync(file, entry("c\n"));
    assert.deepEqual(await drain(it, first), ["b\n"]);
  });
});

describe("readLogs since/until", () => {
  it("a line at `until` itself is shown, one a nanosecond later is not (moby's After)", async () => {
    const file = logFile();
    const at = (log: string, time: string): string => `${JSON.stringify({ log, stream: "stdout", time })}\n`;
    writeFileSync(file, at("a\n", "2026-11-24T15:05:45.708970886Z") + at("b\n", "2026-11-24T15:05:45.708970887Z") + at("c\n", "2026-11-24T15:05:46.000000001Z"));
    const untilNanos = secondsTextToNanos(`${Date.parse("2026-11-24T15:05:45Z") / 1000}.708970886`);
    const out: string[] = [];
    for await (const e of readLogs(file, { untilNanos })) out.push(e.log);
    assert.deepEqual(out, ["a\n"]);
  });
});
