/** Archive endpoints (swagger tag "Archive"): filled in by issue 4. */
import type { Router } from "../router.ts";

/** Registers the archive routes on `router`. */
export function registerArchiveRoutes(router: Router): void {
  void router;
}
