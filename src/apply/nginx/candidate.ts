import type { NginxController } from './nginx-controller.js';

/**
 * The config for the next generation, or null when nginx already serves these bytes. `render` gives
 * the config at a generation (the generation is part of the bytes, so compare at the current one).
 */
export function candidateBytes(
  controller: NginxController,
  render: (generation: number) => string,
  current: number,
  serving: boolean,
): string | null {
  if (serving && render(current) === controller.applied()) return null;
  return render(current + 1);
}
