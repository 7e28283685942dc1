// bpf(2) for the XDP backend: an XSKMAP, the program (program.ts) loaded with the map's fd,
// and a BPF link that attaches it to the interface. The link belongs to the fd: when the
// process exits, however it exits (SIGKILL included), the kernel closes the fd and the
// program leaves the interface. Nothing is pinned in bpffs.
import * as libc from '../../sys/libc.js';
import { errnoText } from '../errno.js';
import { dataplaneXdpProgram, encodeProgram } from './program.js';
import { withPage } from './scratch.js';

const BPF_MAP_CREATE = 0;
const BPF_MAP_UPDATE_ELEM = 2;
const BPF_PROG_LOAD = 5;
const BPF_LINK_CREATE = 28;
const BPF_MAP_TYPE_XSKMAP = 17;
const BPF_PROG_TYPE_XDP = 6;
const BPF_XDP = 37;
/** generic XDP: runs on the skb, works on every driver (veth included) */
export const XDP_FLAGS_SKB_MODE = 2;
/** native XDP in the driver */
export const XDP_FLAGS_DRV_MODE = 4;
const ATTR = 128; // bytes of bpf_attr we pass (zero-padded; the kernel checks the tail is zero)

export class XdpSetupError extends Error {
  override name = 'XdpSetupError';
}

function fail(what: string, hint: string): never {
  const e = libc.errno();
  throw new XdpSetupError(`${what} failed: ${errnoText(e)}; ${hint}`);
}

export function createXskMap(entries: number): number {
  return withPage((p) => {
    const dv = p.zero(ATTR).dv;
    dv.setUint32(0, BPF_MAP_TYPE_XSKMAP, true);
    dv.setUint32(4, 4, true);
    dv.setUint32(8, 4, true);
    dv.setUint32(12, entries, true);
    p.u8.set(Buffer.from('ix_xsks\0'), 28);
    const fd = libc.bpf(BPF_MAP_CREATE, p.addr, ATTR);
    if (fd < 0) fail(`bpf(BPF_MAP_CREATE, XSKMAP of ${entries})`, 'AF_XDP needs a kernel with CONFIG_XDP_SOCKETS and CAP_BPF/CAP_NET_ADMIN (run as root)');
    return fd;
  });
}

/** xskmap[key] = socket fd */
export function setXskMapEntry(mapFd: number, key: number, xskFd: number): void {
  withPage((p) => {
    const dv = p.zero(ATTR + 16).dv;
    dv.setUint32(ATTR, key, true);
    dv.setUint32(ATTR + 8, xskFd, true);
    dv.setUint32(0, mapFd, true);
    dv.setBigUint64(8, BigInt(p.addr + ATTR), true);
    dv.setBigUint64(16, BigInt(p.addr + ATTR + 8), true);
    if (libc.bpf(BPF_MAP_UPDATE_ELEM, p.addr, ATTR) < 0) fail(`bpf(BPF_MAP_UPDATE_ELEM, queue ${key})`, 'the socket must be bound before it enters the map');
  });
}

/** Load the program for this address; on a verifier refusal the message carries its log. */
export function loadDataplaneProgram(addrHostOrder: number, mapFd: number): number {
  const code = encodeProgram(dataplaneXdpProgram(addrHostOrder, mapFd));
  return withPage((p) => {
    p.zero();
    const CODE = 256;
    const LIC = CODE + code.length;
    const LOG = 1024;
    const LOG_SIZE = 3072;
    p.u8.set(code, CODE);
    p.u8.set(Buffer.from('GPL\0'), LIC);
    const dv = p.dv;
    dv.setUint32(0, BPF_PROG_TYPE_XDP, true);
    dv.setUint32(4, code.length / 8, true);
    dv.setBigUint64(8, BigInt(p.addr + CODE), true);
    dv.setBigUint64(16, BigInt(p.addr + LIC), true);
    dv.setUint32(24, 1, true); // log_level
    dv.setUint32(28, LOG_SIZE, true);
    dv.setBigUint64(32, BigInt(p.addr + LOG), true);
    p.u8.set(Buffer.from('ix_dataplane\0'), 48);
    // The verifier abandons a load (EAGAIN) when a signal is pending, as KVM_CREATE_VM
    // does (EINTR): an operator's SIGTERM during setup must not turn into a failed run.
    const fd = libc.withSignalsBlocked(() => {
      const r = libc.bpf(BPF_PROG_LOAD, p.addr, ATTR);
      return r < 0 ? -libc.errno() : r;
    });
    if (fd < 0) {
      const e = -fd;
      const log = Buffer.from(p.u8.subarray(LOG, LOG + LOG_SIZE)).toString('utf8').replace(/\0.*$/s, '').trim();
      throw new XdpSetupError(`bpf(BPF_PROG_LOAD) of the XDP program failed: ${errnoText(e)}${log ? `; verifier: ${log}` : ''}`);
    }
    return fd;
  });
}

/** Attach through a BPF link (closed with its fd, and by the kernel when the process dies). */
export function linkXdp(progFd: number, ifindex: number, flags: number, ifname: string): number {
  return withPage((p) => {
    const dv = p.zero(ATTR).dv;
    dv.setUint32(0, progFd, true);
    dv.setUint32(4, ifindex, true);
    dv.setUint32(8, BPF_XDP, true);
    dv.setUint32(12, flags, true);
    const fd = libc.bpf(BPF_LINK_CREATE, p.addr, ATTR);
    if (fd < 0)
      fail(`bpf(BPF_LINK_CREATE) of XDP on ${ifname}`, `is another XDP program attached (ip link show dev ${ifname}; remove it with ip link set dev ${ifname} xdp off)?`);
    return fd;
  });
}
