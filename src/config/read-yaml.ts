import { isScalar, isPair, LineCounter, parseDocument, visit, type Scalar } from 'yaml';
import type { ConfigProblem } from './problems.js';

/**
 * Limits on what the YAML step accepts, so a hostile or foreign file costs bounded time and memory
 * (see docs/security.md for the measured worst cases). A config of 1000 registries, each with
 * credentials, aliases and cache overrides, is ~250 KiB and ~10,000 lines.
 */
export const YAML_LIMITS = {
  /** Bytes of the file. */
  maxBytes: 512 * 1024,
  /** Lines, commas and opening brackets: an upper bound on the nodes the parser builds (its time and memory follow them). */
  maxItems: 25_000,
  /** Nesting of flow collections (`[`, `{`); the parser is super-linear in it. A config needs ~5. */
  maxFlowDepth: 64,
  /** Alias nodes (`*name`) in the document. */
  maxAliases: 100,
  /** Nodes materialised through aliases (the `yaml` package's maxAliasCount: alias uses × their own aliases). */
  maxAliasExpansion: 1000,
};

/** Keys whose scalar values are secrets or names: kept as written, never read as numbers or booleans. */
const VERBATIM_KEYS = new Set(['password', 'username', 'token', 'secret']);

export type YamlRead = { ok: true; value: unknown } | { ok: false; problems: ConfigProblem[] };

/**
 * Text → plain JS value, or problems that never quote the file's content (a config symlinked to an
 * unrelated file must not print that file's lines). Never throws.
 */
export function readYaml(text: string): YamlRead {
  const fail = (message: string): YamlRead => ({ ok: false, problems: [{ path: '', message }] });
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > YAML_LIMITS.maxBytes) return fail(`the file is ${bytes} bytes; a config may be at most ${YAML_LIMITS.maxBytes} bytes (512 KiB)`);
  const binary = binaryContent(text);
  if (binary) return fail(`this is not a YAML text file (${binary}); nothing of it was read`);
  const items = countItems(text);
  if (items > YAML_LIMITS.maxItems)
    return fail(`the file has ${items} lines, list items and brackets; a config may have at most ${YAML_LIMITS.maxItems}`);
  const depth = flowDepth(text);
  if (depth > YAML_LIMITS.maxFlowDepth) return fail(`collections nest ${depth} deep; at most ${YAML_LIMITS.maxFlowDepth}`);

  const lineCounter = new LineCounter();
  // uniqueKeys off: the package compares every key with every other (minutes for a large mapping); the Map visitor below checks with a Set.
  const doc = parseDocument(text, { uniqueKeys: false, lineCounter, logLevel: 'silent', prettyErrors: false });
  const at = (offset: number | undefined) => {
    if (offset === undefined) return '';
    const { line, col } = lineCounter.linePos(offset);
    return ` at line ${line}, column ${col}`;
  };
  if (doc.errors.length > 0) {
    return { ok: false, problems: doc.errors.map((e) => ({ path: '', message: `YAML syntax error${at(e.pos[0])}: ${syntaxMessage(e.code)}` })) };
  }
  let aliases = 0;
  const problems: ConfigProblem[] = [];
  visit(doc, {
    Alias: () => {
      aliases++;
    },
    Map: (_key, map) => {
      const seen = new Set<string>();
      for (const item of map.items) {
        if (!isScalar(item.key)) continue;
        const key = String(item.key.value);
        if (seen.has(key)) problems.push({ path: '', message: `YAML: duplicate key${at(item.key.range?.[0])}` });
        seen.add(key);
      }
    },
    Pair: (_key, pair) => {
      if (isPair(pair) && isScalar(pair.key) && VERBATIM_KEYS.has(String(pair.key.value)) && isScalar(pair.value)) keepVerbatim(pair.value);
    },
  });
  if (problems.length > 0) return { ok: false, problems };
  if (aliases > YAML_LIMITS.maxAliases) return fail(`the file uses ${aliases} YAML aliases (*name); at most ${YAML_LIMITS.maxAliases}`);
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: YAML_LIMITS.maxAliasExpansion }) };
  } catch (err) {
    const exhausted = err instanceof ReferenceError && /Excessive alias count/.test(err.message);
    return fail(
      exhausted
        ? `YAML aliases expand to more than ${YAML_LIMITS.maxAliasExpansion} nodes`
        : 'the YAML document cannot be read (a bad alias or structure)',
    );
  }
}

/**
 * `password: 0123` is the number 123 to YAML, and `1234567890123456789` loses digits: secrets and
 * user names keep the characters written. An empty or `null` value stays null (unset).
 */
function keepVerbatim(scalar: Scalar): void {
  if (typeof scalar.value === 'string' || scalar.value === null) return;
  if (typeof scalar.source === 'string' && scalar.source !== '') scalar.value = scalar.source;
}

/** Why the text is not YAML text, or null: NUL and other control characters (bytes that are not UTF-8 are load.ts's to refuse). */
function binaryContent(text: string): string | null {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return 'it contains control characters';
  return null;
}

/** Newlines plus commas: one scan, no allocation. */
export function countItems(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A `[` or `{` opens a collection node: 4000 lines of 64 nested brackets took 15 s and 490 MiB.
    if (c === 0x0a || c === 0x2c || c === 0x5b || c === 0x7b) n++;
  }
  return n;
}

/** Deepest nesting of `[`/`{`, counted on the raw characters (quotes ignored): an upper bound that costs one scan. */
function flowDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) max = depth;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return max;
}

/** The parser's own messages quote the offending text; these do not. */
const SYNTAX_MESSAGES: Record<string, string> = {
  BAD_INDENT: 'bad indentation',
  TAB_AS_INDENT: 'tabs cannot indent YAML',
  MULTILINE_IMPLICIT_KEY: 'a key must be on a single line (missing ": "?)',
  UNEXPECTED_TOKEN: 'unexpected content',
  MISSING_CHAR: 'a closing quote or bracket is missing',
  BLOCK_IN_FLOW: 'block content inside [ ] or { }',
  BAD_ALIAS: 'bad alias',
  BAD_DQ_ESCAPE: 'bad escape in a double-quoted string',
  MULTIPLE_DOCS: 'the file holds several YAML documents; use one',
  KEY_OVER_1024_CHARS: 'a key is longer than 1024 characters',
  DUPLICATE_KEY: 'duplicate key',
  TAG_RESOLVE_FAILED: 'a YAML tag cannot be resolved',
};

function syntaxMessage(code: string): string {
  return SYNTAX_MESSAGES[code] ?? code.toLowerCase().replace(/_/g, ' ');
}
