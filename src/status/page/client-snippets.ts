import { parseClientOptions, parseK3dOptions } from '../../clients/client-request.js';
import { generateClientConfig } from '../../clients/generate.js';
import { CLIENT_KINDS, printable, type ClientKind } from '../../clients/generated.js';
import { k3dCommand } from '../../clients/k3d-command.js';
import type { RegcacheConfig } from '../../config/model.js';

/** A client configuration document to copy from the status page. */
export interface ClientSnippet {
  id: string;
  title: string;
  /** Where the document goes on the client machine. */
  target: string;
  text: string;
  /** What the user should know before using it (from the generators), empty when nothing. */
  notes: string[];
}

export type ClientSnippetSource = (config: RegcacheConfig) => ClientSnippet[];

const PRESENTATION: Record<ClientKind, { title: string; target: string }> = {
  k3s: { title: 'k3s / k3d', target: 'registries.yaml (k3s: /etc/rancher/k3s/registries.yaml)' },
  containerd: { title: 'containerd', target: '/etc/containerd/certs.d/ (config_path)' },
  docker: { title: 'Docker', target: '/etc/docker/daemon.json' },
  podman: { title: 'podman / buildah / skopeo / CRI-O', target: '/etc/containers/registries.conf.d/regcache.conf' },
};

/**
 * The same documents as `regcache clients` and /api/v1/clients with their defaults (vhost mode, the
 * endpoint from the config), so the page never drifts from what the generators produce.
 */
export const generatedClientSnippets: ClientSnippetSource = (config) => {
  const options = parseClientOptions(config, {});
  if (!options.ok) return [];
  const order: ClientKind[] = ['k3s', 'containerd', 'docker', 'podman'].filter((k): k is ClientKind =>
    (CLIENT_KINDS as readonly string[]).includes(k),
  );
  const snippets: ClientSnippet[] = order.map((kind) => {
    const generated = generateClientConfig(kind, config, options.value);
    return { id: kind, ...PRESENTATION[kind], text: printable(generated.files).trimEnd(), notes: generated.warnings };
  });
  const k3d = parseK3dOptions(config, {}, options.value);
  if (k3d.ok) {
    snippets.splice(1, 0, {
      id: 'k3d',
      title: 'k3d cluster',
      target: 'with the k3s registries.yaml above',
      text: k3dCommand(config, k3d.value),
      notes: [],
    });
  }
  return snippets;
};
