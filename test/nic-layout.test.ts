// The host's writer and reader of the NIC description (struct ix_nic_info) and the static
// ARP page, and the placement of the rings. The struct layouts are checked against the C
// headers by test/abi-layout.test.ts.
import { describe, expect, it } from 'vitest';
import {
  IX_NIC_ARP_MAX,
  IX_NIC_ARP_PAGE,
  IX_RSS_KEY_LEN,
  NicArp,
  NicInfo,
  readNicArpTable,
  readNicInfo,
  writeNicArpTable,
  writeNicInfo,
  NicInfoError,
} from '../src/abi/nic.js';
import { RingLayoutError, allocNicRings, prepareNicRings, queueBytes } from '../src/nic/rings.js';
import { LIMITS } from '../src/config/defaults.js';
import { availRingBytes, descTableBytes, usedRingBytes } from '../src/nic/virtqueue.js';

describe('ix_nic_info writer and reader (the layout itself: test/abi-layout.test.ts)', () => {
  it('the static ARP table: the config limit, one page, round trip, host-side checks', () => {
    expect(IX_NIC_ARP_MAX).toBe(LIMITS.arpMax);
    expect(IX_NIC_ARP_MAX * NicArp.size).toBe(IX_NIC_ARP_PAGE);
    const page = new DataView(new ArrayBuffer(2 * IX_NIC_ARP_PAGE));
    new Uint8Array(page.buffer).fill(0xee);
    const entries = Array.from({ length: IX_NIC_ARP_MAX }, (_, i) => ({ ip: 0x0a000100 + i, mac: Uint8Array.from([2, 0x11, 0, 0, i >> 8, i & 255]) }));
    writeNicArpTable(page, 0, entries);
    const back = readNicArpTable(page, 0, IX_NIC_ARP_MAX);
    expect(back.map((e) => [e.ip, Array.from(e.mac)])).toEqual(entries.map((e) => [e.ip, Array.from(e.mac)]));
    expect(new Uint8Array(page.buffer)[IX_NIC_ARP_PAGE]).toBe(0xee); // nothing written past the page
    // a short table zeroes the rest of the page (count 2: entries 2.. are all zero)
    writeNicArpTable(page, 0, entries.slice(0, 2));
    expect(new Uint8Array(page.buffer, 2 * NicArp.size, IX_NIC_ARP_PAGE - 2 * NicArp.size).every((b) => b === 0)).toBe(true);
    expect(page.getUint32(NicArp.size + NicArp.at.ip, true)).toBe(0x0a000101);
    // layout checks only: what the entries mean (unicast MACs, no address twice) is validated
    // once, by the config schema (test/nic-plan.test.ts, test/config.test.ts)
    expect(() => writeNicArpTable(page, 0, [...entries, entries[0]!])).toThrow(/at most 256/);
    expect(() => writeNicArpTable(page, 0, [{ ip: 2 ** 32, mac: new Uint8Array(6) }])).toThrow(NicInfoError);
    expect(() => writeNicArpTable(page, 0, [{ ip: 1, mac: new Uint8Array(5) }])).toThrow(NicInfoError);
    expect(() => writeNicArpTable(page, IX_NIC_ARP_PAGE + 1, entries)).toThrow(NicInfoError);
  });

  it('round-trips through writeNicInfo/readNicInfo and rejects bad descriptions', () => {
    const buf = new ArrayBuffer(8192);
    const view = new DataView(buf);
    const info = {
      nqueues: 2,
      mac: Uint8Array.from([2, 0, 0, 0, 0, 1]),
      mtu: 1500,
      addr: 0x0a000002,
      netmask: 0xffffff00,
      gateway: 0x0a000001,
      rssKey: new Uint8Array(IX_RSS_KEY_LEN).map((_, i) => i * 7),
      reta: [0, 1, 0, 1],
      rx: [
        { desc: 0x10000n, avail: 0x11000n, used: 0x12000n, size: 256 },
        { desc: 0x20000n, avail: 0x21000n, used: 0x22000n, size: 256 },
      ],
      tx: [
        { desc: 0x30000n, avail: 0x31000n, used: 0x32000n, size: 128 },
        { desc: 0x40000n, avail: 0x41000n, used: 0x42000n, size: 128 },
      ],
      notifyPort: 0x5e0n,
      arpCount: 3,
      arpTable: 0x7f000n,
    };
    writeNicInfo(view, 100, info);
    const back = readNicInfo(view, 100);
    expect(back.present).toBe(true);
    expect(back.nqueues).toBe(2);
    expect(Array.from(back.mac)).toEqual(Array.from(info.mac));
    expect(back.reta).toEqual(info.reta);
    expect(back.rx).toEqual(info.rx);
    expect(back.tx).toEqual(info.tx);
    expect(back.notifyPort).toBe(0x5e0n);
    expect(back.gateway).toBe(0x0a000001);
    expect(back.arpCount).toBe(3);
    expect(back.arpTable).toBe(0x7f000n);
    expect(view.getUint32(100 + NicInfo.at.arpTablePfn, true)).toBe(0x7f); // a page number
    // no table: count 0 and no page
    writeNicInfo(view, 100, { ...info, arpCount: undefined, arpTable: undefined });
    expect(readNicInfo(view, 100).arpCount).toBe(0);
    expect(readNicInfo(view, 100).arpTable).toBe(0n);
    expect(() => writeNicInfo(view, 100, { ...info, arpCount: IX_NIC_ARP_MAX + 1 })).toThrow(/at most 256/);
    expect(() => writeNicInfo(view, 100, { ...info, arpTable: 0x7f010n })).toThrow(NicInfoError); // not page aligned
    expect(() => writeNicInfo(view, 100, { ...info, arpTable: 0n })).toThrow(NicInfoError);
    expect(() => writeNicInfo(view, 100, { ...info, reta: [0, 2] })).toThrow(NicInfoError);
    expect(() => writeNicInfo(view, 100, { ...info, reta: [0, 1, 0] })).toThrow(NicInfoError);
    expect(() => writeNicInfo(view, 8000, info)).toThrow(NicInfoError);
  });
});

describe('NIC ring placement', () => {
  it('places aligned, non-overlapping rings and zeroes them', () => {
    const mem = { u8: new Uint8Array(1 << 20).fill(0xee), size: 1 << 20 };
    const r = prepareNicRings(mem, 0x10001, 0x80000, 3, 256);
    const parts: [number, number][] = [];
    for (const q of [...r.rx, ...r.tx]) {
      expect(Number(q.desc) % 16).toBe(0);
      expect(Number(q.avail) % 64).toBe(0);
      expect(Number(q.used) % 64).toBe(0);
      parts.push([Number(q.desc), descTableBytes(256)], [Number(q.avail), availRingBytes(256)], [Number(q.used), usedRingBytes(256)]);
    }
    parts.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < parts.length; i++) expect(parts[i]![0]).toBeGreaterThanOrEqual(parts[i - 1]![0] + parts[i - 1]![1]);
    expect(parts[0]![0]).toBe(0x11000);
    expect(r.end).toBeGreaterThanOrEqual(0x11000 + 6 * queueBytes(256));
    expect(mem.u8.subarray(0x11000, r.end).every((b) => b === 0)).toBe(true);
    expect(mem.u8[r.end]).toBe(0xee);
    expect(() => prepareNicRings(mem, 0x10000, 0x12000, 3, 256)).toThrow(RingLayoutError);
    expect(() => allocNicRings(0, 1, 100)).toThrow(RingLayoutError);
  });
});
