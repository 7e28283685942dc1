/**
 * Benchmark (not a test): the cost of one KVM_RUN round trip through this binding, measured
 * with a 16-bit real-mode guest that loops on `out %al,$0x10`. Prints µs per exit for
 * run() (decoded exit object, as the VMM uses it), runRaw() (no decoding) and a bare koffi
 * ioctl with no binding code at all, so the binding's own overhead can be read off.
 *
 *   npm run build:ts && node dist/testing/bench-exit.js [exits=10000] [rounds=5]
 */
import { IOCTL } from '../kvm/ioctl.js';
import { Kvm } from '../kvm/kvm.js';
import { ioctl, mapAnon, unmap, view } from '../sys/libc.js';

const exits = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 5);
const MEM = 0x10000;

const kvm = Kvm.open();
const vm = kvm.createVm();
const mem = mapAnon(MEM, { shared: true });
// loop: out %al,$0x10; jmp loop
new Uint8Array(view(mem, MEM)).set([0xe6, 0x10, 0xeb, 0xfc], 0x1000);
vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: BigInt(MEM), userspaceAddr: BigInt(mem) });
const vcpu = vm.createVcpu(0);
const s = vcpu.getSregs();
s.cs = { ...s.cs, base: 0n, selector: 0 };
vcpu.setSregs(s);
const r = vcpu.getRegs();
r.rip = 0x1000n;
r.rflags = 2n;
vcpu.setRegs(r);

function time(name: string, body: () => void): void {
  body(); // warm-up (JIT, first entry)
  const per: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    body();
    per.push(Number(process.hrtime.bigint() - t0) / 1000 / exits);
  }
  per.sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(2);
  console.log(`${name.padEnd(34)} min ${f(per[0]!)}  median ${f(per[per.length >> 1]!)}  max ${f(per[per.length - 1]!)} us/exit`);
}

console.log(`${exits} OUT exits per round, ${rounds} rounds (guest in KVM's emulated or hardware mode as the host decides)`);
time('run() + exit.port/data[0]', () => {
  let sum = 0;
  for (let i = 0; i < exits; i++) {
    const e = vcpu.run();
    if (e.reason !== 'io') throw new Error(`unexpected exit ${e.reason}`);
    sum += e.port + e.data[0]!;
  }
  if (sum < 0) console.log(sum);
});
time('runRaw()', () => {
  for (let i = 0; i < exits; i++) if (vcpu.runRaw() !== 2) throw new Error('unexpected exit');
});
const fd = vcpu.fd;
const req = IOCTL.KVM_RUN;
time('bare koffi ioctl(KVM_RUN)', () => {
  for (let i = 0; i < exits; i++) if (ioctl(fd, req, 0) !== 0) throw new Error('KVM_RUN failed');
});

vcpu.close();
vm.close();
kvm.close();
unmap(mem, MEM);
