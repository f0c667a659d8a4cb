#!/usr/bin/env bash
# Installs what the tests need besides npm packages (Debian/Ubuntu, as root).
# .ci/run runs it; run it once on a fresh machine before `npm run test:all`.
#   openssh-server/-client: the bootstrap tests run a real sshd on 127.0.0.2 and 127.0.0.3
#   openssl: the fake kubeadm of the node-script tests makes a real CA certificate
#   debootstrap, qemu-system-x86, apt-utils, gpg: the VM test (npm run test:vm) and the real cluster (npm run test:cluster)
#   systemd-container: systemd-nspawn, which runs the real cluster's nodes as system containers (npm run test:cluster)
#   iproute2: the real-Kubernetes test's network namespace
#   docker-registry: the registry the real cluster pulls its images from
#   libseccomp-dev, gcc, libc6-dev: runc (cgo with libseccomp) and the pause binary, built by npm run kube:build
#   openjdk-17-jre-headless: the Tomcat 6 test (test/tomcat.test.ts)
# and checks for Go 1.26 or newer, which npm run kube:build needs (Traefik v3.7's module asks for 1.26; Debian's own golang is too old).
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-tools.sh: run it as root (sudo ./scripts/install-test-tools.sh)" >&2
  exit 2
fi
missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null || missing+=(openssh-client)
command -v openssl >/dev/null || missing+=(openssl)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[ -x /usr/bin/systemd-nspawn ] || missing+=(systemd-container)
command -v apt-ftparchive >/dev/null || missing+=(apt-utils)
command -v gpg >/dev/null || missing+=(gpg)
command -v ip >/dev/null || missing+=(iproute2)
[ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
[ -e /usr/include/seccomp.h ] || missing+=(libseccomp-dev)
command -v gcc >/dev/null || missing+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The VM test starts its own registry; the package's system service (port 5000) is not needed.
  if [[ " ${missing[*]} " == *" docker-registry "* ]]; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
fi
go_minor=$(go env GOVERSION 2>/dev/null | sed -nE 's/^go1\.([0-9]+).*/\1/p')
if [ -z "$go_minor" ] || [ "$go_minor" -lt 26 ]; then
  echo "install-test-tools.sh: npm run kube:build needs Go 1.26 or newer (found: $(go version 2>/dev/null || echo none)); install it from https://go.dev/dl/" >&2
  exit 1
fi
echo "test prerequisites installed ($(go env GOVERSION))"
