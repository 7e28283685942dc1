// Parsers for the value syntaxes the config file uses: sizes, IPv4 addresses and
// prefixes, MAC addresses. Pure functions returning null on bad input; the schema turns
// null into an issue that says what is allowed.
import { createHash } from 'node:crypto';

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** "64M", "1G", "16384K", "67108864" or an integer -> bytes (binary units). */
export function parseSize(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : null;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d{1,15})\s*([KMG]?)\s*$/i.exec(v);
  if (!m) return null;
  const n = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  return Number.isSafeInteger(n) ? n : null;
}

/** Dotted-quad IPv4 -> 32-bit unsigned number. No leading zeros (they read as octal elsewhere). */
export function parseIpv4(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    const b = Number(p);
    if (b > 255) return null;
    n = n * 256 + b;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "10.10.0.2/24" -> address and prefix length. */
export function parseCidr(s: string): { ip: number; prefix: number } | null {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  if (!m) return null;
  const ip = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (ip === null || prefix < 1 || prefix > 32 || String(prefix) !== m[2]) return null;
  return { ip, prefix };
}

export function sameSubnet(a: number, b: number, prefix: number): boolean {
  const mask = prefixMask(prefix);
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

/** Network and broadcast addresses of a prefix; /31 and /32 have neither (RFC 3021). */
export function isNetworkOrBroadcast(ip: number, prefix: number): boolean {
  if (prefix >= 31) return false;
  const host = (ip & ~prefixMask(prefix)) >>> 0;
  return host === 0 || host === (~prefixMask(prefix) >>> 0);
}

/** "02:00:00:00:00:01" (or with dashes, any case) -> canonical lower-case colon form. */
export function parseMac(s: string): string | null {
  if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(s)) return null;
  return s.toLowerCase().replace(/-/g, ':');
}

/** An RSS key: 80 hex digits, optionally ":" between bytes -> 80 lower-case hex digits. */
export function parseRssKey(s: string): string | null {
  const hex = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){39}$/.test(s) ? s.replace(/:/g, '') : s;
  return /^[0-9a-fA-F]{80}$/.test(hex) ? hex.toLowerCase() : null;
}

export function isMulticastMac(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 1) === 1;
}

export function isZeroMac(mac: string): boolean {
  return mac === '00:00:00:00:00:00';
}

/**
 * The default MAC of a dataplane: locally administered (bit 1 of the first octet), unicast
 * (bit 0 clear), the other five octets from a hash of the name, so that two dataplanes
 * with different names get different MACs and a restarted one keeps its own.
 */
export function macFromName(name: string): string {
  const h = createHash('sha256').update(`ix-dataplane:${name}`).digest();
  const bytes = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
