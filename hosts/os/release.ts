/** Which OS family a node runs, from /etc/os-release; unsupported systems refused with the reason and the way out. */
import { UserError } from '../../config/errors';
import type { ClusterConfig } from '../../config/schema';

export type OsFamily = 'el9' | 'debian' | 'ubuntu';

export interface OsRelease {
  id: string;
  versionId: string;
  prettyName: string;
  idLike: string[];
  /** bookworm, jammy, noble: the suite of Debian's and Ubuntu's repositories. */
  codename: string;
}

export function parseOsRelease(text: string): OsRelease {
  const fields = Object.fromEntries(text.split('\n').flatMap((line) => {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    return match ? [[match[1], match[2].replace(/^["']|["']$/g, '')]] : [];
  }));
  return {
    id: fields.ID ?? '',
    versionId: fields.VERSION_ID ?? '',
    prettyName: fields.PRETTY_NAME ?? fields.ID ?? 'unknown',
    idLike: (fields.ID_LIKE ?? '').split(/\s+/).filter(Boolean),
    codename: fields.VERSION_CODENAME ?? fields.UBUNTU_CODENAME ?? '',
  };
}

const EL_IDS = ['rocky', 'almalinux', 'centos', 'rhel', 'ol'];

/** The family of a supported OS, or a UserError saying why it is not supported and what to do. */
export function osFamily(release: OsRelease, config: ClusterConfig, node: string): OsFamily {
  const major = release.versionId.split('.')[0];
  const isEl = EL_IDS.includes(release.id) || release.idLike.includes('rhel');
  if (isEl && major === '7') {
    throw new UserError([`${node}: ${release.prettyName} is not supported: EL7 reached end of life on 2024-06-30 and runs cgroup v1, which the kubelet of Kubernetes ${config.kubernetes.version} refuses (1.35 and later fail on cgroup v1); reinstall the node with Rocky Linux 9, AlmaLinux 9, CentOS Stream 9, Ubuntu 22.04/24.04 or Debian 12`]);
  }
  if (isEl && major === '9') return 'el9';
  if (release.id === 'debian' && major === '12') return 'debian';
  if (release.id === 'ubuntu' && ['22.04', '24.04'].includes(release.versionId)) return 'ubuntu';
  throw new UserError([`${node}: ${release.prettyName} is not supported; use Rocky Linux 9, AlmaLinux 9, CentOS Stream 9, Ubuntu 22.04/24.04 or Debian 12`]);
}
