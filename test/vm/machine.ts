/**
 * Real Debian 12 VMs for the VM test: a root filesystem made with debootstrap
 * (cached between runs on the same machine), turned into a disk image, and
 * booted with qemu under software emulation (tcg), SSH forwarded from a
 * loopback port. User-mode networking only: the VM reaches Debian's mirror
 * and this machine (as 10.0.2.2), nothing reaches the VM but that port.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';

export const CACHE = process.env.VM_CACHE ?? '/var/tmp/kube-hosts-vm-cache';
const MIRROR = 'http://deb.debian.org/debian';
// curl and ca-certificates, as in Debian's cloud images (prep installs them where they are missing).
const PACKAGES = ['linux-image-amd64', 'curl', 'ca-certificates', 'systemd-sysv', 'udev', 'openssh-server', 'iproute2', 'kmod', 'procps', 'ifupdown', 'isc-dhcp-client', 'ufw', 'openssl', 'dbus'];

export function vmToolsMissing(): string[] {
  const tools = ['/usr/sbin/debootstrap', '/usr/bin/qemu-system-x86_64', '/usr/sbin/mkfs.ext4', '/usr/bin/apt-ftparchive', '/usr/bin/gpg', '/usr/bin/dpkg-deb'];
  return [...tools.filter((t) => !existsSync(t)), ...(process.getuid?.() === 0 ? [] : ['root'])];
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
  const dir = path.join(CACHE, 'bookworm-v3');
  const image: Image = { disk: path.join(dir, 'base.img'), kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img'), key: path.join(dir, 'id_ed25519'), buildSeconds: 0 };
  if (existsSync(path.join(dir, 'done'))) return image;
  const started = Date.now();
  // Older images of this cache are not used any more.
  for (const old of existsSync(CACHE) ? readdirSync(CACHE) : []) rmSync(path.join(CACHE, old), { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
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
  execFileSync('mkfs.ext4', ['-q', '-d', rootfs, image.disk, '4G']);
  rmSync(rootfs, { recursive: true, force: true });
  writeFileSync(path.join(dir, 'done'), '');
  return { ...image, buildSeconds: (Date.now() - started) / 1000 };
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
  /** A second NIC on the private switch listening on this unix socket (see switch.cjs). */
  privateSwitch?: string;
  /** Raw disk images attached after the root disk (/dev/vdb, ...). */
  disks?: string[];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Vm {
  name: string;
  sshPort: number;
  /** Runs a short shell command in the VM as root; returns stdout (throws on failure). */
  sh(command: string, input?: string): string;
  /** Runs a long command without blocking this process (the stand-in repository is served from it). */
  run(command: string): Promise<RunResult>;
  /** Reboots and waits for SSH again; returns the seconds it took. */
  reboot(): Promise<number>;
  stop(): void;
  bootSeconds: number;
  /** The private NIC's MAC address (eth1), when there is one. */
  privateMac?: string;
}

const DEFAULTS: VmOptions = { name: 'vm', memoryMiB: 2048, cpus: 2, index: 1 };

export async function bootVm(image: Image, workDir: string, options: Partial<VmOptions> = {}): Promise<Vm> {
  const { name, memoryMiB, cpus, index, privateSwitch, disks = [] } = { ...DEFAULTS, ...options };
  const hex = index.toString(16).padStart(2, '0');
  const disk = path.join(workDir, `disk-${name}.img`);
  execFileSync('cp', ['--sparse=always', image.disk, disk]);
  const sshPort = await freePort();
  const consoleLog = path.join(workDir, `console-${name}.log`);
  const privateMac = privateSwitch ? `52:54:00:aa:00:${hex}` : undefined;
  const args = [
    '-accel', 'tcg', '-m', String(memoryMiB), '-smp', String(cpus), '-no-reboot',
    '-uuid', `6b1c1f0e-0000-4000-8000-0000000000${hex}`,
    '-kernel', image.kernel, '-initrd', image.initrd, '-append', 'root=/dev/vda rw console=ttyS0 net.ifnames=0',
    '-drive', `file=${disk},format=raw,if=virtio`,
    ...disks.flatMap((d) => ['-drive', `file=${d},format=raw,if=virtio`]),
    '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', `virtio-net-pci,netdev=n0,mac=52:54:00:12:34:${hex}`,
    ...(privateSwitch ? ['-netdev', `stream,id=n1,server=off,addr.type=unix,addr.path=${privateSwitch}`, '-device', `virtio-net-pci,netdev=n1,mac=${privateMac}`] : []),
    '-display', 'none', '-serial', `file:${consoleLog}`,
  ];
  const start = () => spawn('qemu-system-x86_64', args, { stdio: 'ignore' });
  let current: ChildProcess = start();
  // One SSH connection per VM, reused by every command: under tcg each handshake costs about a second.
  const ssh = ['-i', image.key, '-p', String(sshPort), '-o', 'ControlMaster=auto', '-o', `ControlPath=${path.join(workDir, `ssh-${name}`)}`, '-o', 'ControlPersist=600', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5', '-o', 'LogLevel=ERROR', 'root@127.0.0.1'];
  const sh = (command: string, input?: string) => execFileSync('ssh', [...ssh, command], { encoding: 'utf8', input: input ?? '', stdio: ['pipe', 'pipe', 'pipe'] });
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
      if (current.exitCode !== null) throw new Error(`${name}: the VM stopped; see ${consoleLog}`);
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
    privateMac,
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
  rmSync(staging, { recursive: true, force: true });
  return disk;
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
