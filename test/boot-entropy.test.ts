// The host's per-boot seed for the guest's secrets (ix_bootinfo.entropy, src/vmm/boot.ts):
// 32 bytes of node:crypto, different on every boot, carried through the boot info layout.
import { describe, expect, it } from 'vitest';
import { BootInfo, readStruct, writeStruct } from '../src/abi/index.js';
import { bootEntropy } from '../src/vmm/boot.js';

describe('boot entropy', () => {
  it('is 4 random 64-bit words, new for every boot', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const e = bootEntropy();
      expect(e).toHaveLength(4);
      for (const w of e) expect(w >= 0n && w < 1n << 64n).toBe(true);
      seen.add(e.join(','));
    }
    expect(seen.size).toBe(50);
  });

  it('lands in ix_bootinfo.entropy', () => {
    const dv = new DataView(new ArrayBuffer(BootInfo.size));
    const e = bootEntropy();
    writeStruct(BootInfo, dv, 0, { entropy: e });
    expect(readStruct(BootInfo, dv, 0).entropy).toEqual(e);
  });
});
