// A link for the XDP backend in tests and benchmarks: two fresh namespaces joined by a veth
// pair. The dataplane side (`dp`) holds the interface the dataplane attaches to, with Linux's
// own address on it; the client side holds the peer, with checksum offload turned off (a veth
// peer otherwise sends TCP/UDP with partial checksums that only Linux's stack completes; a
// dataplane behind AF_XDP sees the raw frame). Both namespaces go away with remove(), or at
// process exit.
import { spawnSync } from 'node:child_process';
import { Netns, NetnsError } from '../nic/netns.js';

export interface XdpLink {
  dp: Netns;
  client: Netns;
  /** the interface in `dp` the dataplane attaches to */
  ifname: string;
  /** Linux's address on that interface, the dataplane's, the client's (all /24) */
  linuxAddr: string;
  dpAddr: string;
  clientAddr: string;
  remove(): void;
}

export function createXdpLink(o: { queues: number; tag: string }): XdpLink {
  const dp = new Netns(`${o.tag}d`);
  let client: Netns | undefined;
  try {
    client = new Netns(`${o.tag}c`);
    const q = String(o.queues);
    dp.ip('link', 'add', 'ixdp0', 'numtxqueues', q, 'numrxqueues', q, 'type', 'veth', 'peer', 'name', 'ixcl0', 'numtxqueues', q, 'numrxqueues', q, 'netns', client.name);
    dp.ip('addr', 'add', '10.77.0.1/24', 'dev', 'ixdp0');
    dp.ip('link', 'set', 'ixdp0', 'up');
    client.ip('addr', 'add', '10.77.0.3/24', 'dev', 'ixcl0');
    client.ip('link', 'set', 'ixcl0', 'up');
    const r = spawnSync('ip', ['netns', 'exec', client.name, 'ethtool', '-K', 'ixcl0', 'tx', 'off'], { encoding: 'utf8' });
    if (r.status !== 0) throw new NetnsError(`ethtool -K ixcl0 tx off failed: ${(r.stderr || r.error?.message || '').trim()} (install ethtool)`);
  } catch (e) {
    client?.remove();
    dp.remove();
    throw e;
  }
  const c = client;
  return {
    dp,
    client: c,
    ifname: 'ixdp0',
    linuxAddr: '10.77.0.1',
    dpAddr: '10.77.0.2',
    clientAddr: '10.77.0.3',
    remove() {
      c.remove();
      dp.remove();
    },
  };
}
