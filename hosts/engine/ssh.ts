/**
 * A node reached over SSH, through the system's OpenSSH client: the agent,
 * ~/.ssh/config (or --ssh-config) and known_hosts work as they do for the
 * user. Host keys are checked; a key seen for the first time is recorded
 * (StrictHostKeyChecking=accept-new) and a changed one is refused. One
 * master connection per node is reused for every command. A user other than
 * root runs everything through `sudo -n` (never a password prompt).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ClusterNode } from '../../config/schema';
import { type CommandResult, type ExecOptions, type Host, spawnCommand } from './host';
import { shellLine } from './shell';

export interface SshOptions {
  /** An ssh_config file used instead of ~/.ssh/config. */
  sshConfig?: string;
  /** Tests only: the folder standing for `/` on the node, and the environment of its commands. */
  root?: string;
  env?: Record<string, string>;
}

/**
 * Where the folder of the control sockets goes. A socket's path must fit in
 * 104 bytes (macOS; 108 on Linux), and ssh makes it the folder plus about 74
 * characters (kube-ssh-XXXXXX/, a 40-character %C hash, a temporary suffix):
 * a long TMPDIR (macOS gives /var/folders/..../T/) falls back to /tmp.
 */
export function controlParent(temporary = tmpdir()): string {
  return temporary.length <= 30 ? temporary : '/tmp';
}

const FILE_MISSING = 44;
/** ssh's own exit code: the connection failed, not the command. */
const SSH_FAILED = 255;

export class SshHost implements Host {
  private static controlDir: string | undefined;
  private static readonly opened = new Set<SshHost>();
  private readonly root: string;

  constructor(readonly node: ClusterNode, private readonly options: SshOptions = {}) {
    this.root = options.root ?? '/';
  }

  /** Where SSH connects: nodes[].ssh.host, else the node's address. */
  private get destination(): string {
    return this.node.ssh.host ?? this.node.address;
  }

  /** user@host:port, for messages. */
  get target(): string {
    return `${this.node.ssh.user}@${this.destination}:${this.node.ssh.port}`;
  }

  private sshArgs(): string[] {
    SshHost.controlDir ??= mkdtempSync(path.join(controlParent(), 'kube-ssh-'));
    SshHost.opened.add(this);
    return [
      'ssh',
      ...(this.options.sshConfig ? ['-F', this.options.sshConfig] : []),
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=accept-new',
      '-o', 'ConnectTimeout=10',
      '-o', 'ServerAliveInterval=15',
      '-o', 'ServerAliveCountMax=4',
      '-o', 'ControlMaster=auto',
      '-o', `ControlPath=${path.join(SshHost.controlDir, '%C')}`,
      '-o', 'ControlPersist=60',
      '-p', String(this.node.ssh.port),
      ...(this.node.ssh.identityFile ? ['-i', this.node.ssh.identityFile, '-o', 'IdentitiesOnly=yes'] : []),
      '-l', this.node.ssh.user,
      this.destination,
      '--',
    ];
  }

  /** Runs argv on the node as root (through sudo -n for other users). */
  private remote(argv: string[], options: ExecOptions = {}): Promise<CommandResult> {
    const sudo = this.node.ssh.user === 'root' ? [] : ['sudo', '-n', '--'];
    const command = shellLine([...sudo, ...argv]);
    return spawnCommand([...this.sshArgs(), command], options);
  }

  private at(file: string): string {
    return path.posix.join(this.root, file);
  }

  exec(argv: string[], options: ExecOptions = {}): Promise<CommandResult> {
    // Output is parsed: the C locale, whatever the node's is.
    const env = Object.entries({ LC_ALL: 'C', ...this.options.env }).map(([k, v]) => `${k}=${v}`);
    return this.remote(['env', ...env, ...argv], options);
  }

  async read(file: string): Promise<string | undefined> {
    const result = this.connected(await this.remote(['sh', '-c', `[ -e "$1" ] || exit ${FILE_MISSING}; cat -- "$1"`, 'sh', this.at(file)]), `reading ${file}`);
    if (result.code === FILE_MISSING) return undefined;
    if (result.code !== 0) throw new Error(`${this.node.name}: cannot read ${file}: ${result.stderr.trim()}`);
    return result.stdout;
  }

  async write(file: string, content: string, mode: number): Promise<void> {
    const script = 'set -e; mkdir -p "$(dirname "$1")"; t=$(mktemp "$1.tmp-XXXXXX"); cat > "$t"; chmod "$2" "$t"; sync "$t"; mv -f "$t" "$1"';
    const result = await this.remote(['sh', '-c', script, 'sh', this.at(file), mode.toString(8)], { input: content });
    if (result.code !== 0) throw new Error(`${this.node.name}: cannot write ${file}: ${result.stderr.trim()}`);
  }

  /** A lost connection is an error, never "no such file". */
  private connected(result: CommandResult, what: string): CommandResult {
    if (result.code === SSH_FAILED) throw new Error(`${this.node.name}: SSH to ${this.target} failed while ${what}: ${result.stderr.trim()}`);
    return result;
  }

  async mode(file: string): Promise<number | undefined> {
    const result = this.connected(await this.remote(['sh', '-c', `[ -e "$1" ] || exit ${FILE_MISSING}; stat -c %a -- "$1"`, 'sh', this.at(file)]), `reading the mode of ${file}`);
    if (result.code === FILE_MISSING) return undefined;
    if (result.code !== 0) throw new Error(`${this.node.name}: cannot stat ${file}: ${result.stderr.trim()}`);
    return Number.parseInt(result.stdout.trim(), 8);
  }

  async remove(file: string): Promise<void> {
    const result = this.connected(await this.remote(['rm', '-rf', '--', this.at(file)]), `removing ${file}`);
    if (result.code !== 0) throw new Error(`${this.node.name}: cannot remove ${file}: ${result.stderr.trim()}`);
  }

  async list(dir: string): Promise<string[]> {
    const result = this.connected(await this.remote(['sh', '-c', `[ -d "$1" ] || exit ${FILE_MISSING}; ls -1A -- "$1"`, 'sh', this.at(dir)]), `listing ${dir}`);
    if (result.code === FILE_MISSING) return [];
    if (result.code !== 0) throw new Error(`${this.node.name}: cannot list ${dir}: ${result.stderr.trim()}`);
    return result.stdout.split('\n').filter(Boolean).sort();
  }

  /**
   * Checks that the node answers, the login works without a prompt, and
   * sudo needs no password: a one-line problem, or undefined.
   */
  async problem(): Promise<string | undefined> {
    const login = await spawnCommand([...this.sshArgs(), 'true']);
    if (login.code !== 0) {
      const reason = login.stderr.trim().split('\n').filter(Boolean).pop() ?? `ssh exited ${login.code}`;
      if (/Permission denied/.test(reason)) return `${this.node.name}: SSH login as ${this.target} refused (${reason}); add your key to the node's authorized_keys or set nodes[].ssh.identityFile`;
      if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(login.stderr)) return `${this.node.name}: the SSH host key of ${this.target} changed since it was recorded in known_hosts; check the machine, then remove the old key with ssh-keygen -R`;
      return `${this.node.name}: cannot reach ${this.target} over SSH (${reason})`;
    }
    if (this.node.ssh.user !== 'root') {
      const sudo = await spawnCommand([...this.sshArgs(), 'sudo -n true']);
      if (sudo.code !== 0) return `${this.node.name}: sudo asks ${this.node.ssh.user} for a password; allow it without one (NOPASSWD in /etc/sudoers.d) or log in as root`;
    }
    return undefined;
  }

  /** Closes the master connections and their folder. */
  static async closeAll(): Promise<void> {
    const hosts = [...SshHost.opened];
    SshHost.opened.clear();
    await Promise.all(hosts.map((host) => {
      const args = host.sshArgs();
      // `ssh -O exit <destination>`: the options and destination, without the trailing `--`.
      return spawnCommand([args[0], '-O', 'exit', ...args.slice(1, -1)]);
    }));
    SshHost.opened.clear();
    if (SshHost.controlDir) rmSync(SshHost.controlDir, { recursive: true, force: true });
    SshHost.controlDir = undefined;
  }
}
