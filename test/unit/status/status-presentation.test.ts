import { describe, expect, it } from 'vitest';
import { formatStatusTable } from '../../../src/cli/status-table.js';
import { formatAgo, formatBytes, formatRatio } from '../../../src/util/format.js';
import { createStatusPageRenderer, readStatusPageTemplate } from '../../../src/status/page/render-status-page.js';
import { statusPageView } from '../../../src/status/page/status-page-view.js';
import type { DaemonStatus } from '../../../src/status/status-service.js';
import { daemonStatus, FIXTURE_NOW, observedVhost } from '../../helpers/status-fixtures.js';

const NOW = FIXTURE_NOW;
const vhost = observedVhost;
const status = (over: Partial<DaemonStatus> = {}): DaemonStatus =>
  daemonStatus({
    vhosts: [vhost('docker.io'), vhost('ghcr.io', { status: 'down', lastError: 'cache not answering: ECONNREFUSED <script>' })],
    ...over,
  });

describe('formats', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [5 << 20, '5.0 MiB'],
    [300 * 2 ** 30, '300 GiB'],
  ])('%d bytes → %s', (n, text) => expect(formatBytes(n)).toBe(text));
  it('ratios and ages', () => {
    expect(formatRatio(null)).toBe('–');
    expect(formatRatio(0.9)).toBe('90.0%');
    expect(formatRatio(1)).toBe('100%');
    expect(formatAgo(null, NOW)).toBe('never');
    expect(formatAgo(new Date(NOW - 42_000).toISOString(), NOW)).toBe('42 s ago');
    expect(formatAgo(new Date(NOW - 3 * 3600_000).toISOString(), NOW)).toBe('3 h ago');
  });
});

describe('status page', () => {
  const render = createStatusPageRenderer(readStatusPageTemplate());
  const page = (s: DaemonStatus) =>
    render(
      statusPageView({
        status: s,
        events: [],
        snippets: [{ id: 'k3s', title: 'k3s', target: 'registries.yaml', text: 'mirrors: {}', notes: [] }],
        nowMs: NOW,
        refreshSeconds: 5,
      }),
    );

  it('has one card per vhost with its status, hit ratios and numbers', () => {
    const html = page(status());
    expect(html.match(/<article class="card /g)).toHaveLength(2);
    expect(html).toContain('<article class="card up" data-vhost="docker.io">');
    expect(html).toContain('<article class="card down" data-vhost="ghcr.io">');
    expect(html).toContain('90.0%'); // blob hits 9/10
    expect(html).toContain('3.0 MiB');
    expect(html).toContain('<dt>mirrors</dt><dd><span class="mono">docker.io</span></dd>');
    expect(html).not.toContain('id="config-error"');
  });

  it('escapes what it shows', () => {
    const html = page(status());
    expect(html).toContain('ECONNREFUSED &lt;script&gt;');
    expect(html).not.toContain('ECONNREFUSED <script>');
  });

  it('shows the cluster peers only in a cluster: state, ring share, requests forwarded', () => {
    expect(page(status())).not.toContain('id="cluster"');
    const peer = (address: string, up: boolean | null, forwarded: Record<string, number>) => ({
      address,
      self: address === '10.0.0.1:5001',
      up,
      checkedAt: null,
      error: up === false ? 'connect ECONNREFUSED' : null,
      ringShare: 0.5,
      forwarded: Object.values(forwarded).reduce((a, b) => a + b, 0),
      forwardedByCode: forwarded,
    });
    const html = page(
      status({ cluster: { self: '10.0.0.1:5001', peers: [peer('10.0.0.1:5001', true, { '200': 7 }), peer('10.0.0.2:5001', false, { '502': 2 })] } }),
    );
    expect(html).toContain('id="cluster"');
    expect(html).toContain('<td class="mono">10.0.0.1:5001 (this node)</td><td class="lvl info">up</td><td>50.0 %</td><td>7</td><td>200: 7</td>');
    expect(html).toContain('<td class="lvl warn">down</td><td>50.0 %</td><td>2</td><td>connect ECONNREFUSED — 502: 2</td>');
  });

  it('shows the config error banner with each problem', () => {
    const html = page(
      status({
        lastError: {
          message: 'config rejected',
          problems: [{ path: 'registries.x.upstream', message: 'must be a URL' }],
          at: new Date(NOW).toISOString(),
        },
      }),
    );
    expect(html).toContain('id="config-error"');
    expect(html).toContain('registries.x.upstream: must be a URL');
  });
});

describe('status table', () => {
  it('prints one row per vhost, the banner and last errors', () => {
    const out = formatStatusTable(
      status({ lastError: { message: 'config rejected: x', problems: [{ path: 'domain', message: 'bad' }], at: new Date(NOW).toISOString() } }),
      NOW,
    );
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^regcache\s+serving\s+generation 3/);
    expect(out).toContain('CONFIG REJECTED just now');
    expect(out).toContain('  domain: bad');
    const header = lines.find((l) => l.startsWith('VHOST'))!;
    const row = lines.find((l) => l.startsWith('docker.io'))!;
    expect(row.indexOf('up')).toBe(header.indexOf('STATUS'));
    expect(row).toMatch(/docker\.io\s+up\s+42\s+40\/2\/0\s+3\.0 MiB/);
    expect(row).toContain('75.0% (3/4)'); // manifests: requests 4 − misses 1 = 3 hits, 1 miss
    expect(out).toContain('ghcr.io: cache not answering');
    expect(out).not.toContain('CLUSTER');
  });

  it('lists the cluster peers in a cluster', () => {
    const peer = (address: string, up: boolean, forwarded: number) => ({
      address,
      self: address === '10.0.0.1:5001',
      up,
      checkedAt: null,
      error: up ? null : 'connect ECONNREFUSED',
      ringShare: 0.5,
      forwarded,
      forwardedByCode: { '200': forwarded },
    });
    const out = formatStatusTable(
      status({ cluster: { self: '10.0.0.1:5001', peers: [peer('10.0.0.1:5001', true, 3), peer('10.0.0.2:5001', false, 0)] } }),
      NOW,
    );
    expect(out).toContain('CLUSTER (this node: 10.0.0.1:5001)');
    expect(out).toMatch(/10\.0\.0\.1:5001\s+up\s+50\.0%\s+3\n/);
    expect(out).toMatch(/10\.0\.0\.2:5001\s+DOWN\s+50\.0%\s+0\s+connect ECONNREFUSED/);
  });
});
