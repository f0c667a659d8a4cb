/**
 * The containerd config prep writes, read by a real containerd 2 (built by
 * npm run kube:build): `containerd config dump` loads the file as the daemon
 * would and prints what it makes of it. The version 3 file is what prep
 * writes for containerd 2.x; the version 2 file, what it writes for 1.x, must
 * also survive containerd 2's migration (a node upgraded from 1.7 to 2.x).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { containerdConfig } from '../hosts/node/files';
import { defaultConfig } from './helpers';
import { builtKubernetes } from './kube/control-plane';
import { missingPrerequisite } from './prerequisites';

const kube = builtKubernetes(defaultConfig().kubernetes.version);

/** `containerd config dump` as sections: the innermost table header, and its key = value lines. */
function dump(configText: string): Map<string, Map<string, string>> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'containerd-')), 'config.toml');
  writeFileSync(file, configText);
  const result = spawnSync(kube!.bin('containerd'), ['--config', file, 'config', 'dump'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`containerd config dump exited ${result.status}: ${result.stderr}`);
  const sections = new Map<string, Map<string, string>>();
  let current = new Map<string, string>();
  sections.set('', current);
  for (const line of result.stdout.split('\n').map((l) => l.trim())) {
    const header = /^\[(.+)\]$/.exec(line);
    if (header) sections.set(header[1], (current = new Map()));
    const pair = /^([\w-]+) = (.+)$/.exec(line);
    if (pair) current.set(pair[1], pair[2]);
  }
  return sections;
}

if (!kube) {
  missingPrerequisite('containerd reads prep\'s config', `needs containerd built with Kubernetes v${defaultConfig().kubernetes.version}: run npm run kube:build`);
} else {
  describe('a real containerd 2 reads the config prep writes', () => {
    const runc = "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc";

    test.each([
      ['version 3, for containerd 2.x', 2],
      ['version 2, for containerd 1.x, migrated by containerd 2', 1],
    ])('%s: the systemd cgroup driver for runc, kubeadm\'s pause image pinned, the registry hosts folder', (_name, major) => {
      const sections = dump(containerdConfig('registry.k8s.io/pause:3.10.1', major as number));
      expect(sections.get('')!.get('version')).toBe('3');
      expect(sections.get(runc)?.get('runtime_type')).toBe("'io.containerd.runc.v2'");
      expect(sections.get(`${runc}.options`)?.get('SystemdCgroup')).toBe('true');
      expect(sections.get("plugins.'io.containerd.cri.v1.images'.pinned_images")?.get('sandbox')).toBe("'registry.k8s.io/pause:3.10.1'");
      expect(sections.get("plugins.'io.containerd.cri.v1.images'.registry")?.get('config_path')).toBe("'/etc/containerd/certs.d'");
      // The CNI plugins' folder as containerd 2 reads it (1.x's bin_dir migrated to bin_dirs): flannel's and kubernetes-cni's.
      expect(sections.get("plugins.'io.containerd.cri.v1.runtime'.cni")?.get('bin_dirs')).toBe("['/opt/cni/bin']");
      expect(sections.get("plugins.'io.containerd.cri.v1.runtime'.cni")?.get('conf_dir')).toBe("'/etc/cni/net.d'");
    });

    test('the check can fail: containerd\'s own default leaves SystemdCgroup off', () => {
      const sections = dump('version = 3\n');
      expect(sections.get(`${runc}.options`)?.get('SystemdCgroup')).toBe('false');
    });
  });
}
