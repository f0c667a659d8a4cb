/**
 * Real Debian 12 VMs for the VM test: a root filesystem made with debootstrap
 * (cached between runs on the same machine), turned into a disk image, and
 * booted with qemu under software emulation (tcg), SSH forwarded from a
 * loopback port. User-mode networking is restricted: the VM reaches nothing
 * but the addresses forwarded to this machine's loopback (the apt proxy that
 * lets through Debian's archive only, and the test's package repository;
 * see egress.ts), and nothing reaches the VM but its SSH port.
 *
 * Every qemu (and the test's switch) is killed by the kernel when this
 * process ends, however it ends, and by stopAll() when the test is done.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';

export const CACHE = process.env.VM_CACHE ?? '/var/tmp/kube-hosts-vm-cache';
const MIRROR = 'http://deb.debian.org/debian';
// curl and ca-certificates, as in Debian's cloud images (prep installs them where they are missing).
const PACKAGES = ['linux-image-amd64', 'curl', 'ca-certificates', 'systemd-sysv', 'udev', 'openssh-server', 'iproute2', 'kmod', 'procps', 'ifupdown', 'isc-dhcp-client', 'ufw', 'openssl', 'dbus'];

/** Processes the VM test started and has not seen exit. */
const children = new Set<ChildProcess>();

/**
 * Starts a process that must not outlive the test: the kernel kills it when
 * this process ends, however it ends (setpriv --pdeathsig, util-linux).
 */
export function spawnTracked(command: string, args: string[], options: Parameters<typeof spawn>[2]): ChildProcess {
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Kills every VM and helper process still running. */
export function stopAll(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

export function vmToolsMissing(): string[] {
  const tools = ['/usr/sbin/debootstrap', '/usr/bin/qemu-system-x86_64', '/usr/sbin/mkfs.ext4', '/usr/bin/apt-ftparchive', '/usr/bin/gpg', '/usr/bin/dpkg-deb'];
  const missing = tools.filter((t) => !existsSync(t));
  if (!missing.includes('/usr/bin/qemu-system-x86_64')) {
    // The private network uses the stream netdev, new in qemu 7.2.
    const version = /version (\d+)\.(\d+)/.exec(execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }));
    if (!version || Number(version[1]) * 100 + Number(version[2]) < 702) missing.push(`qemu 7.2 or later (found ${version ? `${version[1]}.${version[2]}` : 'an unknown version'})`);
  }
  return [...missing, ...(process.getuid?.() === 0 ? [] : ['root'])];
}

export interface Image {
  disk: string;
  kernel: string;
  initrd: string;
  key: string;
  /** Seconds spent building it (0 when it came from the cache). */
  buildSeconds: number;
}

/** The base image: built once, then reused from CACHE. */
export function baseImage(): Image {
  const dir = path.join(CACHE, 'bookworm-v4');
  const image: Image = { disk: path.join(dir, 'base.img'), kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img'), key: path.join(dir, 'id_ed25519'), buildSeconds: 0 };
  if (existsSync(path.join(dir, 'done'))) return image;
  const started = Date.now();
  // Older images of this cache are not used any more (and a half-built one is started over).
  for (const old of existsSync(CACHE) ? readdirSync(CACHE) : []) {
    if (/^bookworm-v\d+$/.test(old)) rmSync(path.join(CACHE, old), { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  try {
    buildImage(dir, image);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { ...image, buildSeconds: (Date.now() - started) / 1000 };
}

function buildImage(dir: string, image: Image): void {
  const rootfs = path.join(dir, 'rootfs');
  execFileSync('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, 'bookworm', rootfs, MIRROR], { stdio: 'ignore' });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', image.key]);
  const put = (file: string, content: string) => {
    mkdirSync(path.dirname(path.join(rootfs, file)), { recursive: true });
    writeFileSync(path.join(rootfs, file), content);
  };
  put('/etc/hostname', 'localhost\n');
  put('/etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  put('/etc/network/interfaces', 'auto lo\niface lo inet loopback\nallow-hotplug eth0\niface eth0 inet dhcp\n');
  put('/etc/apt/sources.list', `deb ${MIRROR} bookworm main\n`);
  // The tutorial's VMs have swap: a swap file in fstab (made at the first boot: mkfs.ext4 -d would copy it with holes).
  put('/etc/fstab', '/dev/vda / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n');
  put('/root/.ssh/authorized_keys', execFileSync('cat', [`${image.key}.pub`], { encoding: 'utf8' }));
  execFileSync('chroot', [rootfs, '/bin/sh', '-c', 'passwd -d root >/dev/null']);
  const boot = readdirSync(path.join(rootfs, 'boot'));
  copyFileSync(path.join(rootfs, 'boot', boot.find((f) => f.startsWith('vmlinuz-'))!), image.kernel);
  copyFileSync(path.join(rootfs, 'boot', boot.find((f) => f.startsWith('initrd.img-'))!), image.initrd);
  // Room for a node's images and containerd's snapshots (sparse: only what is written takes space).
  execFileSync('mkfs.ext4', ['-q', '-d', rootfs, image.disk, '8G']);
  rmSync(rootfs, { recursive: true, force: true });
  writeFileSync(path.join(dir, 'done'), '');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface VmOptions {
  /** Names the VM in messages and its console log (console-<name>.log). */
  name: string;
  memoryMiB: number;
  cpus: number;
  /** Distinct per VM: kubeadm tells nodes apart by MAC addresses and product_uuid. */
  index: number;
  /** Raw disk images attached after the root disk (/dev/vdb, ...). */
  disks?: string[];
  /** The only addresses the VM can reach outside itself: guest address:port to a port on this machine's loopback. */
  forwards?: Forward[];
}

export interface Forward {
  /** Where the VM connects, e.g. 10.0.2.100:80 (within user-mode networking's 10.0.2.0/24). */
  guest: string;
  /** The port on 127.0.0.1 that answers. */
  hostPort: number;
}

/** Relays one connection (qemu's guestfwd cmd: spawns it per connection on its stdin/stdout) to a loopback port. */
const RELAY = path.join(__dirname, 'relay.cjs');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Vm {
  name: string;
  sshPort: number;
  /** Runs a short shell command in the VM as root; returns stdout (throws on failure). Blocks this process: servers it runs cannot answer meanwhile. */
  sh(command: string, input?: string): string;
  /** Runs a command without blocking this process: for long ones, and any that reach the servers this process runs (repository, proxy). */
  run(command: string): Promise<RunResult>;
  /** Reboots and waits for SSH again; returns the seconds it took. */
  reboot(): Promise<number>;
  stop(): void;
  bootSeconds: number;
}

const DEFAULTS: VmOptions = { name: 'vm', memoryMiB: 2048, cpus: 2, index: 1 };

export async function bootVm(image: Image, workDir: string, options: Partial<VmOptions> = {}): Promise<Vm> {
  const { name, memoryMiB, cpus, index, disks = [], forwards = [] } = { ...DEFAULTS, ...options };
  const hex = index.toString(16).padStart(2, '0');
  const disk = path.join(workDir, `disk-${name}.img`);
  execFileSync('cp', ['--sparse=always', image.disk, disk]);
  const sshPort = await freePort();
  const consoleLog = path.join(workDir, `console-${name}.log`);
  const args = [
    '-accel', 'tcg', '-m', String(memoryMiB), '-smp', String(cpus), '-no-reboot',
    '-uuid', `6b1c1f0e-0000-4000-8000-0000000000${hex}`,
    '-kernel', image.kernel, '-initrd', image.initrd, '-append', 'root=/dev/vda rw console=ttyS0 net.ifnames=0',
    '-drive', `file=${disk},format=raw,if=virtio`,
    ...disks.flatMap((d) => ['-drive', `file=${d},format=raw,if=virtio`]),
    '-netdev', [
      // restrict=on: no packet leaves for anywhere but the forwards below; SSH comes in from loopback.
      'user,id=n0,restrict=on', `hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
      ...forwards.map((f) => `guestfwd=tcp:${f.guest}-cmd:${process.execPath} ${RELAY} ${f.hostPort}`),
    ].join(','), '-device', `virtio-net-pci,netdev=n0,mac=52:54:00:12:34:${hex}`,
    '-display', 'none', '-serial', `file:${consoleLog}`,
  ];
  const qemuLog = path.join(workDir, `qemu-${name}.log`);
  const start = () => {
    const log = openSync(qemuLog, 'a');
    try {
      return spawnTracked('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', log] });
    } finally {
      closeSync(log);
    }
  };
  let current: ChildProcess = start();
  // One SSH connection per VM, reused by every command: under tcg each handshake costs about a second.
  const ssh = ['-i', image.key, '-p', String(sshPort), '-o', 'ControlMaster=auto', '-o', `ControlPath=${path.join(workDir, `ssh-${name}`)}`, '-o', 'ControlPersist=600', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5', '-o', 'ServerAliveInterval=10', '-o', 'ServerAliveCountMax=6', '-o', 'LogLevel=ERROR', 'root@127.0.0.1'];
  // Short commands only: a hung guest fails the test after 5 minutes instead of blocking it.
  const sh = (command: string, input?: string) => execFileSync('ssh', [...ssh, command], { encoding: 'utf8', input: input ?? '', stdio: ['pipe', 'pipe', 'pipe'], timeout: 300_000 });
  const run = (command: string) => new Promise<RunResult>((resolve) => {
    const child = spawn('ssh', [...ssh, command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
  const waitForSsh = async () => {
    const started = Date.now();
    for (;;) {
      if ((await run('true')).code === 0) return (Date.now() - started) / 1000;
      if (current.exitCode !== null || current.signalCode !== null) throw new Error(`${name}: the VM stopped; see ${consoleLog} and ${qemuLog}`);
      if (Date.now() - started > 300_000) throw new Error(`${name}: no SSH after 300 s; see ${consoleLog}`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };
  const stop = () => {
    current.kill('SIGKILL');
  };
  let bootSeconds: number;
  try {
    bootSeconds = await waitForSsh();
  } catch (error) {
    stop();
    throw error;
  }
  return {
    name,
    sshPort,
    sh,
    run,
    bootSeconds,
    async reboot() {
      // -no-reboot: the guest's reboot ends qemu; start it again on the same disk.
      const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
      await run('systemctl reboot');
      await exited;
      current = start();
      return waitForSsh();
    },
    stop,
  };
}

/**
 * A disk with this checkout (tracked and new files, node_modules) under
 * /repo and this machine's node binary under /bin: what a user has after
 * cloning the repository and running npm ci on their first VM.
 */
export function projectDisk(workDir: string, repoRoot: string): string {
  const staging = path.join(workDir, 'project');
  try {
    return buildProjectDisk(workDir, repoRoot, staging);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function buildProjectDisk(workDir: string, repoRoot: string, staging: string): string {
  mkdirSync(path.join(staging, 'repo'), { recursive: true });
  mkdirSync(path.join(staging, 'bin'), { recursive: true });
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\0').filter((f) => f && existsSync(path.join(repoRoot, f)));
  const archive = execFileSync('tar', ['--null', '-T', '-', '-cf', '-'], { cwd: repoRoot, input: files.join('\0'), maxBuffer: 1 << 30 });
  execFileSync('tar', ['-xf', '-', '-C', path.join(staging, 'repo')], { input: archive, maxBuffer: 1 << 30 });
  execFileSync('cp', ['-a', path.join(repoRoot, 'node_modules'), path.join(staging, 'repo', 'node_modules')]);
  copyFileSync(process.execPath, path.join(staging, 'bin', 'node'));
  execFileSync('chmod', ['755', path.join(staging, 'bin', 'node')]);
  const disk = path.join(workDir, 'project.img');
  execFileSync('mkfs.ext4', ['-q', '-d', staging, disk, '2G']);
  return disk;
}

/** A run's disposable files in its work folder: disks, keys, package repositories, registry storage, image layers, SSH control and switch sockets (logs stay). */
export function removeRunFiles(workDir: string): void {
  for (const file of existsSync(workDir) ? readdirSync(workDir) : []) {
    if (/\.img$|^id_ed25519|^package-repos$|^registry$|^registry-storage$|^image-layers$|^ssh-|\.sock$/.test(file)) rmSync(path.join(workDir, file), { recursive: true, force: true });
  }
}

/**
 * A run killed before its clean-up (kill -9, a lost terminal) leaves its disks
 * in its work folder; the next run removes them. Unlinking cannot harm a VM
 * still running: qemu keeps its open disk.
 */
export function removeEarlierRunFiles(workDir: string): void {
  const parent = path.dirname(workDir);
  const prefix = path.basename(workDir).replace(/[^-]*$/, '');
  for (const dir of readdirSync(parent)) {
    if (dir.startsWith(prefix) && path.join(parent, dir) !== workDir) removeRunFiles(path.join(parent, dir));
  }
}

/** Seconds per labelled stage, for the timing summary the VM tests print. */
export function timer() {
  const timings: Record<string, number> = {};
  return {
    timings,
    async time<T>(label: string, body: () => Promise<T> | T): Promise<T> {
      const started = Date.now();
      try {
        return await body();
      } finally {
        timings[label] = (Date.now() - started) / 1000;
      }
    },
    summary: () => Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(1)}s`).join(', '),
  };
}
