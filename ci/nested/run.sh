#!/usr/bin/env bash
# Boot the nested-CI VM (ci/nested/image.sh) with QEMU and run ci/nested/inner.sh inside it,
# against this repository's current build: the host's root file system is shared read-only
# over 9p (tag hostroot), so the VM sees the repository, node and the tools at their host paths.
# Results land in the output folder: status (0 when every phase passed), console.log (every
# boot's), phase-NAME (each phase's exit status), vitest.json, vitest-e2e.json, selftest.json,
# trap.json, summary.txt (one line per hang and one for the run). Exit status: status's; 3 when
# a phase never finished (the VM hung twice, or the time ran out).
#
# Usage: ci/nested/run.sh [OUT_DIR]          (default: a new folder under /tmp)
# Env:   IX_NESTED_ACCEL   tcg | kvm | auto (default auto: kvm when the host's KVM offers
#                          nested VT-x/AMD-V, else tcg with an emulated AMD-V CPU)
#        IX_NESTED_CPUS    vCPUs of the VM (default 2)
#        IX_NESTED_MEM     memory of the VM in MiB (default 2048)
#        IX_NESTED_TIMEOUT seconds for the whole run, retries included (default 1800)
#        IX_NESTED_STALL   seconds of console silence after which the VM counts as hung (300)
#        IX_NESTED_PHASE_TIMEOUT  seconds each inner phase may take (default 420)
#        IX_NESTED_KERNEL_ARGS  extra command-line arguments for the VM's kernel (debugging:
#                          e.g. "loglevel=7 softlockup_all_cpu_backtrace=1")
#        IX_VHOST_COMPARE  1: the vhost phase also runs the echo series over the TAP backend
#                          and prints both (a measurement; the TAP half's bulk echo has
#                          stalled past its socket timeout under TCG on a loaded host)
#        IX_NESTED_INNER   what inner.sh runs: "all" (default) or a space-separated subset of
#                          selftest tests e2e vhost bench
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d /tmp/ix-nested-XXXXXX)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -f "$out/status" "$out/console.log" "$out/vitest.json" "$out/vitest-e2e.json" "$out/vitest-wake.json" "$out/selftest.json" "$out/trap.json" "$out/summary.txt"
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

# One VM boot runs the phases in $1. A watcher kills the VM when its kernel reports a soft
# lockup or an RCU stall, or when the console has been silent for IX_NESTED_STALL seconds (every
# phase prints at least once a minute: a test name, a benchmark run): then the phases that did
# not finish are run once more in a fresh VM, and the run fails if that one hangs too.
wanted="${IX_NESTED_INNER:-all}"
[ "$wanted" = all ] && wanted="selftest tests e2e vhost bench"
stall="${IX_NESTED_STALL:-300}"
deadline=$(($(date +%s) + ${IX_NESTED_TIMEOUT:-1800}))
rm -f "$out"/phase-* "$out/hang.txt" "$out/hang-cpus.txt" "$out/monitor.sock"
: >"$out/console.log"

# monitor CMD...: run QEMU monitor commands through the VM's monitor socket, print the answers
monitor() {
  python3 - "$out/monitor.sock" "$@" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
for cmd in sys.argv[2:]:
    s.sendall(cmd.encode() + b"\n")
    time.sleep(1)
s.shutdown(socket.SHUT_WR)
out = b""
try:
    while chunk := s.recv(65536):
        out += chunk
except socket.timeout:
    pass
sys.stdout.write(out.decode(errors="replace"))
PY
}

# boot PHASES: 0 = the VM powered off after the inner run; 3 = it hung (killed, reason in
# $out/hang.txt); 124 = the overall deadline passed
boot() {
  local log="$out/console.attempt" left=$((deadline - $(date +%s)))
  [ "$left" -gt 0 ] || return 124
  printf 'IX_NESTED_INNER="%s"\nIX_NESTED_PHASE_TIMEOUT=%s\nIX_VHOST_COMPARE=%s\n' "$1" "${IX_NESTED_PHASE_TIMEOUT:-420}" "${IX_VHOST_COMPARE:-0}" >"$out/env"
  rm -f "$out/status"
  : >"$log"
  timeout -k 10 "$left" qemu-system-x86_64 \
    "${accel_args[@]}" -machine q35 -smp "${IX_NESTED_CPUS:-2}" -m "${IX_NESTED_MEM:-2048}" \
    -nodefaults -display none -no-reboot -serial stdio \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off softlockup_all_cpu_backtrace=1 ix.repo=$repo ${IX_NESTED_KERNEL_ARGS:-}" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$out,mount_tag=out,security_model=none" \
    -monitor "unix:$out/monitor.sock,server=on,wait=off" \
    </dev/null >>"$log" 2>&1 &
  local qemu=$! last size=0 now why=""
  tail -n +1 -f --pid="$qemu" "$log" &
  local shown=$!
  last=$(date +%s)
  while kill -0 "$qemu" 2>/dev/null; do
    sleep 2
    now=$(date +%s)
    if grep -qE 'soft lockup|rcu_[a-z]+ (detected|self-detected) stall|hard LOCKUP|Kernel panic' "$log"; then
      why="the VM's kernel reported: $(grep -m1 -oE 'soft lockup.*|rcu_[a-z]+ (detected|self-detected) stall.*|hard LOCKUP.*|Kernel panic.*' "$log")"
    elif [ "$(stat -c %s "$log")" != "$size" ]; then
      size=$(stat -c %s "$log")
      last=$now
    elif [ $((now - last)) -ge "$stall" ]; then
      why="no console output for $stall s"
    fi
    if [ -n "$why" ]; then
      sleep 5 # let the kernel finish printing its backtraces
      # where each virtual CPU is (QEMU's view: RIP, CPL, whether it runs the inner guest)
      monitor "info cpus" "info registers -a" >"$out/hang-cpus.txt" 2>&1
      kill "$qemu" 2>/dev/null
      break
    fi
  done
  wait "$qemu"
  local rc=$?
  wait "$shown" 2>/dev/null
  cat "$log" >>"$out/console.log"
  rm -f "$log"
  if [ -n "$why" ]; then
    echo "$why" >"$out/hang.txt"
    return 3
  fi
  return $rc
}

# the phases of $wanted with no result yet (inner.sh writes phase-NAME when NAME ends)
unfinished() {
  local p left=""
  for p in $wanted; do [ -f "$out/phase-$p" ] || left="$left $p"; done
  echo "${left# }"
}

echo "nested/run: accel=$accel kernel=$(cat "$(dirname "$kernel")/kernel-version") out=$out" >&2
start=$(date +%s)
attempt=1
set +e
while :; do
  boot "$(unfinished)"
  qemu_rc=$?
  [ $qemu_rc -eq 3 ] || break
  echo "nested/run: attempt $attempt hung: $(cat "$out/hang.txt"); console tail:" >&2
  grep -vE '^\s*$' "$out/console.log" | tail -n 40 >&2
  echo "nested/run: the virtual CPUs when it was stopped (all registers in $out/hang-cpus.txt):" >&2
  grep -E '^\*? *CPU #|^RIP=|^CS =|^CR0=' "$out/hang-cpus.txt" >&2
  [ -z "$(unfinished)" ] && break
  if [ $attempt -ge 2 ]; then
    echo "nested/run: the VM hung again; giving up (see $out/console.log)" >&2
    break
  fi
  attempt=$((attempt + 1))
  echo "nested/run: running the unfinished phases again in a fresh VM: $(unfinished)" >&2
  echo "hang attempt=$((attempt - 1)) phases=\"$(unfinished)\" reason=\"$(cat "$out/hang.txt")\"" >>"$out/summary.txt"
done
set -e
secs=$(($(date +%s) - start))
if [ -n "$(unfinished)" ]; then
  echo "nested/run: the VM ended without finishing: $(unfinished) (last qemu exit $qemu_rc after ${secs}s; 3 = hang, 124 = timeout); see $out/console.log" >&2
  echo 3 >"$out/status"
  exit 3
fi
# the result is every phase's, whichever boot ran it
status=0
for p in $wanted; do [ "$(cat "$out/phase-$p")" = 0 ] || status=1; done
echo "$status" >"$out/status"
echo "accel=$accel seconds=$secs status=$status attempts=$attempt" >>"$out/summary.txt"
echo "nested/run: inner status $status after ${secs}s (accel=$accel, $attempt boot(s)); results in $out" >&2
exit "$status"
