/**
 * Tests only: KUBE_HOSTS_SANDBOX points the scripts at fake hosts instead of
 * real machines. This is the one place that reads it.
 * - For a node script it is a folder that stands for `/` (commands then come
 *   from the test's PATH).
 * - For the bootstrap it holds a folder per node name with `root/` (that
 *   node's `/`) and `env` (the environment of its commands).
 */
import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../config/errors';

const SANDBOX_ENV = 'KUBE_HOSTS_SANDBOX';

export interface NodeSandbox {
  root: string;
  env: Record<string, string>;
}

/** The folder standing for `/` for a node script: `/` unless a test set one. */
export function sandboxRoot(env: NodeJS.ProcessEnv): string {
  const root = env[SANDBOX_ENV];
  if (!root) return '/';
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new UserError([`${SANDBOX_ENV}=${root}: not a directory; unset it to work on this machine`]);
  return root;
}

/** A node's sandbox for the bootstrap, or undefined when no test set one. */
export function nodeSandbox(env: NodeJS.ProcessEnv, nodeName: string): NodeSandbox | undefined {
  const dir = env[SANDBOX_ENV];
  if (!dir) return undefined;
  const nodeDir = path.join(dir, nodeName);
  const vars = Object.fromEntries(readFileSync(path.join(nodeDir, 'env'), 'utf8').split('\n').filter(Boolean).map((l) => {
    const at = l.indexOf('=');
    return [l.slice(0, at), l.slice(at + 1)];
  }));
  return { root: path.join(nodeDir, 'root'), env: vars };
}
