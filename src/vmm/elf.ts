/**
 * A small ELF64 reader: the loadable segments and the symbol table of the guest kernel and
 * of apps. Everything is checked against the file's size; a malformed file gives ElfError.
 */
import { readFileSync } from 'node:fs';

export class ElfError extends Error {
  constructor(readonly file: string, what: string) {
    super(`${file}: not a loadable x86-64 ELF file: ${what} (rebuild it with \`npm run build:guest\`)`);
    this.name = 'ElfError';
  }
}

export interface ElfSegment {
  vaddr: bigint;
  paddr: bigint;
  offset: number;
  filesz: number;
  memsz: number;
  flags: number; // PF_X=1 PF_W=2 PF_R=4
}

export interface ElfSymbol {
  name: string;
  value: bigint;
  size: bigint;
}

export class ElfImage {
  readonly entry: bigint;
  readonly segments: ElfSegment[];
  private readonly symbols: ElfSymbol[];

  private constructor(readonly path: string, readonly data: Buffer) {
    const fail = (what: string): never => {
      throw new ElfError(path, what);
    };
    if (data.length < 64 || data.readUInt32BE(0) !== 0x7f454c46) fail('bad magic');
    if (data[4] !== 2 || data[5] !== 1) fail('not 64-bit little-endian');
    if (data.readUInt16LE(18) !== 62) fail('not x86-64');
    this.entry = data.readBigUInt64LE(24);
    const phoff = Number(data.readBigUInt64LE(32));
    const shoff = Number(data.readBigUInt64LE(40));
    const phentsize = data.readUInt16LE(54);
    const phnum = data.readUInt16LE(56);
    const shentsize = data.readUInt16LE(58);
    const shnum = data.readUInt16LE(60);
    if (phnum === 0 || phentsize < 56 || phoff + phnum * phentsize > data.length) fail('bad program headers');
    this.segments = [];
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      if (data.readUInt32LE(o) !== 1) continue; // PT_LOAD
      const seg: ElfSegment = {
        flags: data.readUInt32LE(o + 4),
        offset: Number(data.readBigUInt64LE(o + 8)),
        vaddr: data.readBigUInt64LE(o + 16),
        paddr: data.readBigUInt64LE(o + 24),
        filesz: Number(data.readBigUInt64LE(o + 32)),
        memsz: Number(data.readBigUInt64LE(o + 40)),
      };
      if (seg.offset + seg.filesz > data.length || seg.filesz > seg.memsz) fail(`segment ${i} out of the file`);
      this.segments.push(seg);
    }
    if (this.segments.length === 0) fail('no PT_LOAD segment');
    this.symbols = [];
    if (shoff && shentsize >= 64 && shoff + shnum * shentsize <= data.length) {
      for (let i = 0; i < shnum; i++) {
        const o = shoff + i * shentsize;
        if (data.readUInt32LE(o + 4) !== 2) continue; // SHT_SYMTAB
        const off = Number(data.readBigUInt64LE(o + 24));
        const size = Number(data.readBigUInt64LE(o + 32));
        const link = data.readUInt32LE(o + 40);
        const entsize = Number(data.readBigUInt64LE(o + 56)) || 24;
        const so = shoff + link * shentsize;
        if (link >= shnum || off + size > data.length) break;
        const stroff = Number(data.readBigUInt64LE(so + 24));
        const strsize = Number(data.readBigUInt64LE(so + 32));
        if (stroff + strsize > data.length) break;
        for (let p = off; p + entsize <= off + size; p += entsize) {
          const info = data[p + 4]!;
          const type = info & 0xf;
          if (type !== 1 && type !== 2 && type !== 0) continue; // NOTYPE, OBJECT, FUNC
          const nameOff = data.readUInt32LE(p);
          if (nameOff === 0 || nameOff >= strsize) continue;
          const end = data.indexOf(0, stroff + nameOff);
          const name = data.toString('latin1', stroff + nameOff, end < 0 ? stroff + strsize : end);
          if (name.startsWith('.L') || name === '') continue;
          this.symbols.push({ name, value: data.readBigUInt64LE(p + 8), size: data.readBigUInt64LE(p + 16) });
        }
      }
      this.symbols.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    }
  }

  static load(path: string): ElfImage {
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (e) {
      throw new ElfError(path, `cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    return new ElfImage(path, data);
  }

  /** Address range covered by the loadable segments (virtual). */
  span(): { start: bigint; end: bigint } {
    let start = this.segments[0]!.vaddr;
    let end = start;
    for (const s of this.segments) {
      if (s.vaddr < start) start = s.vaddr;
      const e = s.vaddr + BigInt(s.memsz);
      if (e > end) end = e;
    }
    return { start, end };
  }

  symbol(name: string): bigint | undefined {
    return this.symbols.find((s) => s.name === name)?.value;
  }

  /** "name+0x12" for an address inside a known symbol (or the nearest one before it). */
  symbolize(addr: bigint): string | null {
    const { start, end } = this.span();
    if (addr < start || addr >= end) return null;
    let best: ElfSymbol | null = null;
    for (const s of this.symbols) {
      if (s.value > addr) break;
      if (s.size === 0n && best && best.value === s.value) continue;
      best = s;
    }
    if (!best) return null;
    const off = addr - best.value;
    return off === 0n ? best.name : `${best.name}+0x${off.toString(16)}`;
  }
}
