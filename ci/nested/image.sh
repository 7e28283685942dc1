#!/usr/bin/env bash
# Build (or reuse) the nested-CI VM image: Debian's stock kernel as an uncompressed ELF (it has
# a PVH note, so QEMU boots it directly with -kernel and skips the slow self-decompression
# under TCG) and an initramfs holding busybox, the KVM + 9p + virtio modules in load order,
# and this host's Node.js binary with its shared libraries. The project itself is not in the
# image: run.sh shares the repository into the VM over 9p, so the image only changes when
# its inputs change (kernel package version, busybox, node, this script, init).
#
# Usage: ci/nested/image.sh        prints "<kernel> <initrd>" (paths in the cache) on stdout
# Env:   IX_NESTED_CACHE           cache folder (default ~/.cache/ix-nested)
#        IX_NESTED_KERNEL_PKG      Debian kernel package (default: what linux-image-amd64 depends on)
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
node_bin="$(readlink -f "$(command -v node)")"

# one build at a time per cache (parallel test runs share it); the lock goes with the process
exec 9>"$cache/lock"
flock 9

# --- resolve the kernel package (needs the apt package lists) ---------------------------------
kpkg="${IX_NESTED_KERNEL_PKG:-}"
if [ -z "$kpkg" ]; then
  kpkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ && !k {k=$2} END {print k}')"
  if [ -z "$kpkg" ]; then
    log "no apt package lists; running apt-get update"
    apt-get update -qq || die "apt-get update failed; cannot find Debian's kernel package"
    kpkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ && !k {k=$2} END {print k}')"
  fi
fi
[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 to a kernel package; set IX_NESTED_KERNEL_PKG"
kver_deb="$(apt-cache policy "$kpkg" | awk '/Candidate:/{print $2}')"
[ -n "$kver_deb" ] && [ "$kver_deb" != "(none)" ] || die "apt has no candidate for $kpkg"

# note: no `| head` or `awk ... exit` in this script: with pipefail, the writer's SIGPIPE
# would fail the whole build at random

# --- cache key: every input of the image ------------------------------------------------------
key="$( {
  echo "$kpkg $kver_deb"
  sha256sum "$here/image.sh" "$here/init" "$busybox_bin" "$node_bin"
} | sha256sum | cut -c1-16)"
out="$cache/img-$key"
if [ -f "$out/ready" ]; then
  log "reusing $out"
  echo "$out/vmlinux $out/initrd.cpio"
  exit 0
fi

log "building $out ($kpkg $kver_deb, node $("$node_bin" --version))"
rm -rf "$out.tmp"
mkdir -p "$out.tmp/deb" "$out.tmp/root"
(cd "$out.tmp/deb" && apt-get download "$kpkg=$kver_deb" >/dev/null 2>&1) ||
  die "apt-get download $kpkg=$kver_deb failed (network? run apt-get update)"
dpkg-deb -x "$out.tmp/deb/"*.deb "$out.tmp/deb/x"
kdir="$(echo "$out.tmp/deb/x/lib/modules/"*)"
kname="$(basename "$kdir")"

# --- the ELF kernel inside vmlinuz: find the xz stream and decompress it -----------------------
vmlinuz="$out.tmp/deb/x/boot/vmlinuz-$kname"
off="$(grep -m1 -obUaP '\xfd7zXZ\x00' "$vmlinuz" | cut -d: -f1)"
[ -n "$off" ] || die "no xz stream in $vmlinuz (is the kernel compressed differently?)"
# the stream is followed by other data: xz stops at its end and complains; the output is whole
tail -c +"$((off + 1))" "$vmlinuz" | xz -dc 2>/dev/null >"$out.tmp/vmlinux" || true
head -c 4 "$out.tmp/vmlinux" | grep -q 'ELF' || die "decompressed kernel is not an ELF file"

# --- modules: the wanted ones plus their dependencies, from .modinfo, in load order ------------
declare -A modpath=()
while IFS= read -r f; do
  n="$(basename "$f" .ko)"; modpath["${n//-/_}"]="$f"
done < <(find "$kdir/kernel" -name '*.ko')
order=()
declare -A seen=()
add_mod() { # depth-first: dependencies before the module
  local n="${1//-/_}" f deps d
  [ -n "${seen[$n]:-}" ] && return 0
  seen[$n]=1
  f="${modpath[$n]:-}"
  [ -n "$f" ] || die "module $n not found in $kpkg"
  deps="$(objcopy -O binary --only-section=.modinfo "$f" /dev/stdout | tr '\0' '\n' | sed -n 's/^depends=//p')"
  for d in ${deps//,/ }; do add_mod "$d"; done
  order+=("$n")
}
for m in kvm_amd kvm_intel virtio_pci 9pnet_virtio 9p overlay; do add_mod "$m"; done
mkdir -p "$out.tmp/root/lib/modules"
for n in "${order[@]}"; do
  cp "${modpath[$n]}" "$out.tmp/root/lib/modules/$n.ko"
  echo "$n" >>"$out.tmp/root/lib/modules/order"
done
log "modules: ${order[*]}"

# --- busybox, node and its libraries at their host paths ---------------------------------------
r="$out.tmp/root"
mkdir -p "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/etc" "$r/mnt" "$r/run"
cp "$busybox_bin" "$r/bin/busybox"
ln -s busybox "$r/bin/sh"
cp "$here/init" "$r/init"
chmod 755 "$r/init"
mkdir -p "$r$(dirname "$node_bin")"
cp "$node_bin" "$r$node_bin"
[ "$node_bin" = /usr/bin/node ] || ln -sf "$node_bin" "$r/usr/bin/node"
# libraries of node, plus the ones native addons commonly need (koffi, rolldown)
libs="$(ldd "$node_bin" | awk '/=>/{print $3} /^\s*\//{print $1}')"
for l in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libgcc_s.so.1 libstdc++.so.6 libresolv.so.2; do
  p="$(ldconfig -p | awk -v l="$l" '$1==l && /x86-64/ && !p {p=$NF} END {print p}')"
  [ -n "$p" ] && libs="$libs $p"
done
for l in $libs; do
  [ -e "$l" ] || continue
  mkdir -p "$r$(dirname "$l")"
  cp -L "$l" "$r$l"
done
mkdir -p "$r/lib64"
[ -e "$r/lib64/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$r/lib64/"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$r/etc/hosts"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
printf 'root:x:0:\n' >"$r/etc/group"
mkdir -p "$r/root"

# uncompressed: the kernel unpacks it with memcpy; decompressing under TCG costs seconds
(cd "$r" && find . | "$busybox_bin" cpio -o -H newc -R 0:0 2>/dev/null) >"$out.tmp/initrd.cpio"
echo "$kpkg $kver_deb $kname" >"$out.tmp/kernel-version"
rm -rf "$out.tmp/deb" "$out.tmp/root"
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/ready"
# keep the cache small: drop images built from other inputs
for old in "$cache"/img-*; do [ "$old" = "$out" ] || rm -rf "$old"; done
log "built $(du -sh "$out" | cut -f1) in $out"
echo "$out/vmlinux $out/initrd.cpio"
