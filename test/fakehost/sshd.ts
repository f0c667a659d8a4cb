/**
 * A real OpenSSH server for the bootstrap tests, listening only on loopback
 * addresses (127.0.0.2, 127.0.0.3, ...), with a host key and a client key
 * generated for the test, and an ssh_config that keeps known_hosts inside
 * the test's folder.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

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

export function startSshd(addresses: string[], port = 22022): TestSshd {
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
    '',
  ].join('\n'));
  const started = spawnSync(SSHD, ['-f', config, '-E', path.join(dir, 'sshd.log')], { encoding: 'utf8' });
  if (started.status !== 0) throw new Error(`sshd did not start: ${started.stderr}`);
  const knownHosts = path.join(dir, 'known_hosts');
  const sshConfig = path.join(dir, 'ssh_config');
  writeFileSync(sshConfig, `Host *\n  UserKnownHostsFile ${knownHosts}\n  GlobalKnownHostsFile /dev/null\n`);
  return {
    port,
    identityFile,
    sshConfig,
    knownHosts,
    stop() {
      const pid = Number(readFileSync(path.join(dir, 'sshd.pid'), 'utf8'));
      try {
        process.kill(pid);
      } catch {
        // already gone
      }
    },
  };
}
