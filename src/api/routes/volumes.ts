/** Volumes endpoints (swagger tag "Volumes"): filled in by issue 4. */
import type { Router } from "../router.ts";

/** Registers the volumes routes on `router`. */
export function registerVolumesRoutes(router: Router): void {
  void router;
}
