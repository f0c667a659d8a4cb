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
const PACKAGES = ['linux-image-amd64', 'systemd-sysv', 'udev', 'openssh-server', 'iproute2', 'kmod', 'procps', 'ifupdown', 'isc-dhcp-client', 'ufw', 'openssl', 'dbus'];

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
  const dir = path.join(CACHE, 'bookworm-v2');
  const image: Image = { disk: path.join(dir, 'base.img'), kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initrd.img'), key: path.join(dir, 'id_ed25519'), buildSeconds: 0 };
  if (existsSync(path.join(dir, 'done'))) return image;
  const started = Date.now();
  rmSync(dir, { recursive: true, force: true });
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

export interface Vm {
  sshPort: number;
  /** Runs a shell command in the VM as root; returns stdout (throws on failure). */
  sh(command: string): string;
  /** Reboots and waits for SSH again; returns the seconds it took. */
  reboot(): Promise<number>;
  stop(): void;
  bootSeconds: number;
}

export async function bootVm(image: Image, workDir: string): Promise<Vm> {
  const disk = path.join(workDir, 'disk.img');
  execFileSync('cp', ['--sparse=always', image.disk, disk]);
  const sshPort = await freePort();
  const console = path.join(workDir, 'console.log');
  const child: ChildProcess = spawn('qemu-system-x86_64', [
    '-accel', 'tcg', '-m', '2048', '-smp', '2', '-no-reboot',
    '-kernel', image.kernel, '-initrd', image.initrd, '-append', 'root=/dev/vda rw console=ttyS0 net.ifnames=0',
    '-drive', `file=${disk},format=raw,if=virtio`,
    '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', 'virtio-net-pci,netdev=n0',
    '-display', 'none', '-serial', `file:${console}`,
  ], { stdio: 'ignore' });
  const ssh = ['-i', image.key, '-p', String(sshPort), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5', '-o', 'LogLevel=ERROR', 'root@127.0.0.1'];
  const sh = (command: string) => execFileSync('ssh', [...ssh, command], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  let current = child;
  const waitForSsh = async () => {
    const started = Date.now();
    for (;;) {
      try {
        sh('true');
        return (Date.now() - started) / 1000;
      } catch {
        if (current.exitCode !== null) throw new Error(`the VM stopped; see ${console}`);
        if (Date.now() - started > 300_000) throw new Error(`no SSH after 300 s; see ${console}`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  };
  const vm: Vm = {
    sshPort,
    sh,
    bootSeconds: await waitForSsh(),
    async reboot() {
      // -no-reboot: the guest's reboot ends qemu; start it again on the same disk.
      try {
        sh('systemctl reboot');
      } catch {
        // the connection drops
      }
      await new Promise<void>((resolve) => current.once('exit', () => resolve()));
      current = spawn(child.spawnfile, child.spawnargs.slice(1), { stdio: 'ignore' });
      return waitForSsh();
    },
    stop() {
      current.kill('SIGKILL');
    },
  };
  return vm;
}
