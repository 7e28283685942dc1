// Which RX queue a received frame belongs to: ARP goes to every queue (each core keeps its own
// ARP cache), everything else to the queue the Toeplitz hash and redirection table name
// (toeplitz.ts). The frame lies in a validated guest chain, possibly split over segments.
import type { GuestMemory } from './guest-memory.js';
import { ETH_HLEN, VNET_HDR_LEN } from './frame.js';
import { RETA_QUEUE_MASK, RssSteering, type RssConfig } from './toeplitz.js';
import type { Chain } from './virtqueue.js';

export class FrameSteering {
  private readonly rss: RssSteering;
  private readonly hdrScratch = new Uint8Array(ETH_HLEN + 60 + 4);

  constructor(
    private readonly mem: GuestMemory,
    rss: RssConfig,
    private readonly nq: number,
    live?: Int32Array,
  ) {
    this.rss = new RssSteering(rss, nq, live);
  }

  /** Is the frame in chain c an ARP frame? (Ethertype in the first segment; else: no.) */
  isArp(c: Chain): boolean {
    if (c.len[0]! < VNET_HDR_LEN + ETH_HLEN) return false;
    const at = c.addr[0]! + VNET_HDR_LEN + 12;
    return this.mem.u8[at] === 0x08 && this.mem.u8[at + 1] === 0x06;
  }

  /** RSS queue of the frame in chain c (n bytes including the virtio-net header). */
  queueOf(c: Chain, n: number): number {
    if (this.nq === 1) return 0;
    const e = this.entryOf(c, n);
    return e < 0 ? 0 : this.rss.valueAt(e) & RETA_QUEUE_MASK;
  }

  /** The redirection table's value at entry e (queue, RETA_HOLD while its group moves). */
  valueAt(e: number): number {
    return this.rss.valueAt(e);
  }

  /** Redirection table entry (flow group) of the frame in chain c, -1 if not IPv4. */
  entryOf(c: Chain, n: number): number {
    const first = c.len[0]!;
    if (first >= n) return this.rss.entryOf(this.mem.u8, c.addr[0]! + VNET_HDR_LEN, n - VNET_HDR_LEN);
    // headers span segments: gather them into a small scratch first
    const want = Math.min(n - VNET_HDR_LEN, this.hdrScratch.length);
    let skip = VNET_HDR_LEN;
    let got = 0;
    for (let i = 0; i < c.count && got < want; i++) {
      let off = c.addr[i]!;
      let len = c.len[i]!;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      off += skip;
      len -= skip;
      skip = 0;
      const k = Math.min(len, want - got);
      this.hdrScratch.set(this.mem.u8.subarray(off, off + k), got);
      got += k;
    }
    return this.rss.entryOf(this.hdrScratch, 0, got);
  }
}
