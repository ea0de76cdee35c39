/** Platforms (`linux/amd64`, `linux/arm64/v8`) as index entries name them. Pure. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const PART = /^[a-z0-9_.-]{1,32}$/;

export function parsePlatform(text: string): Platform | null {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => PART.test(p))) return null;
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

// Node's process.arch → OCI architecture names.
const ARCH: Record<string, Platform> = {
  x64: { os: 'linux', architecture: 'amd64' },
  arm64: { os: 'linux', architecture: 'arm64' },
  arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
  ia32: { os: 'linux', architecture: '386' },
  ppc64: { os: 'linux', architecture: 'ppc64le' },
  s390x: { os: 'linux', architecture: 's390x' },
  riscv64: { os: 'linux', architecture: 'riscv64' },
};

/** The platform of the machine regcache runs on (what its caches' clients most likely pull). */
export function hostPlatform(arch: string = process.arch): Platform {
  return ARCH[arch] ?? { os: 'linux', architecture: arch };
}

/**
 * Whether an index entry's platform is one that was asked for. A wanted platform without a variant
 * takes any variant, except that arm64 entries without a variant are v8 (as containerd normalises).
 */
export function platformMatches(wanted: Platform, entry: Partial<Platform> | undefined): boolean {
  if (!entry || entry.os !== wanted.os || entry.architecture !== wanted.architecture) return false;
  if (!wanted.variant) return true;
  const variant = entry.variant ?? (entry.architecture === 'arm64' ? 'v8' : undefined);
  return variant === wanted.variant;
}
