/**
 * Image endpoints (swagger tag "Image"). The table is complete; handlers
 * answer 501 until the image service lands (issue #3) — except search,
 * which answers an empty list, as a daemon with no index to ask would.
 * {name:.*} because names contain slashes: the last /json, /history, ...
 * of the path decides the route.
 */
import { NotImplementedError } from "../../common/errors.ts";
import { json } from "../response.ts";
import type { ApiCall, Handler, Router } from "../router.ts";

function notImplemented(what: string): Handler {
  return () => {
    throw new NotImplementedError(`${what} is not implemented yet`);
  };
}

/** Registers the image routes on `router`. */
export function registerImageRoutes(router: Router): void {
  router
    .add("POST", "/images/create", notImplemented("image pull and import"))
    .add("GET", "/images/json", notImplemented("image list"))
    .add("GET", "/images/search", search)
    .add("GET", "/images/get", notImplemented("image save"))
    .add("POST", "/images/load", notImplemented("image load"))
    .add("POST", "/images/prune", notImplemented("image prune"))
    .add("GET", "/images/{name:.*}/json", notImplemented("image inspect"))
    .add("GET", "/images/{name:.*}/history", notImplemented("image history"))
    .add("POST", "/images/{name:.*}/push", notImplemented("image push"))
    .add("POST", "/images/{name:.*}/tag", notImplemented("image tag"))
    .add("GET", "/images/{name:.*}/get", notImplemented("image save"))
    .add("DELETE", "/images/{name:.*}", notImplemented("image removal"));
}

function search(call: ApiCall): void {
  json(call.res, 200, []);
}
