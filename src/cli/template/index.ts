/**
 * Go text/template for `--format`, with docker's functions and its `table`
 * and `json` conventions. Package entry point.
 */
export { Template, executeTemplate, type ExecuteOptions, type ParseOptions } from "./template.ts";
export { TemplateError, type TemplatePhase } from "./errors.ts";
export { type ExecOptions, type MissingKey, MAX_EXEC_DEPTH } from "./exec.ts";
export {
  BUILTINS,
  DOCKER_FUNCS,
  DOCKER_HEADER_FUNCS,
  FuncError,
  type FuncMap,
  type ParamType,
  type TemplateFunc,
  padWithSpace,
  truncateWithLength,
} from "./funcs.ts";
export { formatValue, sprint, sprintf, sprintln } from "./fmt.ts";
export { goJSON } from "./json.ts";
export { GO_TYPE, goStruct } from "./values.ts";
export { DOCKER_TABWRITER, type TabWriterOptions, displayWidth, tabwrite } from "./tabwriter.ts";
export {
  type FormatOptions,
  JSON_FORMAT,
  isJSONFormat,
  isTableFormat,
  renderEach,
  renderFormat,
  renderTable,
  templateText,
} from "./table.ts";
