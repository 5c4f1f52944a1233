/**
 * `commit -c` and `import -c`: Dockerfile instructions applied to a config
 * alone, the ones moby's BuildFromConfig allows, parsed and applied as the
 * builder does (words expanded against the config's own Env).
 */
import { InvalidArgumentError } from "../common/errors.ts";
import type { ImageRuntimeConfig } from "../spec/oci-image.ts";
import { applyConfigStep, type ConfigState } from "./config-step.ts";
import { parseInstruction } from "./dockerfile.ts";
import { envFromList } from "./shell-lex.ts";

/** moby's validCommitCommands. */
const ALLOWED = new Set(["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR", "STOPSIGNAL"]);

/** Applies `changes` (one instruction each) to a copy of `config`. */
export function applyChanges(config: ImageRuntimeConfig, changes: readonly string[]): ImageRuntimeConfig {
  const state: ConfigState = { runConfig: structuredClone(config), cmdSet: false };
  changes.forEach((change, i) => {
    const word = /^\s*(\S+)/.exec(change)?.[1];
    if (word === undefined) return;
    // Checked before parsing: an unknown word is refused in these terms too, as moby's parser takes any.
    if (!ALLOWED.has(word.toUpperCase())) throw new InvalidArgumentError(`${word.toLowerCase()} is not a valid change command`);
    const cmd = parseInstruction(change.trim(), i + 1);
    const flag = cmd.name !== "HEALTHCHECK" ? Object.keys(cmd.flags)[0] : undefined;
    if (flag) throw new InvalidArgumentError(`Unknown flag: ${flag}`);
    applyConfigStep(state, cmd, { env: envFromList(state.runConfig.Env ?? []), escape: "\\" });
  });
  return state.runConfig;
}
