/**
 * glibc keeps this much free memory at the top of an nginx process's heap instead of returning it.
 * nginx builds each `map` with a few hundred KiB of scratch hash arrays that it frees at once; with
 * the default the heap shrinks after every map and the next one faults its pages in again. On VMs
 * where page faults are dear that was most of `nginx -t` and of every reload (measured: 180 → 50 ms
 * for `nginx -t` of a one-registry router config, ~2 MB more peak RSS). See docs/performance.md.
 */
export const NGINX_MALLOC_TOP_PAD = String(16 * 1024 * 1024);

/** The environment nginx runs with: the caller's, plus the heap padding unless the operator set one. */
export function nginxEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (base.MALLOC_TOP_PAD_ !== undefined || base.GLIBC_TUNABLES?.includes('malloc.top_pad')) return base;
  return { ...base, MALLOC_TOP_PAD_: NGINX_MALLOC_TOP_PAD };
}
