/** A file a client reads, relative to the directory the user installs it in. */
export interface GeneratedFile {
  path: string;
  content: string;
}

export type ClientKind = 'containerd' | 'k3s' | 'docker' | 'podman';

export const CLIENT_KINDS: readonly ClientKind[] = ['containerd', 'k3s', 'docker', 'podman'];

/** The generated documents for one kind of client, plus what the user should know before using them. */
export interface GeneratedClientConfig {
  client: ClientKind;
  files: GeneratedFile[];
  warnings: string[];
}

/** Text to print: a lone file as it is; several with a `# path` line before each (a comment in TOML). */
export function printable(files: GeneratedFile[]): string {
  if (files.length === 1) return files[0]!.content;
  return files.map((f) => `# ${f.path}\n${f.content}`).join('\n');
}
