/** A configuration problem: where in the file (dotted path) and what is wrong. */
export interface ConfigProblem {
  path: string;
  message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; problems: ConfigProblem[] };

export function formatProblem(p: ConfigProblem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

/** Joins path segments the way users read them: registry names stay whole (`registries.ghcr.io.upstream`). */
export function joinPath(segments: ReadonlyArray<string | number>): string {
  return segments.map(String).join('.');
}

/** At most this many problems are reported; the rest are counted (a binary file could yield thousands). */
export const MAX_PROBLEMS = 20;
const MAX_PATH = 120;
const MAX_MESSAGE = 300;

/**
 * The first MAX_PROBLEMS problems, each path and message cut to a bounded length and stripped of
 * control characters, plus one "and K more" line: what reaches lastError, the log and the page stays small.
 */
export function boundProblems(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const shown = problems.slice(0, MAX_PROBLEMS).map((p) => ({ path: clip(p.path, MAX_PATH), message: clip(p.message, MAX_MESSAGE) }));
  const more = problems.length - shown.length;
  return more > 0 ? [...shown, { path: '', message: `and ${more} more problem${more === 1 ? '' : 's'}` }] : shown;
}

function clip(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
