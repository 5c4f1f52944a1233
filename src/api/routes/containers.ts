/** Containers endpoints (swagger tag "Containers"): filled in by issue 4. */
import type { Router } from "../router.ts";

/** Registers the containers routes on `router`. */
export function registerContainersRoutes(router: Router): void {
  void router;
}
