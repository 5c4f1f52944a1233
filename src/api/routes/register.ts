/** Every API area's routes on one router (one file per swagger tag). */
import { Router } from "../router.ts";
import { registerArchiveRoutes } from "./archive.ts";
import { registerBuildRoutes } from "./build.ts";
import { registerContainersRoutes } from "./containers.ts";
import { registerExecRoutes } from "./exec.ts";
import { registerHakoInterfacesRoutes } from "./hako-interfaces.ts";
import { registerImageRoutes } from "./images.ts";
import { registerNetworksRoutes } from "./networks.ts";
import { registerSystemRoutes } from "./system.ts";
import { registerVolumesRoutes } from "./volumes.ts";

/** A router with all of hakod's routes. */
export function createRouter(): Router {
  const router = new Router();
  registerSystemRoutes(router);
  registerImageRoutes(router);
  registerBuildRoutes(router);
  registerContainersRoutes(router);
  registerExecRoutes(router);
  registerVolumesRoutes(router);
  registerArchiveRoutes(router);
  registerNetworksRoutes(router);
  registerHakoInterfacesRoutes(router);
  return router;
}
