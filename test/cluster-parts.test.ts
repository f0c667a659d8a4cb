/** The pure parts of scripts/kube-build/cluster-parts.ts: where the versions come from, flanneld's source fix, kube-vip's ldflags. */
import { KUBE_VIP_IMAGE } from '../config/images';
import { KUBE_VIP_VERSION, kubeadmImageTag, kubeVipLdflags, parseRuncVersion, partRecipes, requiredModules, withoutImport } from '../scripts/kube-build/cluster-parts';

const IMAGES = `registry.k8s.io/kube-apiserver:v1.37.2
registry.k8s.io/kube-controller-manager:v1.37.2
registry.k8s.io/kube-scheduler:v1.37.2
registry.k8s.io/kube-proxy:v1.37.2
registry.k8s.io/coredns/coredns:v1.14.6
registry.k8s.io/pause:3.10.2
registry.k8s.io/etcd:3.6.8-0
`;

test('runc is the version containerd names in script/setup/runc-version, with or without its v', () => {
  expect(parseRuncVersion('v1.3.6\n')).toBe('1.3.6');
  expect(parseRuncVersion('1.2.0-rc.1')).toBe('1.2.0-rc.1');
  expect(() => parseRuncVersion('main\n')).toThrow(/names no version/);
});

test('coredns and pause are the tags of the images kubeadm pulls, without a v', () => {
  expect(kubeadmImageTag(IMAGES, 'coredns')).toBe('1.14.6');
  expect(kubeadmImageTag(IMAGES, 'pause')).toBe('3.10.2');
  expect(() => kubeadmImageTag('registry.k8s.io/etcd:3.6.8-0\n', 'pause')).toThrow(/no pause image/);
});

test("flanneld's source loses the import of the backend left out, and only it", () => {
  const main = `import (
\t"fmt"

\t_ "github.com/flannel-io/flannel/pkg/backend/tencentvpc"
\t_ "github.com/flannel-io/flannel/pkg/backend/vxlan"
)
`;
  expect(withoutImport(main, 'github.com/flannel-io/flannel/pkg/backend/tencentvpc')).toBe(`import (
\t"fmt"

\t_ "github.com/flannel-io/flannel/pkg/backend/vxlan"
)
`);
});

test('the tencentcloud SDK requirements are found in both require forms', () => {
  const goMod = `module github.com/flannel-io/flannel

require github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common v1.3.149

require (
\tgithub.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc v1.3.149
\tgithub.com/vishvananda/netlink v1.3.1
)
`;
  expect(requiredModules(goMod, 'github.com/tencentcloud/tencentcloud-sdk-go/')).toEqual([
    'github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common',
    'github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc',
  ]);
});

test('each part has one recipe, under its tools-cache name', () => {
  expect(partRecipes.map((r) => [r.part, r.tool])).toEqual([
    ['runc', 'runc'], ['shim', 'containerd-shim-runc-v2'], ['ctr', 'ctr'], ['crane', 'crane'],
    ['coredns', 'coredns'], ['flanneld', 'flanneld'], ['installConf', 'flannel-install-conf'], ['flannelCni', 'flannel-cni'], ['pause', 'pause'],
    ['etcdctl', 'etcdctl'], ['etcdutl', 'etcdutl'], ['kubeVip', 'kube-vip'],
  ]);
});

test("kube-vip is the tag of KUBE_VIP_IMAGE, built with its Makefile's ldflags", () => {
  expect(`ghcr.io/kube-vip/kube-vip:v${KUBE_VIP_VERSION}`).toBe(KUBE_VIP_IMAGE);
  expect(kubeVipLdflags('1.0.0', 'd8877072d4a1dcb2fde2ccd22b97dbf65a1c2a73')).toBe('-s -w -X=main.Version=v1.0.0 -X=main.Build=d8877072d4a1dcb2fde2ccd22b97dbf65a1c2a73 -extldflags -static');
  expect(kubeVipLdflags('1.0.0')).toBe('-s -w -X=main.Version=v1.0.0 -extldflags -static');
});
