/** Reads the guest's per-CPU log rings (guest/include/ix/logring.h) and splits them into lines. */
import { LOGRING_HDR, LogRing, readField1, writeStruct } from '../abi/index.js';

export class LogDrain {
  private partial: string[] = [];

  constructor(
    private readonly mem: DataView,
    private readonly ringsGpa: number,
    private readonly stride: number,
    private readonly ncpus: number,
    private readonly onLine: (cpu: number, line: string) => void,
  ) {
    this.partial = new Array<string>(ncpus).fill('');
  }

  /** Drain every ring; returns the number of bytes read. */
  drain(flushPartial = false): number {
    let total = 0;
    for (let cpu = 0; cpu < this.ncpus; cpu++) total += this.drainOne(cpu, flushPartial);
    return total;
  }

  drainOne(cpu: number, flushPartial = false): number {
    const r = this.ringsGpa + cpu * this.stride;
    const size = readField1(LogRing, this.mem, r, 'size');
    const head = readField1(LogRing, this.mem, r, 'head');
    const tail = readField1(LogRing, this.mem, r, 'tail');
    // The guest is untrusted: a head that claims more than a full ring is clamped.
    const avail = Math.min((head - tail) >>> 0, size);
    if (avail > 0) {
      const bytes = new Uint8Array(avail);
      const data = r + LOGRING_HDR;
      for (let i = 0; i < avail; i++) bytes[i] = this.mem.getUint8(data + ((tail + i) & (size - 1)));
      writeStruct(LogRing, this.mem, r, { tail: (tail + avail) >>> 0 });
      const text = this.partial[cpu] + Buffer.from(bytes).toString('utf8');
      const lines = text.split('\n');
      this.partial[cpu] = lines.pop() ?? '';
      for (const l of lines) this.onLine(cpu, l);
    }
    if (flushPartial && this.partial[cpu]) {
      this.onLine(cpu, this.partial[cpu]!);
      this.partial[cpu] = '';
    }
    return avail;
  }
}
