/** The container commands, for the command table. */
export { attach, start } from "./attach.ts";
export { commit, containerPrune, diff, exportCmd, port, top, update } from "./changes.ts";
export { cp } from "./cp.ts";
export { create } from "./create.ts";
export { exec } from "./exec.ts";
export { containerInspect } from "./inspect.ts";
export { containerRm, kill, pause, rename, restart, stop, unpause, wait } from "./lifecycle.ts";
export { containerLs } from "./list.ts";
export { logs } from "./logs.ts";
export { run } from "./run.ts";
export { stats } from "./stats.ts";
