/** One server nginx tried for a request and the status it answered (null: none). */
export interface UpstreamAttempt {
  address: string;
  status: number | null;
}

/**
 * `$upstream_addr` and `$upstream_status` paired: nginx lists the servers tried in turn as "a, b" and
 * starts a new group after an internal redirect ("a, b : c"). One array per group; [] for none.
 */
export function upstreamAttempts(addrs: unknown, statuses: unknown): UpstreamAttempt[][] {
  if (typeof addrs !== 'string' || addrs.trim() === '' || addrs.trim() === '-') return [];
  const groups = (v: string) => v.split(' : ').map((g) => g.split(',').map((s) => s.trim()));
  const codes = typeof statuses === 'string' ? groups(statuses) : [];
  return groups(addrs).map((group, g) =>
    group
      .filter((address) => address !== '')
      .map((address, i) => {
        const n = Number(codes[g]?.[i]);
        return { address, status: Number.isInteger(n) && n >= 100 && n <= 599 ? n : null };
      }),
  );
}
