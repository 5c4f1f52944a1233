/**
 * The deleter of hakod's trash: `hako-shim trash DIR` (native/src/trash.c)
 * deletes what src/common/trash.ts renames into DIR, at idle priority, so
 * the files of a removed container cost the event loop nothing. Should it
 * die, the daemon deletes in-process again.
 */
import { spawn } from "node:child_process";
import { Trash } from "../common/trash.ts";

/** Starts the deleter for `dir` and hands it the trash there; returns its stop. */
export function startTrashDeleter(helper: string, dir: string, warn: (why: string) => void): () => void {
  const trash = Trash.at(dir);
  const child = spawn(helper, ["trash", trash.dir], { stdio: ["ignore", "ignore", "inherit"] });
  child.unref();
  let stopped = false;
  trash.delegate(true);
  child.on("error", (err) => {
    trash.delegate(false);
    warn(err.message);
  });
  child.on("exit", (code, signal) => {
    trash.delegate(false);
    if (!stopped) warn(`the trash deleter exited (${signal ?? code})`);
  });
  return () => {
    stopped = true;
    trash.delegate(false);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
}
