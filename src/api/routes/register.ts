/** Every API area's routes on one router (one file per swagger tag). */
import { Router } from "../router.ts";
import { registerImageRoutes } from "./images.ts";
import { registerSystemRoutes } from "./system.ts";

/** A router with all of hakod's routes. */
export function createRouter(): Router {
  const router = new Router();
  registerSystemRoutes(router);
  registerImageRoutes(router);
  return router;
}
