/**
 * A real OpenSSH server for the bootstrap tests, listening only on loopback
 * addresses (127.0.0.2, 127.0.0.3, ...), with a host key and a client key
 * generated for the test, and an ssh_config that keeps known_hosts inside
 * the test's folder.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { missingPrerequisite } from '../prerequisites';

export const SSHD = '/usr/sbin/sshd';

export interface TestSshd {
  port: number;
  identityFile: string;
  sshConfig: string;
  knownHosts: string;
  stop(): void;
}

export function sshdAvailable(): boolean {
  return existsSync(SSHD) && process.getuid?.() === 0;
}

/** Starts sshd in the foreground as a child of the test, and waits until it listens (or fails with its log). */
export async function startSshd(addresses: string[], port = 20000 + Math.floor(Math.random() * 10000)): Promise<TestSshd> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sshd-'));
  const key = (name: string) => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, name)]);
    return path.join(dir, name);
  };
  const hostKey = key('host_key');
  const identityFile = key('client_key');
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${identityFile}.pub`));
  mkdirSync('/run/sshd', { recursive: true });
  const config = path.join(dir, 'sshd_config');
  const home = path.join(dir, 'home');
  mkdirSync(home);
  writeFileSync(config, [
    ...addresses.map((a) => `ListenAddress ${a}:${port}`),
    `HostKey ${hostKey}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'StrictModes no',
    'UsePAM no',
    'MaxStartups 100',
    'MaxSessions 100',
    // The login shell (root's bash) reads ~/.bashrc for every command sshd runs; this machine's sets up pyenv
    // there (about half a second a command). The sessions get a HOME of their own, with no shell start-up files.
    `SetEnv HOME=${home}`,
    '',
  ].join('\n'));
  const log = path.join(dir, 'sshd.log');
  const child = spawn(SSHD, ['-D', '-f', config, '-E', log], { stdio: 'ignore' });
  let exited = false;
  child.on('exit', () => { exited = true; });
  for (let waited = 0; !existsSync(path.join(dir, 'sshd.pid')); waited += 50) {
    const logged = existsSync(log) ? readFileSync(log, 'utf8') : '';
    if (exited || waited > 10_000) throw new Error(`sshd did not start: ${logged}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const knownHosts = path.join(dir, 'known_hosts');
  const sshConfig = path.join(dir, 'ssh_config');
  writeFileSync(sshConfig, `Host *\n  UserKnownHostsFile ${knownHosts}\n  GlobalKnownHostsFile /dev/null\n`);
  return {
    port,
    identityFile,
    sshConfig,
    knownHosts,
    stop() {
      child.kill();
    },
  };
}

/**
 * The test file's sshd on 127.0.0.2, 127.0.0.3 and 127.0.0.4 (a control plane that is not this machine): started before its tests
 * and stopped after them (the object is filled in by then). Where sshd cannot
 * run, registers a visible skip instead and returns undefined.
 */
export function sshdForTests(what: string, addresses = ['127.0.0.2', '127.0.0.3', '127.0.0.4']): TestSshd | undefined {
  if (!sshdAvailable()) {
    missingPrerequisite(what, `needs ${SSHD} (openssh-server) and root`);
    return undefined;
  }
  const sshd = {} as TestSshd;
  beforeAll(async () => {
    Object.assign(sshd, await startSshd(addresses));
  });
  afterAll(() => sshd.stop?.());
  return sshd;
}
