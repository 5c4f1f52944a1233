/** The version of this build (package.json's, injected by the bundler). */
declare const HAKO_VERSION: string | undefined;
export const VERSION: string = typeof HAKO_VERSION === "string" ? HAKO_VERSION : "0.0.0-dev";
