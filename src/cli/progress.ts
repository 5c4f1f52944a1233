/**
 * Shows a jsonmessage stream (pull, push, load, build) the way the docker
 * CLI does (moby pkg/jsonmessage DisplayJSONMessagesStream): on a terminal
 * one line per layer id, rewritten in place with cursor movement, with a
 * progress bar when the terminal is wider than 110 columns; elsewhere
 * plain lines, and progress updates left out. An errorDetail ends the
 * stream with an error.
 */
import { HakoError } from "../common/errors.ts";
import { errorCodeForStatus } from "../api/errors.ts";
import type { JsonMessage } from "./client.ts";
import { humanSize } from "./output.ts";

/** A failure the daemon reported inside the stream. */
export class JsonMessageError extends HakoError {
  constructor(message: string, code?: number) {
    super(code ? errorCodeForStatus(code) : "ERR_INTERNAL", message);
  }
}

type Progress = NonNullable<JsonMessage["progressDetail"]>;

const ERASE_LINE = "\x1b[2K";
const up = (n: number): string => (n > 0 ? `\x1b[${n}A` : "");
const down = (n: number): string => (n > 0 ? `\x1b[${n}B` : "");

/** Go's time.Duration.String() of a duration rounded to seconds. */
function goDuration(ms: number): string {
  let s = Math.round(ms / 1000);
  if (s === 0) return "0s";
  const neg = s < 0;
  s = Math.abs(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const text = h > 0 ? `${h}h${m}m${sec}s` : m > 0 ? `${m}m${sec}s` : `${sec}s`;
  return neg ? `-${text}` : text;
}

/**
 * A progress detail as jsonmessage's JSONProgress.String() renders it:
 * `[=====>      ]  12.3MB/45.6MB 3s` (bar above 110 columns, time left above 50).
 */
export function renderProgress(p: Progress, width: number, nowMs: number = Date.now()): string {
  const current = p.current ?? 0;
  const total = p.total ?? 0;
  if (current <= 0 && total <= 0) return "";
  if (total <= 0) return p.units ? `${current} ${p.units}` : humanSize(current).padStart(8);
  const percentage = Math.min(Math.trunc(Math.trunc((current / total) * 100) / 2), 50);
  let bar = "";
  if (width > 110) bar = `[${"=".repeat(percentage)}>${" ".repeat(Math.max(50 - percentage, 0))}] `;
  let numbers = "";
  if (!p.hidecounts) {
    if (!p.units) numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
    else numbers = current > total ? `${current} ${p.units}` : `${current}/${total} ${p.units}`;
  }
  let timeLeft = "";
  if (width > 50 && current > 0 && p.start && p.start > 0 && percentage < 50) {
    const fromStart = nowMs - p.start * 1000;
    const perEntry = fromStart / current;
    timeLeft = ` ${goDuration((total - current) * perEntry)}`;
  }
  return bar + numbers + timeLeft;
}

/** The error a message carries, if any. */
function messageError(jm: JsonMessage): JsonMessageError | undefined {
  if (jm.errorDetail && (jm.errorDetail.message || jm.errorDetail.code)) return new JsonMessageError(jm.errorDetail.message ?? "", jm.errorDetail.code);
  if (jm.error) return new JsonMessageError(jm.error);
  return undefined;
}

function rfc3339NanoFixed(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const iso = new Date(ms).toISOString(); // 2006-01-02T15:04:05.000Z
  return `${iso.slice(0, 19)}.${String(nanos % 1_000_000_000n).padStart(9, "0")}Z`;
}

/** One message as jsonmessage's Display writes it ("" when it is skipped). */
export function renderMessage(jm: JsonMessage, isTerminal: boolean, width: number, nowMs: number = Date.now()): string {
  let out = "";
  let endl = "";
  const progress = jm.progressDetail ? renderProgress(jm.progressDetail, width, nowMs) : "";
  if (isTerminal && !jm.stream && jm.progressDetail) {
    out += `${ERASE_LINE}\r`;
    endl = "\r";
  } else if (jm.progressDetail && progress !== "") {
    return ""; // no progress bars off a terminal
  }
  if (jm.timeNano) out += `${rfc3339NanoFixed(BigInt(jm.timeNano))} `;
  else if (jm.time) out += `${rfc3339NanoFixed(BigInt(jm.time) * 1_000_000_000n)} `;
  if (jm.id) out += `${jm.id}: `;
  if (jm.from) out += `(from ${jm.from}) `;
  if (jm.progressDetail && isTerminal) out += `${jm.status ?? ""} ${progress}${endl}`;
  else if (jm.progress) out += `${jm.status ?? ""} ${jm.progress}${endl}`;
  else if (jm.stream) out += `${jm.stream}${endl}`;
  else out += `${jm.status ?? ""}${endl}\n`;
  return out;
}

export interface DisplayOptions {
  /** Where to write (process.stdout by default). */
  out?: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** Defaults to out.isTTY. */
  isTerminal?: boolean;
  /** Terminal width; out.columns, else 200 (as docker assumes). */
  width?: number;
  /** Receives messages with `aux` (image IDs, push digests); they are not shown. */
  onAux?: (message: JsonMessage) => void;
  /** Clock for the time-left estimate (tests). */
  now?: () => number;
}

/**
 * Renders `messages` until the stream ends; throws JsonMessageError at the
 * first message that carries an error (after what came before it was shown).
 *
 * @example await displayJsonMessages(client.stream("POST", "/images/create", { query }), { onAux })
 */
export async function displayJsonMessages(messages: AsyncIterable<JsonMessage> | Iterable<JsonMessage>, options: DisplayOptions = {}): Promise<void> {
  const out = options.out ?? process.stdout;
  const isTerminal = options.isTerminal ?? out.isTTY === true;
  const width = options.width ?? (isTerminal && out.columns ? out.columns : 200);
  const now = options.now ?? Date.now;
  let ids = new Map<string, number>();
  for await (const jm of messages) {
    if (jm.aux !== undefined && jm.aux !== null) {
      options.onAux?.(jm);
      continue;
    }
    const err = messageError(jm);
    let diff = 0;
    let text = "";
    if (jm.id && (jm.progressDetail || jm.progress)) {
      let line = ids.get(jm.id);
      if (line === undefined) {
        line = ids.size;
        ids.set(jm.id, line);
        if (isTerminal) text += "\n";
      }
      diff = ids.size - line;
      if (isTerminal) text += up(diff);
    } else {
      // Output outside the per-id block starts a new block (docker: pull -a, several tags).
      ids = new Map();
    }
    if (!err) text += renderMessage(jm, isTerminal, width, now());
    if (jm.id && isTerminal) text += down(diff);
    if (text) out.write(text);
    if (err) throw err;
  }
}
