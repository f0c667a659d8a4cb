/**
 * The container registry the VM test's cluster pulls every image from: the
 * CNCF distribution registry as Debian packages it (docker-registry), over
 * TLS with a CA this test makes, listening on this machine's loopback only.
 * The VMs reach it through a guestfwd address (machine.ts); their
 * cluster.yaml names it as a registry mirror with its CA, exactly as a user
 * with a private mirror does.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import * as path from 'node:path';
import { freePort, spawnTracked } from './machine';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface Registry {
  /** Where it listens: 127.0.0.1:<port>. */
  address: string;
  /** The CA that signed its certificate (PEM file). */
  caFile: string;
  stop(): void;
}

export function registryMissing(): string[] {
  return existsSync(REGISTRY_BINARY) ? [] : [`${REGISTRY_BINARY} (Debian's docker-registry package)`];
}

/** A CA and a server certificate for the given IP addresses, made with openssl in `dir`. */
function makeCertificates(dir: string, addresses: string[]): { ca: string; cert: string; key: string } {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=VM test registry CA',
    '-keyout', 'ca.key', '-out', 'ca.crt');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=VM test registry', '-keyout', 'registry.key', '-out', 'registry.csr');
  writeFileSync(file('san.ext'), `subjectAltName=${addresses.map((a) => `IP:${a}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
  openssl('x509', '-req', '-in', 'registry.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'registry.crt');
  return { ca: file('ca.crt'), cert: file('registry.crt'), key: file('registry.key') };
}

/** GET https://address/v2/ with the CA: 200 once the registry serves. */
function probe(address: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`https://${address}/v2/`, { ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * Starts the registry with its storage in `storage` and its configuration
 * and certificates in `dir`, valid for 127.0.0.1 and `guestAddress` (where
 * the VMs reach it); it logs warnings and errors to `log`.
 */
export async function startRegistry(dir: string, storage: string, guestAddress: string, log: string): Promise<Registry> {
  mkdirSync(dir, { recursive: true });
  mkdirSync(storage, { recursive: true });
  const { ca, cert, key } = makeCertificates(dir, ['127.0.0.1', guestAddress]);
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const config = path.join(dir, 'config.yml');
  writeFileSync(config, [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    'http:',
    `  addr: ${address}`,
    '  tls:',
    `    certificate: ${cert}`,
    `    key: ${key}`,
    '',
  ].join('\n'));
  const child = spawnTracked('/bin/sh', ['-c', `exec ${REGISTRY_BINARY} serve ${config} >>${log} 2>&1`], { stdio: 'ignore' });
  const caPem = readFileSync(ca, 'utf8');
  const started = Date.now();
  while ((await probe(address, caPem)) !== 200) {
    if (child.exitCode !== null) throw new Error(`the registry exited (${child.exitCode}); see ${log}`);
    if (Date.now() - started > 30_000) throw new Error(`the registry did not answer on ${address} within 30 s; see ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { address, caFile: ca, stop: () => child.kill('SIGKILL') };
}
