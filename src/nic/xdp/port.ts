// The XDP side of a dataplane's NIC, opened by the backend on the main thread: an XSKMAP, one
// AF_XDP socket per receive queue of the interface (UMEM = guest RAM), the program for the
// dataplane's address, and the BPF link that attaches it. Closing the link fd (stop, or the
// kernel at process exit, SIGKILL included) takes the program off the interface.
import * as libc from '../../sys/libc.js';
import { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE, XdpSetupError, createXskMap, linkXdp, loadDataplaneProgram, setXskMapEntry } from './bpf.js';
import { closeXsk, interfaceRxQueues, openXsk, type XskSocket } from './xsk.js';

export interface XdpPort {
  ifname: string;
  ifindex: number;
  sockets: XskSocket[];
  /** 'copy' or 'zero-copy' (what the kernel reports for the bound sockets) */
  copyMode: 'copy' | 'zero-copy';
  /** 'generic' (XDP on the skb, every driver; the default) or 'native' (in the driver; only with IX_EXPERIMENT_XDP_NATIVE=1) */
  xdpMode: XdpMode;
  close(): void;
}

/** Entries of each socket's rings (FILL and RX hold up to a queue's buffers, TX the bounce slots). */
export const XSK_RING_SIZE = 512;

export type XdpMode = 'generic' | 'native';

/**
 * Generic XDP unless the environment asks for the native-mode experiment
 * (IX_EXPERIMENT_XDP_NATIVE=1, docs/nic.md): native is faster on NIC drivers that have it,
 * but on veth it depends on the kernel whether redirected frames arrive, so it is not the default.
 */
export function xdpModeFromEnv(env: NodeJS.ProcessEnv = process.env): XdpMode {
  return env.IX_EXPERIMENT_XDP_NATIVE === '1' ? 'native' : 'generic';
}

export function openXdpPort(o: { ifname: string; nqueues: number; addr: number; mem: { base: number; size: number }; mode?: XdpMode }): XdpPort {
  const mode = o.mode ?? 'generic';
  const ifindex = libc.ifNametoindex(o.ifname);
  if (ifindex === 0) throw new XdpSetupError(`interface ${o.ifname} not found in this network namespace; give an existing interface in [nic] interface (ip link show)`);
  const nrx = interfaceRxQueues(o.ifname);
  if (nrx < 1) throw new XdpSetupError(`interface ${o.ifname} reports no receive queues`);
  const nsock = Math.max(nrx, o.nqueues);
  const fds: number[] = [];
  const sockets: XskSocket[] = [];
  const close = (): void => {
    for (const fd of fds.reverse()) libc.close(fd);
    fds.length = 0;
    for (const s of sockets.splice(0)) closeXsk(s);
  };
  try {
    for (let q = 0; q < nsock; q++) {
      if (q >= nrx)
        throw new XdpSetupError(`interface ${o.ifname} has ${nrx} receive queue(s) but the dataplane ${o.nqueues} cores: give it at least as many queues (veth: numrxqueues/numtxqueues; NICs: ethtool -L ${o.ifname} combined ${o.nqueues})`);
      sockets.push(openXsk({ ifindex, ifname: o.ifname, queue: q, mem: o.mem, ringSize: XSK_RING_SIZE }));
    }
    const map = createXskMap(nsock);
    fds.push(map);
    sockets.forEach((s, q) => setXskMapEntry(map, q, s.fd));
    const prog = loadDataplaneProgram(o.addr, map);
    fds.push(prog);
    fds.push(linkXdp(prog, ifindex, mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, o.ifname));
  } catch (e) {
    close();
    throw e;
  }
  return {
    ifname: o.ifname,
    ifindex,
    sockets,
    copyMode: sockets.every((s) => s.zeroCopy) ? 'zero-copy' : 'copy',
    xdpMode: mode,
    close,
  };
}
