/**
 * The error of the registry client that common/errors.ts has no class for.
 * It extends HakoError, so the API edge maps it by `code` like every other failure.
 */
import { HakoError } from "../../common/errors.ts";

/** Content whose digest (or size) is not the one it was asked for. */
export class DigestMismatchError extends HakoError {
  readonly expected: string;
  readonly actual: string;

  constructor(message: string, expected: string, actual: string) {
    super("ERR_INTERNAL", message);
    this.expected = expected;
    this.actual = actual;
  }
}
