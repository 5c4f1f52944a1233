/**
 * OCI hooks run from the runtime namespace: each gets the container state
 * on stdin and must exit 0 within its timeout.
 */
import { spawn } from "node:child_process";
import { InternalError } from "../common/errors.ts";
import type { Hook, State } from "../spec/oci-runtime.ts";

export async function runHook(hook: Hook, state: State, stage: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const args = hook.args?.length ? hook.args : [hook.path];
    const child = spawn(hook.path, args.slice(1), {
      argv0: args[0],
      env: Object.fromEntries((hook.env ?? []).map((e) => splitEnv(e))),
      stdio: ["pipe", "inherit", "pipe"],
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-2000)));
    const timer = hook.timeout && hook.timeout > 0
      ? setTimeout(() => {
          child.kill("SIGKILL");
          reject(new InternalError(`${stage} hook ${hook.path} timed out after ${hook.timeout}s`));
        }, hook.timeout * 1000)
      : undefined;
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new InternalError(`${stage} hook ${hook.path}: ${err.message}`, { cause: err }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else {
        const why = signal ? `was killed by ${signal}` : `exited with status ${code}`;
        reject(new InternalError(`${stage} hook ${hook.path} ${why}${stderr ? `: ${stderr.trim()}` : ""}`));
      }
    });
    // A hook that does not read its stdin must not fail us with EPIPE.
    child.stdin!.on("error", () => {});
    child.stdin!.end(JSON.stringify(state));
  });
}

/** Runs hooks in order; the first failure stops the rest. */
export async function runHooks(hooks: Hook[] | undefined, state: State, stage: string): Promise<void> {
  for (const hook of hooks ?? []) await runHook(hook, state, stage);
}

/** Runs every hook; failures are reported to `warn` and do not stop the others (poststart, poststop). */
export async function runHooksBestEffort(
  hooks: Hook[] | undefined,
  state: State,
  stage: string,
  warn: (message: string) => void,
): Promise<void> {
  for (const hook of hooks ?? []) {
    try {
      await runHook(hook, state, stage);
    } catch (err) {
      warn((err as Error).message);
    }
  }
}

function splitEnv(entry: string): [string, string] {
  const eq = entry.indexOf("=");
  return eq < 0 ? [entry, ""] : [entry.slice(0, eq), entry.slice(eq + 1)];
}
