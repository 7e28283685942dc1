#!/usr/bin/env bash
# Boot the nested-CI VM (ci/nested/image.sh) with QEMU and run ci/nested/inner.sh inside it,
# against this repository's current build: the host's root file system is shared read-only
# over 9p (tag hostroot), so the VM sees the repository, node and the tools at their host paths.
# Results land in the output folder: status (inner exit code), console.log, vitest.json,
# selftest.json, trap.json, summary.txt. Exit status: the inner run's.
#
# Usage: ci/nested/run.sh [OUT_DIR]          (default: a new folder under /tmp)
# Env:   IX_NESTED_ACCEL   tcg | kvm | auto (default auto: kvm when the host's KVM offers
#                          nested VT-x/AMD-V, else tcg with an emulated AMD-V CPU)
#        IX_NESTED_CPUS    vCPUs of the VM (default 2)
#        IX_NESTED_MEM     memory of the VM in MiB (default 2048)
#        IX_NESTED_TIMEOUT seconds before the VM is killed (default 1800)
#        IX_NESTED_PHASE_TIMEOUT  seconds each inner phase may take (default 420)
#        IX_NESTED_INNER   what inner.sh runs: "all" (default) or a space-separated subset of
#                          selftest tests e2e bench
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d /tmp/ix-nested-XXXXXX)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -f "$out/status" "$out/console.log" "$out/vitest.json" "$out/vitest-e2e.json" "$out/selftest.json" "$out/trap.json" "$out/summary.txt"
die() { echo "nested/run: error: $*" >&2; exit 2; }

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing; install qemu-system-x86 (bash ci/install.sh)"
[ -f "$repo/dist/cli/main.js" ] && [ -f "$repo/guest/build/kernel.elf" ] || die "build the project first (npm run build)"

img="$("$here/image.sh")" || die "building the VM image failed (see the messages above)"
read -r kernel initrd <<<"$img"

# auto: hardware virtualization only if the host KVM can nest it (a PVM host cannot)
accel="${IX_NESTED_ACCEL:-auto}"
if [ "$accel" = auto ]; then
  accel=tcg
  if [ -w /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ]; then
    for p in /sys/module/kvm_intel/parameters/nested /sys/module/kvm_amd/parameters/nested; do
      [ -r "$p" ] && grep -qiE '^(1|y)' "$p" && accel=kvm
    done
  fi
fi
case "$accel" in
  # max under TCG is an AMD CPU with svm and npt: Debian's kvm_amd loads and nests
  tcg) accel_args=(-accel tcg,thread=multi,tb-size=512 -cpu max) ;;
  kvm) accel_args=(-accel kvm -cpu host) ;;
  *) die "IX_NESTED_ACCEL must be tcg, kvm or auto (got '$accel')" ;;
esac

printf 'IX_NESTED_INNER="%s"\nIX_NESTED_PHASE_TIMEOUT=%s\n' "${IX_NESTED_INNER:-all}" "${IX_NESTED_PHASE_TIMEOUT:-420}" >"$out/env"
echo "nested/run: accel=$accel kernel=$(cat "$(dirname "$kernel")/kernel-version") out=$out" >&2
start=$(date +%s)
set +e
timeout --foreground -k 10 "${IX_NESTED_TIMEOUT:-1800}" qemu-system-x86_64 \
  "${accel_args[@]}" -machine q35 -smp "${IX_NESTED_CPUS:-2}" -m "${IX_NESTED_MEM:-2048}" \
  -nodefaults -display none -no-reboot -serial stdio \
  -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off ix.repo=$repo" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$out,mount_tag=out,security_model=none" \
  </dev/null 2>&1 | tee "$out/console.log"
qemu_rc=${PIPESTATUS[0]}
set -e
secs=$(($(date +%s) - start))
if [ ! -f "$out/status" ]; then
  echo "nested/run: the VM ended without a result (qemu exit $qemu_rc after ${secs}s; 124 = timeout); see $out/console.log" >&2
  exit 3
fi
status="$(cat "$out/status")"
echo "accel=$accel seconds=$secs status=$status" >>"$out/summary.txt"
echo "nested/run: inner status $status after ${secs}s (accel=$accel); results in $out" >&2
exit "$status"
