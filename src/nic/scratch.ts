// Native scratch memory of the engine: iovec arrays for readv/writev, the host's own all-zero
// virtio-net header for TX, and (io = 'burst') the argument arrays of the C helper.
import type { GuestMemory } from './guest-memory.js';
import * as libc from '../sys/libc.js';
import { VNET_HDR_LEN } from './frame.js';
import { MAX_CHAIN_SEGS, type Chain } from './virtqueue.js';

const ZERO_HDR_OFF = 16 * (MAX_CHAIN_SEGS + 1);
const IOV_AREA = 4096;
// burst area: u64 addr[64] | u32 len[64] | i32 out[64] | i32 cnt[64] | i32 res[64] | iovec[64 * 65]
export const BURST = { max: 64, addr: 0, len: 512, out: 768, cnt: 1024, res: 1280, iov: 2048 } as const;
const B_AREA = BURST.iov + 16 * BURST.max * (MAX_CHAIN_SEGS + 1);

export class IoScratch {
  /** native struct iovec[MAX_CHAIN_SEGS + 1] */
  readonly iov: number;
  readonly iovDv: DataView;
  private readonly zeroHdr: number;
  /** burst argument area (0 without burst I/O) */
  readonly bArea: number;
  readonly bDv: DataView | undefined;

  constructor(
    private readonly mem: GuestMemory,
    burst: boolean,
  ) {
    this.iov = libc.mapAnon(IOV_AREA);
    this.iovDv = new DataView(libc.view(this.iov, IOV_AREA));
    this.zeroHdr = this.iov + ZERO_HDR_OFF;
    if (burst) {
      this.bArea = libc.mapAnon(B_AREA);
      this.bDv = new DataView(libc.view(this.bArea, B_AREA));
    } else {
      this.bArea = 0;
    }
  }

  close(): void {
    if (this.bArea !== 0) libc.munmap(this.bArea, B_AREA);
    libc.munmap(this.iov, IOV_AREA);
  }

  /** iovec array over the segments of a validated chain; returns its address. */
  fillIov(c: Chain): number {
    const dv = this.iovDv;
    for (let i = 0; i < c.count; i++) {
      dv.setBigUint64(16 * i, BigInt(this.mem.host(c.addr[i]!)), true);
      dv.setBigUint64(16 * i + 8, BigInt(c.len[i]!), true);
    }
    return this.iov;
  }

  /**
   * iovec for a TX chain with the guest's 12-byte header replaced by the host's zero header:
   * the kernel never sees a guest-controlled virtio_net_hdr, so a guest flipping header bits
   * after our check (it can write its buffers at any time) cannot request offloads. Returns
   * the number of iovecs (at this.iov).
   */
  fillTxIov(c: Chain): number {
    const dv = this.iovDv;
    dv.setBigUint64(0, BigInt(this.zeroHdr), true);
    dv.setBigUint64(8, BigInt(VNET_HDR_LEN), true);
    let n = 1;
    let skip = VNET_HDR_LEN;
    for (let i = 0; i < c.count; i++) {
      let len = c.len[i]!;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      len -= skip;
      dv.setBigUint64(16 * n, BigInt(this.mem.host(c.addr[i]! + skip)), true);
      dv.setBigUint64(16 * n + 8, BigInt(len), true);
      skip = 0;
      n++;
    }
    return n;
  }
}
