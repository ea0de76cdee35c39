import { z } from 'zod';
import type { ReadConfigFile } from '../config-files.js';
import { resolveConfigPath, unsafePathMessage } from '../config-files.js';
import type { ConfigProblem } from '../problems.js';
import { joinPath } from '../problems.js';

/** What a section needs to turn its parsed YAML into the model: file access and a place for problems. */
export interface SectionContext {
  source: string;
  readFile: ReadConfigFile;
  problems: ConfigProblem[];
  /** Every file read, so the daemon can watch them (certificate renewals, rotated secrets). */
  referenced: string[];
}

export function addProblem(ctx: SectionContext, at: ReadonlyArray<string | number>, message: string): void {
  ctx.problems.push({ path: joinPath(at), message });
}

/** Reads a referenced file; a failure is recorded at `at` and yields null. */
export function readReferenced(ctx: SectionContext, at: ReadonlyArray<string | number>, p: string): { path: string; text: string } | null {
  const abs = resolveConfigPath(ctx.source, p);
  if (!ctx.referenced.includes(abs)) ctx.referenced.push(abs);
  const read = ctx.readFile(abs);
  if (!read.ok) {
    addProblem(ctx, at, `cannot read ${abs}: ${read.message}`);
    return null;
  }
  return { path: abs, text: read.text };
}

/** A path that lands in nginx config or is read by regcache: no characters that could end a token. */
export const safePath = z.string().superRefine((p, ctx) => {
  const problem = unsafePathMessage(p);
  if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});
