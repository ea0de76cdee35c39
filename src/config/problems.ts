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
