#!/usr/bin/env bash
# Build (or reuse) the nested-CI VM image: Debian's stock kernel as an uncompressed ELF (it has
# a PVH note, so QEMU boots it directly with -kernel and skips the slow self-decompression
# under TCG) and a small initramfs: static busybox, init, and the KVM, tun, vhost-net, overlay,
# 9p and virtio modules in load order. Neither the project nor node is in the image: run.sh shares
# the host's root file system into the VM over 9p (read-only; init overlays a tmpfs), so the
# VM runs the host's own node, python3 and iproute2 against the repository at its host path,
# and the image only changes when its inputs change (kernel package, busybox, this script,
# init).
#
# Usage: ci/nested/image.sh        prints "<kernel> <initrd>" (paths in the cache) on stdout
# Env:   IX_NESTED_CACHE           cache folder (default ~/.cache/ix-nested)
#        IX_NESTED_KERNEL_PKG      Debian kernel package (default: what linux-image-amd64 depends on)
#        IX_NESTED_KERNEL_DEB      a local linux-image-*.deb to use instead (hosts without Debian apt)
set -euo pipefail
export LC_ALL=C
here="$(cd "$(dirname "$0")" && pwd)"
cache="${IX_NESTED_CACHE:-$HOME/.cache/ix-nested}"
mkdir -p "$cache"
log() { echo "nested/image: $*" >&2; }
die() { echo "nested/image: error: $*" >&2; exit 1; }

for t in apt-get apt-cache dpkg-deb objcopy xz flock sha256sum; do
  command -v "$t" >/dev/null || die "'$t' is missing; install the packages in ci/apt-packages.txt (bash ci/install.sh)"
done
# busybox must be static: it runs in the initramfs without libraries (package busybox-static)
busybox_bin=/bin/busybox
[ -x "$busybox_bin" ] || die "$busybox_bin is missing; install busybox-static"
if command -v file >/dev/null && ! file -L "$busybox_bin" | grep -q 'statically linked'; then
  die "$busybox_bin is dynamically linked; install busybox-static instead of busybox"
fi

# one build at a time per cache (parallel test runs share it); the lock goes with the process
exec 9>"$cache/lock"
flock 9

# --- resolve the kernel package (needs the apt package lists) ---------------------------------
kdeb="${IX_NESTED_KERNEL_DEB:-}"
if [ -n "$kdeb" ]; then
  # a .deb given by the user (e.g. on a non-Debian CI host, fetched from deb.debian.org)
  [ -f "$kdeb" ] || die "IX_NESTED_KERNEL_DEB=$kdeb is not a file"
  kdeb="$(readlink -f "$kdeb")"
  kpkg="$(dpkg-deb -f "$kdeb" Package)"
  kver_deb="$(dpkg-deb -f "$kdeb" Version) sha256:$(sha256sum <"$kdeb" | cut -c1-64)"
else
  kpkg="${IX_NESTED_KERNEL_PKG:-}"
  if [ -z "$kpkg" ]; then
    kpkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ && !k {k=$2} END {print k}')"
    if [ -z "$kpkg" ]; then
      log "no apt package lists; running apt-get update"
      apt-get update -qq || die "apt-get update failed; cannot find Debian's kernel package"
      kpkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ && !k {k=$2} END {print k}')"
    fi
  fi
  [ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 to a kernel package (not a Debian host?); set IX_NESTED_KERNEL_PKG or IX_NESTED_KERNEL_DEB"
  kver_deb="$(apt-cache policy "$kpkg" | awk '/Candidate:/{print $2}')"
  [ -n "$kver_deb" ] && [ "$kver_deb" != "(none)" ] || die "apt has no candidate for $kpkg"
fi

# note: no `| head` or `awk ... exit` in this script: with pipefail, the writer's SIGPIPE
# would fail the whole build at random

# --- cache key: every input of the image ------------------------------------------------------
key="$( {
  echo "$kpkg $kver_deb"
  sha256sum "$here/image.sh" "$here/init" "$busybox_bin"
} | sha256sum | cut -c1-16)"
out="$cache/img-$key"
if [ -f "$out/ready" ]; then
  touch "$out/ready" # most recently used: pruned last
  log "reusing $out"
  echo "$out/vmlinux $out/initrd.cpio"
  exit 0
fi

log "building $out ($kpkg $kver_deb)"
rm -rf "$out.tmp"
mkdir -p "$out.tmp/deb" "$out.tmp/initramfs"
if [ -n "$kdeb" ]; then
  cp "$kdeb" "$out.tmp/deb/"
else
  (cd "$out.tmp/deb" && apt-get download "$kpkg=$kver_deb" >/dev/null 2>&1) ||
    die "apt-get download $kpkg=$kver_deb failed (network? run apt-get update)"
fi
dpkg-deb -x "$out.tmp/deb/"*.deb "$out.tmp/deb/x"
kdir="$(echo "$out.tmp/deb/x/lib/modules/"*)"
kname="$(basename "$kdir")"

# --- the ELF kernel inside vmlinuz: find the compressed payload and decompress it ------------
vmlinuz="$out.tmp/deb/x/boot/vmlinuz-$kname"
unpack() { # $1 = byte pattern of the format's magic, rest = decompressor command
  local magic="$1" off
  shift
  off="$(grep -m1 -obUaP "$magic" "$vmlinuz" | cut -d: -f1)" || true
  [ -n "$off" ] || return 1
  # the stream is followed by other data: the decompressor complains at its end; output is whole
  tail -c +"$((off + 1))" "$vmlinuz" | "$@" 2>/dev/null >"$out.tmp/vmlinux" || true
  [ "$(head -c 4 "$out.tmp/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ]
}
unpack '\xfd7zXZ\x00' xz -dc || unpack '\x28\xb5\x2f\xfd' zstd -dc || unpack '\x1f\x8b\x08' gzip -dc ||
  die "found no xz, zstd or gzip stream holding an ELF kernel in $vmlinuz"

# --- modules: the wanted ones plus their dependencies, from .modinfo, in load order ------------
declare -A modpath=()
while IFS= read -r f; do
  n="$(basename "$f")"; n="${n%%.ko*}"; modpath["${n//-/_}"]="$f"
done < <(find "$kdir/kernel" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst')
# newer Debian kernels ship modules compressed; busybox insmod wants them plain: unpack the
# few that are used, in place
plain() {
  case "$1" in
    *.ko.xz) xz -dc "$1" >"${1%.xz}" && echo "${1%.xz}" ;;
    *.ko.zst) zstd -qdc "$1" >"${1%.zst}" && echo "${1%.zst}" ;;
    *) echo "$1" ;;
  esac
}
order=()
declare -A seen=()
add_mod() { # depth-first: dependencies before the module
  local n="${1//-/_}" f deps d
  [ -n "${seen[$n]:-}" ] && return 0
  seen[$n]=1
  f="${modpath[$n]:-}"
  [ -n "$f" ] || die "module $n not found in $kpkg"
  f="$(plain "$f")"
  modpath[$n]="$f"
  deps="$(objcopy -O binary --only-section=.modinfo "$f" /dev/stdout | tr '\0' '\n' | sed -n 's/^depends=//p')"
  for d in ${deps//,/ }; do add_mod "$d"; done
  order+=("$n")
}
# vhost_net (with vhost, vhost_iotlb, tap from its dependencies): the vhost NIC backend's phase
for m in kvm_amd kvm_intel virtio_pci 9pnet_virtio 9p overlay tun vhost_net; do add_mod "$m"; done
# "$out.tmp/initramfs" is the initramfs being assembled in the cache
mkdir -p "$out.tmp/initramfs/lib/modules"
for n in "${order[@]}"; do
  cp "${modpath[$n]}" "$out.tmp/initramfs/lib/modules/$n.ko"
  echo "$n" >>"$out.tmp/initramfs/lib/modules/order"
done
log "modules: ${order[*]}"

# --- busybox and init: everything else comes from the host's root over 9p ----------------------
r="$out.tmp/initramfs"
mkdir -p "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/mnt"
cp "$busybox_bin" "$r/bin/busybox"
ln -s busybox "$r/bin/sh"
cp "$here/init" "$r/init"
chmod 755 "$r/init"

# uncompressed: the kernel unpacks it with memcpy (decompressing under TCG costs time)
(cd "$r" && find . | "$busybox_bin" cpio -o -H newc -R 0:0 2>/dev/null) >"$out.tmp/initrd.cpio"
echo "$kpkg $kver_deb $kname" >"$out.tmp/kernel-version"
rm -rf "$out.tmp/deb" "$out.tmp/initramfs"
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/ready"
# keep the cache small but do not pull an image from under a concurrent run that uses other
# inputs (another checkout, an edited init): keep the three most recently used
for old in $(ls -1td "$cache"/img-*/ready 2>/dev/null | tail -n +4); do rm -rf "$(dirname "$old")"; done
log "built $(du -sh "$out" | cut -f1) in $out"
echo "$out/vmlinux $out/initrd.cpio"
