/** Caches in the order clients should try them: by mirrorOf, then mirrorOrder, then name. */
export function mirrorSorted<T extends { name: string; mirrorOf: string; mirrorOrder: number | null }>(registries: readonly T[]): T[] {
  return [...registries].sort(
    (a, b) => a.mirrorOf.localeCompare(b.mirrorOf) || (a.mirrorOrder ?? 0) - (b.mirrorOrder ?? 0) || a.name.localeCompare(b.name),
  );
}

/** The first cache of each registry host: where `?ns=<host>` goes. */
export function firstMirrors<T extends { name: string; mirrorOf: string; mirrorOrder: number | null }>(registries: readonly T[]): T[] {
  return mirrorSorted(registries).filter((r, i, all) => i === 0 || all[i - 1]!.mirrorOf !== r.mirrorOf);
}
