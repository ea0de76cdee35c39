// njs for the egress nginx.
//
// failedBind: a request that waited on a digest's cache lock fetches the blob itself
// when the lock holder's fetch failed, and would stall for another cache.stallTimeout. The holder's
// failure is written down as a marker file (egress-maps.conf); nginx evaluates proxy_bind after the
// lock wait, so this checks the marker there and, when it exists, names an address that cannot be
// bound (the egress control listener, in use): nginx answers 500 at once instead of connecting.
import crypto from 'crypto';
import fs from 'fs';

function exists(file) {
  try {
    fs.accessSync(file);
    return true;
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- njs 0.7 has no optional catch binding
  } catch (e) {
    return false;
  }
}

// The marker names of this moment: the same two 2-second slot schemes as egress-maps.conf.
function slots(seconds) {
  const prefix = Math.floor(seconds / 10);
  const digit = seconds % 10;
  return [prefix + 'a' + Math.floor(digit / 2), prefix + 'b' + Math.floor((digit + 1) / 2)];
}

function failedBind(r) {
  const digest = r.variables.regcache_egress_digest;
  if (!digest) return '';
  const dir = r.variables.regcache_egress_failed_dir;
  const failed = slots(Math.floor(Date.now() / 1000)).some((slot) => exists(dir + '/' + digest + '-' + slot));
  return failed ? r.variables.regcache_egress_unbindable : '';
}

// markUnknown (header filter): a manifest by digest the upstream answered 404 is written down before
// the answer goes out, so the marker is there when distribution's 500 for it reaches the router. The
// access log writes the same marker, but only after the response, which under load can be too late.
function markUnknown(r) {
  const digest = r.variables.regcache_egress_manifest;
  if (!digest || r.status !== 404) return;
  const dir = r.variables.regcache_egress_failed_dir;
  slots(Math.floor(Date.now() / 1000)).forEach((slot) => {
    try {
      fs.writeFileSync(dir + '/unknown-' + digest + '-' + slot, '');
      // eslint-disable-next-line @typescript-eslint/no-unused-vars -- njs 0.7 has no optional catch binding
    } catch (e) {
      // The router then answers 502, as without the marker.
    }
  });
}

// authKey: a credentialed upstream's entries are keyed by the Authorization they were fetched with
// (egress-cache.conf.ejs); its hash, so no token is written into the cache files' keys.
function authKey(r) {
  const authorization = r.headersIn.Authorization || '';
  return 'sha256:' + crypto.createHash('sha256').update(authorization).digest('hex');
}

export default { failedBind, markUnknown, authKey };
