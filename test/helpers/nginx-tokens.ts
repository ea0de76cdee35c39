// A small nginx config tokenizer with nginx's own rules (ngx_conf_read_token): whitespace separates,
// ';' ends a directive, '{' '}' open and close blocks, '#' at a token start comments to end of line,
// "..." and '...' quote with backslash escapes. Used to compare the *structure* of rendered configs.

export interface Directive {
  name: string;
  args: string[];
  block: Directive[] | null;
}

export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === ';' || c === '{' || c === '}') {
      tokens.push(c);
      i++;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\\' && j + 1 < text.length) {
          value += text[j] + text[j + 1];
          j += 2;
        } else value += text[j++];
      }
      if (j >= text.length) throw new Error('unterminated quote');
      tokens.push(`q:${value}`);
      i = j + 1;
    } else {
      let j = i;
      let value = '';
      while (j < text.length && !/[\s;{}]/.test(text[j]!)) {
        if (text[j] === '\\' && j + 1 < text.length) {
          value += text[j]! + text[j + 1]!;
          j += 2;
        } else value += text[j++];
      }
      tokens.push(`w:${value}`);
      i = j;
    }
  }
  return tokens;
}

export function parseNginx(text: string): Directive[] {
  const tokens = tokenize(text);
  let pos = 0;
  const parseBlock = (nested: boolean): Directive[] => {
    const out: Directive[] = [];
    let words: string[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos++]!;
      if (t === ';') {
        if (words.length === 0) throw new Error('empty directive');
        out.push({ name: words[0]!, args: words.slice(1), block: null });
        words = [];
      } else if (t === '{') {
        if (words.length === 0) throw new Error('block without a name');
        const name = words[0]!;
        const args = words.slice(1);
        words = [];
        out.push({ name, args, block: parseBlock(true) });
      } else if (t === '}') {
        if (!nested) throw new Error('unexpected }');
        if (words.length > 0) throw new Error('directive not terminated before }');
        return out;
      } else words.push(t);
    }
    if (nested) throw new Error('unexpected end of file in block');
    if (words.length > 0) throw new Error('directive not terminated at end of file');
    return out;
  };
  return parseBlock(false);
}

/**
 * The shape only: directive names, argument counts and nesting. Inside map and geo blocks the first
 * word is a key (data), so only its presence counts there.
 */
export function skeleton(directives: Directive[]): string[] {
  const lines: string[] = [];
  const walk = (list: Directive[], depth: number, dataBlock: boolean) => {
    for (const d of list) {
      const name = dataBlock && d.name !== 'w:default' ? 'entry' : d.name;
      lines.push(`${'  '.repeat(depth)}${name} /${d.args.length}${d.block ? ' {' : ''}`);
      if (d.block) walk(d.block, depth + 1, d.name === 'w:map' || d.name === 'w:geo');
    }
  };
  walk(directives, 0, false);
  return lines;
}

/** Every nginx variable referenced anywhere ($name or ${name}); per-cache allow variables count as one kind. */
export function variablesUsed(text: string): Set<string> {
  return new Set([...text.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!.replace(/^regcache_allow_.*/, 'regcache_allow_*')));
}
