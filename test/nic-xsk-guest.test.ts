// xdp_rings = "guest" without root: where the AF_XDP rings go in guest-physical memory and what
// the guest is told (struct ix_xsk_info), and the host's kick thread (XskKicker) over fake rings
// in native memory — TX kicks only when the guest published something, the doorbell asked for
// only when sleeping, a halted core woken once when frames wait, a running one never.
// The end-to-end run (the guest really polling the rings) is test/e2e-xdp.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import * as libc from '../src/sys/libc.js';
import { readStruct } from '../src/abi/struct.js';
import { IX_XSK_CHUNK, IX_XSK_HEADROOM, XskCtl, XskInfo } from '../src/abi/xsk.js';
import { GuestMemory } from '../src/nic/guest-memory.js';
import { NCOUNTERS, readStats } from '../src/nic/stats.js';
import { layoutGuestRings, writeXskInfo } from '../src/nic/xdp/guest-rings.js';
import { XskKicker } from '../src/nic/xdp/kicker.js';
import type { XskRing, XskSocket } from '../src/nic/xdp/xsk.js';
import { datagramPair } from '../src/testing/datagram-pair.js';
import { buildBootPageTable, PGD_GPA, xskWindow } from '../src/vmm/boot.js';
import { nicIdleWait, xskRxWords } from '../src/nic/wait.js';
import { CTL_CELLS } from '../src/abi/nic-ctl.js';
import { FakeGuestRam } from '../src/testing/fake-guest-ram.js';

const RING = 64;
const MEM = 4 << 20;
const INFO = 0x100000;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function fakeRing(descBytes: number): XskRing {
  const mapLen = 256 + RING * descBytes; // like the kernel's: words first, entries after, not a page multiple
  const map = libc.mapAnon(mapLen);
  cleanups.push(() => libc.unmap(map, mapLen));
  return { map, mapLen, producer: map, consumer: map + 64, flags: map + 128, desc: map + 256, size: RING };
}

function fakeSocket(fd: number, queue: number): XskSocket {
  return { fd, ifindex: 1, queue, rx: fakeRing(16), tx: fakeRing(16), fill: fakeRing(8), comp: fakeRing(8), zeroCopy: false };
}

const u32 = (r: XskRing) => new DataView(libc.view(r.map, r.mapLen));

describe('the AF_XDP rings in guest-physical memory', () => {
  it('one page-aligned slot per ring mmap inside the window, addresses mapped 1:1, the description round-trips', () => {
    const sockets = [fakeSocket(-1, 0), fakeSocket(-1, 1)];
    const window = { start: 0x40000000, size: 2 << 20 };
    const { slots, info } = layoutGuestRings(sockets, 2, window, 0x1e8);
    expect(slots).toHaveLength(8);
    let at = window.start;
    for (const s of slots) {
      expect(s.gpa).toBe(at); // packed, in order, page aligned
      expect(s.size % 4096).toBe(0);
      at += s.size;
    }
    expect(at).toBeLessThanOrEqual(window.start + window.size);
    // the guest sees each word at the same offset from its slot as the host in its mapping
    const q1 = info.q![1]!;
    expect(q1.fill!.producer).toBe(slots[6]!.gpa + (sockets[1]!.fill.producer - sockets[1]!.fill.map));
    expect(q1.rx!.desc).toBe(slots[4]!.gpa + 256);
    expect(slots[4]!.hostAddr).toBe(sockets[1]!.rx.map);

    const ram = new FakeGuestRam(MEM);
    cleanups.push(() => ram.free());
    const mem = new GuestMemory(ram.spec);
    mem.u8.fill(0xee, INFO, INFO + 4096);
    writeXskInfo(mem.dv, INFO, info);
    const back = readStruct(XskInfo, mem.dv, INFO);
    expect([back.present, back.nqueues, back.chunk, back.headroom, back.doorbellPort]).toEqual([1, 2, IX_XSK_CHUNK, IX_XSK_HEADROOM, 0x1e8n]);
    expect(back.q[0]!.comp.size).toBe(RING);
    expect(back.ctl.every((c) => c.kickWanted === 0 && c.haltSeq === 0)).toBe(true); // ctl words start at zero
    expect(() => writeXskInfo(mem.dv, INFO + 8, info)).toThrow(/not a page of guest memory/);
    expect(() => layoutGuestRings(sockets, 2, { start: window.start, size: 4 * 4096 }, 0x1e8)).toThrow(/do not fit/);
    expect(() => layoutGuestRings(sockets, 3, window, 0x1e8)).toThrow(/one per core: 3 cores, 2 sockets/);
  });
});

describe('the boot page table maps the ring window', () => {
  it('next to RAM in the direct map, 2 MiB pages, nothing in between, and refuses a window inside RAM', () => {
    const memBytes = 1 << 30; // 1 GiB: the window starts the second GiB (a second page directory)
    const win = xskWindow(memBytes);
    expect(win).toEqual({ start: 1 << 30, size: 2 << 20 });
    expect(xskWindow(300 << 20)).toEqual({ start: 300 << 20, size: 2 << 20 });
    expect(xskWindow((300 << 20) + 4096).start).toBe(302 << 20);
    const dv = new DataView(new ArrayBuffer(0x40000));
    buildBootPageTable(dv, memBytes, win);
    const pdpt = PGD_GPA + 4096;
    const pde = (pa: number) => {
      const pd = Number(dv.getBigUint64(pdpt + Math.floor(pa / 2 ** 30) * 8, true) & ~0xfffn);
      return pd === 0 ? 0n : dv.getBigUint64(pd + ((pa >>> 21) & 511) * 8, true);
    };
    expect(pde(0) & 0xfffffffff000n).toBe(0n);
    expect(pde(memBytes - (2 << 20)) & 0xfffffffff000n).toBe(BigInt(memBytes - (2 << 20)));
    expect(pde(win.start) & 0xfffffffff000n).toBe(BigInt(win.start)); // the window, identity like RAM
    expect(pde(win.start) & 0x87n).toBe(0x87n); // present, writable, user (PVM), 2 MiB
    expect(pde(win.start + win.size)).toBe(0n); // nothing after it
    const small = new DataView(new ArrayBuffer(0x40000));
    buildBootPageTable(small, 64 << 20, xskWindow(64 << 20));
    const pd0 = Number(small.getBigUint64(pdpt, true) & ~0xfffn);
    expect(small.getBigUint64(pd0 + 32 * 8, true) & 0xfffffffff000n).toBe(64n << 20n); // entry 32 = 64 MiB: the window
    expect(small.getBigUint64(pd0 + 33 * 8, true)).toBe(0n);
    expect(() => buildBootPageTable(small, 64 << 20, { start: 62 << 20, size: 2 << 20 })).toThrow(/above guest memory/);
  });
});

describe('XskKicker (the host thread of xdp_rings "guest")', () => {
  function rig() {
    const ram = new FakeGuestRam(MEM);
    cleanups.push(() => ram.free());
    const mem = new GuestMemory(ram.spec);
    const [dev, peer] = datagramPair();
    cleanups.push(() => {
      libc.close(dev);
      libc.close(peer);
    });
    const s = fakeSocket(dev, 0);
    writeXskInfo(mem.dv, INFO, layoutGuestRings([s], 1, { start: 0x40000000, size: 2 << 20 }, 0x1e8).info);
    const stats = new Float64Array(NCOUNTERS);
    const wakes: number[] = [];
    const logs: string[] = [];
    const k = new XskKicker(1, { mem, sockets: [s], infoGpa: INFO, stats, wake: (q) => wakes.push(q), log: (m) => logs.push(m) });
    k.attach();
    const ctl = (f: 'kickWanted' | 'haltSeq') => mem.dv.getUint32(INFO + XskInfo.fields.ctl.at + XskCtl.fields[f].at, true);
    const setHalt = (v: number) => mem.dv.setUint32(INFO + XskInfo.fields.ctl.at + XskCtl.fields.haltSeq.at, v, true);
    const buf = libc.mapAnon(4096);
    cleanups.push(() => libc.unmap(buf, 4096));
    /** empty datagrams the kicks sent to the peer */
    const kicksSeen = () => {
      let n = 0;
      while (libc.read(peer, buf, 4096) >= 0) n++;
      return n;
    };
    return { k, s, ctl, setHalt, wakes, logs, kicksSeen, stats: () => readStats(stats, 1)[0]! };
  }

  it('kicks TX only for what the guest published, and asks for the doorbell only while sleeping', () => {
    const { k, s, ctl, kicksSeen, stats } = rig();
    expect(k.pollOnce()).toBe(0);
    expect(kicksSeen()).toBe(0);
    expect(k.sleepFds()).toEqual([]); // nothing to watch: only the doorbell and the stop fd
    expect(ctl('kickWanted')).toBe(1);
    expect(k.pollOnce()).toBe(0);
    expect(ctl('kickWanted')).toBe(0); // awake again: the guest need not ring
    // the guest publishes two TX descriptors
    u32(s.tx).setUint32(0, 2, true);
    expect(k.pollOnce()).toBe(1);
    expect(kicksSeen()).toBeGreaterThan(0);
    expect(stats().tx_kicks).toBeGreaterThan(0);
    // the fake kernel takes nothing (a busy device): retried on every pass, but not counted as
    // work, so the thread may still sleep (its poll timeout retries)
    expect(k.pollOnce()).toBe(0);
    expect(kicksSeen()).toBeGreaterThan(0);
    expect(k.sleepFds()).toEqual([]);
    // the kernel took them all: no more kicks
    u32(s.tx).setUint32(64, 2, true);
    kicksSeen();
    expect(k.pollOnce()).toBe(0);
    expect(kicksSeen()).toBe(0);
    expect(k.sleepFds()).toEqual([]);
    expect(k.pollOnce()).toBe(0);
    expect(kicksSeen()).toBe(0);
    // descriptors published while going to sleep: no sleep
    u32(s.tx).setUint32(0, 3, true);
    expect(k.sleepFds()).toBeNull();
    expect(stats().rx_frames + stats().tx_frames).toBe(0); // the host moves no frame
  });

  it('wakes a halted core once when frames wait, watches its socket while it sleeps, leaves a running core alone', () => {
    const { k, s, setHalt, wakes } = rig();
    // frames wait but the core never said it halts: no wake, and no busy poll on its socket
    u32(s.rx).setUint32(0, 1, true);
    expect(k.pollOnce()).toBe(0);
    expect(wakes).toEqual([]);
    expect(k.sleepFds()).toEqual([]);
    u32(s.rx).setUint32(64, 1, true); // the guest took it
    // the core halts with nothing waiting: the kicker watches its socket
    setHalt(1);
    expect(k.pollOnce()).toBe(0);
    expect(k.sleepFds()).toEqual([s.fd]);
    // a frame arrives: one wake
    u32(s.rx).setUint32(0, 2, true);
    expect(k.sleepFds()).toBeNull();
    expect(k.pollOnce()).toBe(1);
    expect(wakes).toEqual([0]);
    expect(k.pollOnce()).toBe(0);
    expect(k.sleepFds()).toEqual([]); // answered: not watched until the core halts again
    expect(wakes).toEqual([0]);
    setHalt(2);
    expect(k.pollOnce()).toBe(1); // still unread frames at the next halt: woken at once
    expect(wakes).toEqual([0, 0]);
  });

  it('a vCPU worker about to sleep sees frames already in the AF_XDP RX ring (a wake announced before it looked)', () => {
    const ram = new FakeGuestRam(MEM);
    cleanups.push(() => ram.free());
    const mem = new GuestMemory(ram.spec);
    const s = fakeSocket(-1, 0);
    const counters = new Int32Array(new SharedArrayBuffer(4 * CTL_CELLS));
    const vq = { desc: 0x10000n, avail: 0x11000n, used: 0x12000n, size: 8 }; // the unused virtio ring: all zero
    const words = xskRxWords(s.rx);
    u32(s.rx).setUint32(0, 5, true);
    u32(s.rx).setUint32(64, 4, true);
    expect(nicIdleWait(counters, mem.dv, vq, 0, 5000, words)).toBe('pending'); // returns at once
    u32(s.rx).setUint32(64, 5, true);
    expect(nicIdleWait(counters, mem.dv, vq, 0, 1, words)).toBe('timeout');
  });

  it('refuses a description page outside guest memory', () => {
    const ram = new FakeGuestRam(MEM);
    cleanups.push(() => ram.free());
    const mem = new GuestMemory(ram.spec);
    const s = fakeSocket(-1, 0);
    expect(() => new XskKicker(1, { mem, sockets: [s], infoGpa: MEM, stats: new Float64Array(NCOUNTERS), wake: () => {}, log: () => {} })).toThrow(/outside guest memory/);
    expect(() => new XskKicker(2, { mem, sockets: [s], infoGpa: INFO, stats: new Float64Array(2 * NCOUNTERS), wake: () => {}, log: () => {} })).toThrow(/one socket per queue/);
  });
});
