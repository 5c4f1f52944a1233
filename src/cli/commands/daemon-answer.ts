/**
 * The daemon's answer, or why there is none: info and version print the
 * client's part even when the daemon cannot be reached, and fail after.
 */
export async function daemonAnswer<T>(ask: () => Promise<T>): Promise<{ answer?: T; failure?: unknown }> {
  try {
    return { answer: await ask() };
  } catch (err) {
    return { failure: err };
  }
}
