/** Exec endpoints (swagger tag "Exec"): filled in by issue 4. */
import type { Router } from "../router.ts";

/** Registers the exec routes on `router`. */
export function registerExecRoutes(router: Router): void {
  void router;
}
