/**
 * The Headlamp image of the cluster test: a stand-in server (headlamp-stand-in/main.go), because Headlamp's
 * own backend cannot be built here (the Go module proxy refuses its module with 403). Built once with the
 * machine's Go (standard library only), kept in the test's cache by the hash of its source.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

const SOURCE = path.join(__dirname, 'headlamp-stand-in', 'main.go');

/** The stand-in's binary, built unless the cache has it. */
export function headlampStandIn(cacheDir: string): string {
  const source = readFileSync(SOURCE);
  const dir = path.join(cacheDir, `headlamp-stand-in-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  const binary = path.join(dir, 'headlamp-server');
  if (existsSync(binary)) return binary;
  const work = mkdtempSync(path.join(cacheDir, 'headlamp-stand-in-build-'));
  try {
    writeFileSync(path.join(work, 'go.mod'), 'module clustertest.local/headlamp-stand-in\n\ngo 1.22\n');
    copyFileSync(SOURCE, path.join(work, 'main.go'));
    execFileSync('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', path.join(work, 'headlamp-server'), '.'], {
      cwd: work, env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    mkdirSync(dir, { recursive: true });
    copyFileSync(path.join(work, 'headlamp-server'), binary);
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
