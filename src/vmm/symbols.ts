/**
 * Names for guest addresses: a fault's RIP, a panic message's "rip <hex>", a crashed vCPU's
 * registers, resolved against the app's and the kernel's ELF symbols.
 */
import { FAULT_KINDS, FAULT_RUNAWAY } from '../abi/index.js';
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
  /** hex: the guest kernel's TSC when it took the fault (0x0 when unknown) */
  tsc: string;
  /** what the operator should know beyond the fault itself */
  note?: string;
}

/** AppFault.kind of an app that crashed its own vCPU (a boundary that allows it) */
export const VCPU_CRASH_KIND = 'vCPU crashed (triple fault)';

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

  /**
   * An app that crashed its vCPU (KVM_EXIT_SHUTDOWN) under a boundary that lets it: the
   * vCPU's registers as KVM saw them last; its RIP is the app's when the crash came from
   * the app's own code (the usual case: a fault with an unusable stack).
   */
  describeCrash(cpu: number, regs: Record<string, string> | null, protection: string): AppFault {
    const r = regs ?? {};
    const rip = r.rip ?? '0x0';
    return {
      cpu,
      kind: VCPU_CRASH_KIND,
      vector: 8,
      rip,
      symbol: this.app.symbolize(BigInt(rip)) ?? this.kernel.symbolize(BigInt(rip)),
      addr: r.cr2 ?? '0x0',
      errorCode: '0x0',
      regs: r,
      tsc: '0x0',
      note: `protection "${protection}" does not isolate availability: the app could crash its core; the other cores go on`,
    };
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
      tsc: f.tsc,
      // the runaway watchdog's report carries the milliseconds the app ran in its error code
      ...(f.kind === FAULT_RUNAWAY ? { note: `ran ${BigInt(f.errorCode)} ms without returning to the dataplane (no ix_bpoll): over [app] max_run_ms` } : {}),
    };
  }
}
