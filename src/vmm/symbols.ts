/**
 * Names for guest addresses: a fault's RIP, a panic message's "rip <hex>", a crashed vCPU's
 * registers, resolved against the app's and the kernel's ELF symbols.
 */
import { FAULT_KINDS } from '../abi/index.js';
import type { ElfImage } from './elf.js';
import type { FaultReport } from './messages.js';

export interface AppFault {
  cpu: number;
  kind: string;
  vector: number;
  rip: string;
  symbol: string | null;
  addr: string;
  errorCode: string;
  regs: Record<string, string>;
}

export class Symbolizer {
  constructor(private readonly kernel: ElfImage, private readonly app: ElfImage) {}

  /** 'name+0x12' from the app's symbols, else the kernel's; null when neither knows it. */
  symbolize(addr: bigint): string | null {
    return this.app.symbolize(addr) ?? this.kernel.symbolize(addr);
  }

  /** A kernel message with its "rip <hex>" annotated with the symbol. */
  annotate(msg: string): string {
    return msg.replace(/rip ([0-9a-f]+)/, (all, h: string) => {
      const s = this.symbolize(BigInt(`0x${h}`));
      return s ? `${all} (${s})` : all;
    });
  }

  /** A crashed vCPU's reason with the symbol of its RIP and its registers. */
  crash(reason: string, regs: Record<string, string> | null): string {
    const rip = regs?.rip;
    const sym = rip ? this.symbolize(BigInt(rip)) : null;
    const list = regs ? ' ' + Object.entries(regs).map(([k, v]) => `${k}=${v}`).join(' ') : '';
    return `${reason}${sym ? ` at ${sym}` : ''}${list}`;
  }

  /** The guest's fault report as the operator reads it: kind name, RIP with the app's symbol. */
  describeFault(cpu: number, f: FaultReport): AppFault {
    const rip = f.regs.rip ?? '0x0';
    return {
      cpu,
      kind: FAULT_KINDS[f.kind] ?? `fault kind ${f.kind}`,
      vector: f.vector,
      rip,
      symbol: this.app.symbolize(BigInt(rip)),
      addr: f.addr,
      errorCode: f.errorCode,
      regs: f.regs,
    };
  }
}
