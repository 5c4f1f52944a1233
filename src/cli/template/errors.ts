/**
 * Template failures. The message is Go's text, so users see what docker
 * prints: `template: :1: function "foo" not defined` for a parse error,
 * `template: :1:2: executing "" at <.Foo>: ...` for an execution error.
 */
import { InvalidArgumentError } from "../../common/errors.ts";

export type TemplatePhase = "parse" | "exec";

export class TemplateError extends InvalidArgumentError {
  readonly phase: TemplatePhase;
  /** What execution wrote before failing (Go leaves partial output too). */
  readonly output: string;

  /**
   * The CLI's exit status for it: docker exits 64 for a --format that does
   * not parse in inspect, info, version and events, 1 everywhere else.
   */
  readonly exitStatus: number;

  constructor(phase: TemplatePhase, message: string, output = "", exitStatus = phase === "parse" ? 64 : 1) {
    super(message);
    this.phase = phase;
    this.output = output;
    this.exitStatus = exitStatus;
  }
}
