// Toeplitz hash against the Microsoft RSS verification suite (IPv4 and IPv4 with TCP ports),
// and steering of whole Ethernet frames through the redirection table.
import { describe, expect, it } from 'vitest';
import { MS_RSS_KEY, RssConfigError, RssSteering, Toeplitz, defaultReta } from '../src/nic/toeplitz.js';

const ip = (s: string): number => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);

// destination, source, IPv4-only hash, IPv4+TCP hash (the spec's table)
const VECTORS: [string, number, string, number, number, number][] = [
  ['161.142.100.80', 1766, '66.9.149.187', 2794, 0x323e8fc2, 0x51ccc178],
  ['65.69.140.83', 4739, '199.92.111.2', 14230, 0xd718262a, 0xc626b0ea],
  ['12.22.207.184', 38024, '24.19.198.95', 12898, 0xd2d0a5de, 0x5c2b394a],
  ['209.142.163.6', 2217, '38.27.205.30', 48228, 0x82989176, 0xafc7327f],
  ['202.188.127.2', 1303, '153.39.163.191', 44251, 0x5d1809c5, 0x10e828a2],
];

function udpFrame(src: string, dst: string, sport: number, dport: number, proto = 17): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + 4);
  const dv = new DataView(f.buffer);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  dv.setUint16(16, 20 + 8 + 4);
  f[14 + 8] = 64;
  f[14 + 9] = proto;
  dv.setUint32(14 + 12, ip(src));
  dv.setUint32(14 + 16, ip(dst));
  dv.setUint16(34, sport);
  dv.setUint16(36, dport);
  return f;
}

describe('Toeplitz hash', () => {
  const tz = new Toeplitz(MS_RSS_KEY);
  it.each(VECTORS)('dst %s:%d src %s:%d', (dst, dport, src, sport, h2, h4) => {
    expect(tz.hashTuple(ip(src), ip(dst)).toString(16)).toBe(h2.toString(16));
    expect(tz.hashTuple(ip(src), ip(dst), sport, dport).toString(16)).toBe(h4.toString(16));
  });
});

describe('RSS steering of frames', () => {
  it('uses the 4-tuple for TCP/UDP, the 2-tuple for other IPv4 and fragments, queue 0 otherwise', () => {
    const reta = defaultReta(4, 128);
    const rss = new RssSteering({ key: MS_RSS_KEY, reta }, 4);
    const tz = new Toeplitz(MS_RSS_KEY);
    for (const [dst, dport, src, sport, h2, h4] of VECTORS) {
      const f = udpFrame(src, dst, sport, dport);
      expect(rss.steer(f, 0, f.length)).toBe(reta[h4 % 128]);
      const tcp = udpFrame(src, dst, sport, dport, 6);
      expect(rss.steer(tcp, 0, tcp.length)).toBe(reta[h4 % 128]);
      const icmp = udpFrame(src, dst, sport, dport, 1);
      expect(rss.steer(icmp, 0, icmp.length)).toBe(reta[h2 % 128]);
      const frag = udpFrame(src, dst, sport, dport);
      frag[14 + 6] = 0x20; // more fragments
      expect(rss.steer(frag, 0, frag.length)).toBe(reta[h2 % 128]);
      expect(tz.hashTuple(ip(src), ip(dst), sport, dport)).toBe(h4);
    }
    const arp = udpFrame('1.2.3.4', '5.6.7.8', 1, 2);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(rss.steer(arp, 0, arp.length)).toBe(0);
    // truncated headers never read past len
    const f = udpFrame('1.2.3.4', '5.6.7.8', 1, 2);
    for (let len = 0; len < f.length; len++) expect(rss.steer(f, 0, len)).toBeGreaterThanOrEqual(0);
    // a frame at an offset inside a larger buffer
    const big = new Uint8Array(100);
    big.set(udpFrame(VECTORS[0]![2], VECTORS[0]![0], VECTORS[0]![3], VECTORS[0]![1]), 10);
    expect(rss.steer(big, 10, 46)).toBe(reta[VECTORS[0]![5] % 128]);
  });

  it('rejects bad configurations', () => {
    expect(() => new RssSteering({ key: MS_RSS_KEY.subarray(0, 16), reta: [0] }, 1)).toThrow(RssConfigError);
    expect(() => new RssSteering({ key: MS_RSS_KEY, reta: [0, 1, 0] }, 2)).toThrow(RssConfigError);
    expect(() => new RssSteering({ key: MS_RSS_KEY, reta: [0, 2] }, 2)).toThrow(RssConfigError);
  });
});
