/**
 * Fake hosts for the node scripts: a sandbox folder standing for `/`, seeded
 * with a fresh node's files for an OS family, and a bin folder of fake
 * commands (fake-command.cjs) that record every call and emulate its effect
 * on the sandbox. The real scripts run against it in a child process with
 * PATH set to that bin folder only, so no real system command can run.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { freshNodeFiles } from '../../hosts/node/plan-model';
import type { OsFamily } from '../../hosts/os/release';
import { ROOT } from '../helpers';

const FAKE = path.join(__dirname, 'fake-command.cjs');
export const FAKE_COMMANDS = [
  'id', 'nproc', 'ip', 'ss', 'hostnamectl', 'swapoff', 'swapon', 'setenforce', 'modprobe', 'sysctl', 'firewall-cmd', 'ufw',
  'systemctl', 'dnf', 'rpm', 'apt-get', 'dpkg-query', 'apt-mark', 'mkdir', 'curl', 'install', 'kubeadm', 'iptables-save',
  'iptables-restore', 'ip6tables-save', 'ip6tables-restore', 'ipvsadm', 'env', 'kubectl', 'restorecon', 'containerd', 'dpkg',
  'systemd-detect-virt', 'mv', 'rm', 'rmdir', 'sh', 'base64', 'stat', 'sha256sum', 'crictl', 'ctr',
];

/**
 * Sourced by every bash the bootstrap runs a node's command in (BASH_ENV): a program named by an absolute path
 * (etcdutl inside an image `ctr images mount` mounted) is the sandbox's file of that path, not this machine's.
 * zx hands bash one command line with every word quoted as needed; the trap runs before it and, when the first
 * word is an absolute path the sandbox has as a program, runs that instead.
 */
const BASH_ENV = `__fake_absolute() {
  case $BASH_COMMAND in
    /*|\\$\\'/*) ;;
    *) return 0 ;;
  esac
  local -a __words
  eval "__words=($BASH_COMMAND)" 2>/dev/null || return 0
  if [ -x "$FAKE_ROOT\${__words[0]}" ] && [ -f "$FAKE_ROOT\${__words[0]}" ]; then exec "$FAKE_ROOT\${__words[0]}" "\${__words[@]:1}"; fi
}
trap __fake_absolute DEBUG
`;

/** Calls that only read; anything else the scripts run changes the node. */
export function isReadOnly([name, ...args]: string[]): boolean {
  const line = args.join(' ');
  switch (name) {
    case 'id': case 'nproc': case 'ss': case 'rpm': case 'dpkg-query': case 'iptables-save': case 'ip6tables-save': case 'containerd': case 'dpkg': case 'systemd-detect-virt': return true;
    case 'base64': case 'stat': case 'sha256sum': case 'crictl': return true;
    case 'ipvsadm': return args[0] === '-Ln';
    case 'ip': return args.includes('addr') || line.startsWith('-4 route show');
    case 'systemctl': return args[0] === 'is-enabled' || args[0] === 'is-active';
    case 'apt-mark': return args[0] === 'showhold';
    case 'firewall-cmd': return args[0] === '--state' || /--list-/.test(line);
    case 'ufw': return line === 'status' || line === 'show added';
    case 'kubeadm': return args[0] === 'version' || line.startsWith('config images list') || line.startsWith('certs check-expiration') || line.startsWith('upgrade plan');
    case 'kubectl': return !['apply', 'drain', 'delete', 'uncordon'].some((verb) => args.includes(verb)) && !(args.includes('exec') && args.includes('save'));
    case 'curl': return args.includes('-w');
    // etcdutl from a mounted image: `snapshot status` only reads.
    default: return name.endsWith('/etcdutl') && args[0] === 'snapshot' && args[1] === 'status';
  }
}

export interface SandboxOptions {
  address?: string;
  /** Extra or replaced files, by absolute path. */
  files?: Record<string, string>;
  nproc?: number;
  /** A folder shared by the sandboxes of one cluster (the CA and tokens). */
  cluster?: string;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class Sandbox {
  readonly root: string;
  readonly bin: string;
  readonly cluster: string;

  constructor(readonly family: OsFamily, options: SandboxOptions = {}) {
    const base = mkdtempSync(path.join(tmpdir(), `fakehost-${family}-`));
    this.root = path.join(base, 'root');
    this.bin = path.join(base, 'bin');
    this.cluster = options.cluster ?? path.join(base, 'cluster');
    mkdirSync(this.bin, { recursive: true });
    for (const name of FAKE_COMMANDS) {
      const wrapper = path.join(this.bin, name);
      writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${FAKE}" ${name} "$@"\n`);
      chmodSync(wrapper, 0o755);
    }
    symlinkSync('/bin/bash', path.join(this.bin, 'bash'));
    const files: Record<string, string> = {
      ...freshNodeFiles(family, options.address ?? '192.168.83.133'),
      '/etc/sysctl.conf': '# system defaults\n',
      '/.fake/addresses': `${options.address ?? '192.168.83.133'}\n`,
      '/.fake/nproc': `${options.nproc ?? 2}\n`,
      '/.fake/iptables': '',
      '/.fake/ip6tables': '',
      ...(family === 'el9' ? { '/.fake/firewalld.json': JSON.stringify({ running: true, ports: ['22/tcp'], sources: [] }) } : {}),
      ...(family === 'ubuntu' ? { '/.fake/ufw.json': JSON.stringify({ active: false, rules: [] }) } : {}),
      ...options.files,
    };
    for (const [file, content] of Object.entries(files)) this.writeFile(file, content);
    // For the bootstrap: the environment its commands run with on this fake node.
    writeFileSync(path.join(base, 'bash-env'), BASH_ENV);
    writeFileSync(path.join(base, 'env'), `PATH=${this.bin}\nFAKE_ROOT=${this.root}\nFAKE_CLUSTER=${this.cluster}\nBASH_ENV=${path.join(base, 'bash-env')}\n`);
    this.base = base;
  }

  /** The folder holding root/, bin/ and env (what KUBE_HOSTS_SANDBOX/<node> points at for the bootstrap). */
  readonly base: string;

  writeFile(file: string, content: string): void {
    const target = path.join(this.root, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content);
  }

  readFile(file: string): string | undefined {
    try {
      return readFileSync(path.join(this.root, file), 'utf8');
    } catch {
      return undefined;
    }
  }

  mode(file: string): number {
    return statSync(path.join(this.root, file)).mode & 0o777;
  }

  fakeState<T>(name: string): T {
    return JSON.parse(this.readFile(`/.fake/${name}`) ?? 'null') as T;
  }

  /** Makes every later command starting with `prefix` fail. */
  failOn(...prefixes: string[]): void {
    this.writeFile('/.fake/fail', prefixes.join('\n'));
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: this.bin,
      HOME: path.join(this.root, 'root'),
      KUBE_HOSTS_SANDBOX: this.root,
      FAKE_ROOT: this.root,
      FAKE_CLUSTER: this.cluster,
      INIT_CWD: ROOT,
      ...extra,
    };
  }

  /** Runs hosts/<script>.mjs against this sandbox, as a user would run it on the node. */
  run(script: 'prep' | 'init' | 'join' | 'reset', args: string[] = [], extraEnv: Record<string, string> = {}): RunResult {
    const result = spawnSync(process.execPath, [path.join(ROOT, 'hosts', `${script}.mjs`), ...args], {
      cwd: ROOT, encoding: 'utf8', env: this.env(extraEnv), timeout: 120_000,
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  /** Every command the scripts ran, in order, since the last clearCommands(). */
  commands(): string[][] {
    return (this.readFile('/.fake/commands.log') ?? '').split('\n').filter(Boolean).map((line) => JSON.parse(line) as string[]);
  }

  mutatingCommands(): string[][] {
    return this.commands().filter((c) => !isReadOnly(c));
  }

  clearCommands(): void {
    this.writeFile('/.fake/commands.log', '');
  }

  /** Hash of every file under the root except the fake layer's own state, by path. */
  tree(dir = this.root): Record<string, string> {
    const result: Record<string, string> = {};
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const relative = `/${path.relative(this.root, full)}`;
      if (relative === '/.fake' || relative.startsWith('/var/log')) continue;
      if (entry.isDirectory()) Object.assign(result, this.tree(full));
      else result[relative] = `${(statSync(full).mode & 0o777).toString(8)} ${createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16)}`;
    }
    return result;
  }
}
