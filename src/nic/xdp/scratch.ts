// A page of native memory for set-up calls that take struct addresses (bpf_attr, sockaddr_xdp,
// socket options). Set-up only: the packet path never allocates.
import * as libc from '../../sys/libc.js';

export class NativePage {
  readonly addr: number;
  readonly dv: DataView;
  readonly u8: Uint8Array;
  static readonly SIZE = 4096;

  constructor() {
    this.addr = libc.mapAnon(NativePage.SIZE);
    const ab = libc.view(this.addr, NativePage.SIZE);
    this.dv = new DataView(ab);
    this.u8 = new Uint8Array(ab);
  }

  zero(len = NativePage.SIZE): this {
    this.u8.fill(0, 0, len);
    return this;
  }

  free(): void {
    libc.unmap(this.addr, NativePage.SIZE);
  }
}

/** Run fn with a fresh zeroed page, freed afterwards. */
export function withPage<T>(fn: (p: NativePage) => T): T {
  const p = new NativePage();
  try {
    return fn(p);
  } finally {
    p.free();
  }
}
