/**
 * Reads cluster.yaml once and turns it into a validated ClusterConfig, or a
 * UserError with one line per problem: `file:line:col: field: value problem`.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Document, isMap, isSeq, LineCounter, parseDocument, type Node, type ParsedNode, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { UserError } from './errors';
import { clusterConfigSchema, type ClusterConfig } from './schema';

export const DEFAULT_CONFIG_FILE = 'cluster.yaml';

/** The repository's own cluster.yaml. */
export const PROJECT_CONFIG_FILE = path.resolve(__dirname, '..', DEFAULT_CONFIG_FILE);

/**
 * Which config file to read: an explicit path (a --config flag), else
 * $CLUSTER_CONFIG, else the cluster.yaml of the folder the user ran the
 * command in, else the repository's own (so npm run synth works from any
 * folder of the repository). Relative paths are taken from the folder the
 * user ran the command in (npm run changes the working directory to the
 * project root and records the original in INIT_CWD).
 */
export function resolveConfigPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const here = env.INIT_CWD ?? process.cwd();
  const chosen = explicit || env.CLUSTER_CONFIG;
  if (chosen) return path.resolve(here, chosen);
  const local = path.resolve(here, DEFAULT_CONFIG_FILE);
  return existsSync(local) ? local : PROJECT_CONFIG_FILE;
}

export function loadClusterConfig(file: string = resolveConfigPath()): ClusterConfig {
  const shown = path.relative(process.cwd(), file) || file;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') {
      const inside = path.join(shown, DEFAULT_CONFIG_FILE);
      throw new UserError([`${shown}: is a folder, not a cluster config; name the file itself with --config or CLUSTER_CONFIG${existsSync(path.join(file, DEFAULT_CONFIG_FILE)) ? `, e.g. ${inside}` : ''}`]);
    }
    const reason = code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new UserError([`${shown}: cannot read the cluster config (${reason}); pass an existing file with --config or CLUSTER_CONFIG`]);
  }
  return parseClusterConfig(text, shown, path.dirname(file));
}

/** Why a file is not a PEM certificate, or undefined. */
function certificateProblem(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    return `cannot be read (${reason}); give the path of the mirror's CA certificate, relative to the folder of cluster.yaml`;
  }
  try {
    new X509Certificate(text);
    return undefined;
  } catch {
    return 'is not a PEM certificate (-----BEGIN CERTIFICATE-----); give the mirror\'s CA certificate';
  }
}

/** A YAML parse error in words, with what to write instead (the parser's own first line where there is no better one). */
function yamlProblem(error: YAMLError, text: string, lines: LineCounter): string {
  const offset = error.pos[0];
  switch (error.code) {
    case 'DUPLICATE_KEY': {
      const key = /^("[^"]*"|'[^']*'|[^:#\n]+?)\s*:/.exec(text.slice(offset))?.[1] ?? '';
      // The first one: the last line before it with the same key in the same column.
      const { col } = lines.linePos(offset);
      const firstAt = text.slice(0, offset).split('\n').map((line, i) => (line.slice(col - 1).startsWith(`${key}:`) && !line.slice(0, col - 1).trim().replace(/^-$/, '') ? i + 1 : 0)).filter(Boolean).pop();
      return `the key ${key.replace(/^["']|["']$/g, '')} appears twice in one mapping${firstAt ? ` (first on line ${firstAt})` : ''}; keep one of them`;
    }
    case 'TAB_AS_INDENT':
      return 'a tab indents this line; YAML indents with spaces only: replace the tab with spaces';
    case 'BAD_INDENT':
      if (/^Flow/.test(error.message)) return `${firstLine(error.message)}: close the [ or { on the line it opened, or write the list one "- item" per line`;
      return 'this line is indented more or less than the keys before it at its level; line it up with them, with spaces';
    case 'MISSING_CHAR':
      if (/quote/.test(error.message)) return 'a quoted value is not closed: add the closing quote on the same line';
      if (/Sequence item/.test(error.message)) return 'this line is indented like a list item\'s but has no "- ": indent it like the keys of the item above, or start it with "- "';
      return firstLine(error.message);
    case 'MULTILINE_IMPLICIT_KEY':
      return 'a key without its colon (or a value spread over lines): write "key: value", with a space after the colon';
    default:
      return firstLine(error.message);
  }
}

/** `baseDir`: where relative paths in the config are taken from (the folder of cluster.yaml). */
export function parseClusterConfig(text: string, source = DEFAULT_CONFIG_FILE, baseDir = process.cwd()): ClusterConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number | undefined) => {
    if (offset === undefined) return source;
    const { line, col } = lineCounter.linePos(offset);
    return `${source}:${line}:${col}`;
  };

  if (doc.errors.length > 0) {
    throw new UserError(doc.errors.map((e) => `${at(e.pos[0])}: YAML syntax error: ${yamlProblem(e, text, lineCounter)}`));
  }
  const raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) {
    throw new UserError([`${source}: the file is empty; start from the cluster.yaml in the project root`]);
  }

  const result = clusterConfigSchema.safeParse(raw, { error: describeIssue, reportInput: true });
  if (result.success) {
    const ca = result.data.images.mirrorCa;
    if (ca === undefined) return result.data;
    const file = path.resolve(baseDir, ca);
    const problem = certificateProblem(file);
    if (problem) throw new UserError([`${at(locate(doc, ['images', 'mirrorCa'], false))}: images.mirrorCa: ${JSON.stringify(ca)} ${problem}`]);
    return { ...result.data, images: { ...result.data.images, mirrorCa: file } };
  }

  const problems: { offset: number; text: string }[] = [];
  const report = (issuePath: readonly PropertyKey[], text: string, atKey = false) => {
    const offset = locate(doc, issuePath, atKey) ?? 0;
    problems.push({ offset, text: `${at(offset)}: ${fieldName(issuePath)}: ${text}` });
  };
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        report([...issue.path, key], `unknown field; check its spelling (allowed: ${allowedKeys(issue.path)})`, true);
      }
      continue;
    }
    // The value as the user wrote it, or as defaulted when a cross-field check names it.
    const value = issue.input !== undefined ? issue.input : valueAt(raw, issue.path);
    const shownValue = value !== undefined && (typeof value !== 'object' || value === null) ? `${JSON.stringify(value)} ` : '';
    report(issue.path, `${shownValue}${issue.message}`);
  }
  // In file order, so the list reads top to bottom like the file.
  throw new UserError(problems.sort((a, b) => a.offset - b.offset).map((p) => p.text));
}

/** Messages for the checks that carry none of their own. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.input === undefined) return 'is required';
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'string' && typeof issue.input === 'number') return 'must be a string: put it in quotes';
      if (issue.expected === 'object') return 'must be a mapping of fields';
      if (issue.expected === 'array') return 'must be a list';
      return `must be ${issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`}`;
    case 'too_small':
      return issue.origin === 'array' ? `must have at least ${issue.minimum} item(s)` : `must be at least ${issue.minimum}`;
    case 'too_big':
      return `must be at most ${issue.maximum}`;
    case 'invalid_key':
      // A map's key: the key's own check says what is wrong with it.
      return (issue.issues as { message?: string }[] | undefined)?.[0]?.message;
    default:
      return undefined;
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

function fieldName(issuePath: readonly PropertyKey[]): string {
  let name = '';
  for (const part of issuePath) {
    name += typeof part === 'number' ? `[${part}]` : `${name ? '.' : ''}${String(part)}`;
  }
  return name || '(top level)';
}

function valueAt(value: unknown, issuePath: readonly PropertyKey[]): unknown {
  let current = value;
  for (const part of issuePath) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

/**
 * Source offset of the deepest YAML node on the path: the value of the last
 * field, or its key when asked (or when the value is missing).
 */
function locate(doc: Document.Parsed, issuePath: readonly PropertyKey[], atKey: boolean): number | undefined {
  let node: Node | null | undefined = doc.contents;
  let offset = (doc.contents as ParsedNode | null)?.range[0];
  for (const part of issuePath) {
    if (isSeq(node) && typeof part === 'number') {
      node = node.items[part] as Node | undefined;
    } else if (isMap(node)) {
      const pair = node.items.find((item) => (item.key as { value?: unknown } | null)?.value === part);
      if (!pair) break;
      offset = (pair.key as ParsedNode).range[0];
      node = pair.value as Node | null;
      if (atKey) continue;
    } else {
      break;
    }
    if (node && (node as ParsedNode).range) offset = (node as ParsedNode).range[0];
  }
  return offset;
}

function allowedKeys(objectPath: readonly PropertyKey[]): string {
  let schema: z.core.$ZodType = clusterConfigSchema;
  for (const part of objectPath) {
    schema = unwrap(schema);
    const def = schema._zod.def as { type: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType };
    if (def.type === 'object' && def.shape && typeof part === 'string') schema = def.shape[part];
    else if (def.type === 'array' && def.element) schema = def.element;
  }
  const def = unwrap(schema)._zod.def as { shape?: Record<string, unknown> };
  return Object.keys(def.shape ?? {}).join(', ');
}

/** Looks through defaults, optionals and refinements to the object or array underneath. */
function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let current = schema;
  for (;;) {
    const def = current._zod.def as { innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType) current = def.innerType;
    else if (def.in) current = def.in;
    else return current;
  }
}
