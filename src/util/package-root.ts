import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The repository root (holds templates/ and nginx/), from src/ or dist/ alike. */
export function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}
