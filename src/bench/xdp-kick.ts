/**
 * `node dist/bench/xdp-kick.js [frames]`: what the AF_XDP transmit kick costs in copy mode
 * (docs/nic.md, XDP backend). Not a test. In a fresh namespace pair joined by a veth
 * (src/testing/xdp-link.ts), one AF_XDP socket on queue 0 with a 1 MiB UMEM posts 64-byte
 * frames in its TX ring in batches of 1, 8, 32 and 64 and times the sendto() calls that make
 * the kernel send them (it sends at most 32 per call), and a sendto() with nothing to send.
 */
import * as libc from '../sys/libc.js';
import { RingView } from '../nic/xdp/ring.js';
import { closeXsk, openXsk } from '../nic/xdp/xsk.js';
import { createXdpLink } from '../testing/xdp-link.js';

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Row { batch: number; frames: number; usPerKickCall: number; usPerFrame: number; callsPerBatch: number }

/** Runs inside the dataplane namespace (the socket must be opened there). */
function measure(ifname: string, total: number): Row[] {
  const size = 1 << 20;
  const base = libc.mapAnon(size, { shared: true });
  const s = openXsk({ ifindex: libc.ifNametoindex(ifname), ifname, queue: 0, mem: { base, size }, ringSize: 512 });
  const u8 = new Uint8Array(libc.view(base, size));
  for (let i = 0; i < 256; i++) {
    const f = u8.subarray(i * 2048, i * 2048 + 64);
    f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5]); // local experimental ethertype
  }
  const tx = new RingView(s.tx, 16);
  const comp = new RingView(s.comp, 8);
  const rows: Row[] = [];
  for (const batch of [0, 1, 8, 32, 64]) {
    let calls = 0;
    let ns = 0n;
    let sent = 0;
    const rounds = batch === 0 ? 2000 : Math.ceil(total / batch);
    for (let r = 0; r < rounds; r++) {
      let p = tx.producer();
      for (let i = 0; i < batch; i++) {
        tx.setAddr(p, ((p + i) % 256) * 2048);
        tx.dv.setUint32(tx.at(p) + 8, 64, true);
        p = (p + 1) >>> 0;
      }
      tx.setProducer(p);
      const t0 = process.hrtime.bigint();
      do {
        libc.sendto(s.fd, 0, 0, libc.MSG_DONTWAIT, 0, 0);
        calls++;
      } while (tx.consumer() !== tx.producer() && calls < 1e7);
      ns += process.hrtime.bigint() - t0;
      comp.setConsumer(comp.producer());
      sent += batch;
    }
    const us = Number(ns) / 1000;
    rows.push({ batch, frames: sent, usPerKickCall: us / calls, usPerFrame: sent ? us / sent : 0, callsPerBatch: calls / rounds });
  }
  closeXsk(s);
  libc.unmap(base, size);
  return rows;
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] === self) {
  if (process.argv[2] === '--inside') {
    console.log(JSON.stringify(measure(process.argv[3]!, Number(process.argv[4]))));
  } else {
    const total = Number(process.argv[2] ?? 64000);
    const link = createXdpLink({ queues: 1, tag: 'kick' });
    try {
      const r = spawnSync('ip', ['netns', 'exec', link.dp.name, process.execPath, self, '--inside', link.ifname, String(total)], { encoding: 'utf8', timeout: 120_000 });
      if (r.status !== 0) throw new Error(r.stderr);
      const rows = JSON.parse(r.stdout) as Row[];
      console.log('batch  frames  sendto calls/batch  us per sendto  us per frame');
      for (const x of rows)
        console.log(`${String(x.batch).padStart(5)}  ${String(x.frames).padStart(6)}  ${x.callsPerBatch.toFixed(2).padStart(18)}  ${x.usPerKickCall.toFixed(2).padStart(13)}  ${x.batch ? x.usPerFrame.toFixed(2).padStart(12) : '-'.padStart(12)}`);
    } finally {
      link.remove();
    }
  }
}

