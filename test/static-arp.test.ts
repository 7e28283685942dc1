// Static ARP entries end to end: `ix run` with [[nic.arp]] entries, a real guest on 2 cores,
// Linux in the dataplane's own namespace. Linux knows the guest's MAC as a permanent
// neighbour, so it never sends an ARP request and the guest can learn nothing from Linux:
// whatever the guest sends to an address it did not ask ARP about, it sent from its static
// table. Frames are captured on the TAP inside the namespace (an AF_PACKET socket in
// Python; no tcpdump needed). One run checks:
//   - 10.10.0.1, static with the TAP's real MAC: TCP (many connections, so both cores
//     answer) and ping work, and the guest sends no ARP request for it;
//   - 10.10.0.3, static with a MAC nobody has: pings and UDP from many ports get no answer,
//     the replies are on the wire addressed to that MAC, and no ARP request for it;
//   - 10.10.0.4, no entry: the guest resolves it by ARP as before (dynamic entries still work).
// Traffic stays inside the namespace ix creates; ix removes it when it stops.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireNetKvm } from './kvm-env.js';
import { appElf, tempDir, writeConfig } from './ix-cli.js';
import { netnsExists, startDataplane, type RunningDataplane } from './dataplane-proc.js';
import { cleanupStaleNetns } from '../src/nic/netns.js';

const run = requireNetKvm('the static ARP end-to-end test');

const { dir, cleanup } = tempDir('ix-static-arp-');
const CLIENT = resolve('test/fixtures/e2e/echo_client.py');

const GUEST = '10.10.0.2';
const GUEST_MAC = '02:00:00:00:0a:02';
const PEER = '10.10.0.1'; // static, correct MAC (the TAP is given this MAC)
const PEER_MAC = '02:00:00:00:0a:01';
const WRONG = '10.10.0.3'; // static, a MAC nobody has
const WRONG_MAC = '02:de:ad:be:ef:03';
const DYN = '10.10.0.4'; // no entry: resolved by ARP

// Captures every frame on an interface until SIGTERM (or a hard limit), then prints them as
// one JSON line. "ready" once the socket is bound, so traffic starts after it.
const CAPTURE = `
import json, signal, socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
s.settimeout(0.05)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
print('ready', flush=True)
end = time.time() + float(sys.argv[2])
out = []
while not stop and time.time() < end:
    try:
        b, a = s.recvfrom(4096)
    except socket.timeout:
        continue
    f = {'out': a[2] == 4, 'dst': b[0:6].hex(':'), 'src': b[6:12].hex(':'), 'type': int.from_bytes(b[12:14], 'big')}
    if f['type'] == 0x806 and len(b) >= 42:
        f['op'] = int.from_bytes(b[20:22], 'big'); f['spa'] = socket.inet_ntoa(b[28:32]); f['tpa'] = socket.inet_ntoa(b[38:42])
    elif f['type'] == 0x800 and len(b) >= 34:
        f['proto'] = b[23]; f['ipsrc'] = socket.inet_ntoa(b[26:30]); f['ipdst'] = socket.inet_ntoa(b[30:34])
    out.append(f)
print(json.dumps(out), flush=True)
`;

// n UDP sockets bound to the given source address (n flows: RSS spreads them over the
// cores), one datagram each to the echo port; prints how many replies came back within 1 s.
const UDP_FROM = `
import json, select, socket, sys, time
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.setblocking(False)
    s.sendto(b'static-arp-%d' % i, (dst, 7))
    socks.append(s)
got = 0
end = time.time() + 1.0
while socks and time.time() < end:
    ready, _, _ = select.select(socks, [], [], max(0.0, end - time.time()))
    for s in ready:
        s.recvfrom(100)
        got += 1
        socks.remove(s)
print(json.dumps({'sent': n, 'replies': got}))
`;

interface Frame {
  out: boolean;
  dst: string;
  src: string;
  type: number;
  op?: number;
  spa?: string;
  tpa?: string;
  proto?: number;
  ipsrc?: string;
  ipdst?: string;
}

let capture: ChildProcess | null = null;
afterAll(async () => {
  capture?.kill('SIGKILL');
  // startDataplane SIGKILLs an ix that never got ready: its namespace outlives it
  await new Promise((r) => setTimeout(r, 200));
  cleanupStaleNetns();
  cleanup();
});

function startCapture(netns: string, tap: string): Promise<{ stop: () => Promise<Frame[]> }> {
  const p = spawn('ip', ['netns', 'exec', netns, 'python3', '-c', CAPTURE, tap, '120'], { stdio: ['ignore', 'pipe', 'pipe'] });
  capture = p;
  let out = '';
  let err = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((res) => p.once('exit', () => res()));
  return new Promise((res, rej) => {
    const t0 = Date.now();
    const poll = (): void => {
      if (out.startsWith('ready\n')) {
        res({
          stop: async () => {
            p.kill('SIGTERM');
            const limit = new Promise<void>((r) => setTimeout(r, 10_000));
            await Promise.race([exited, limit]);
            if (p.exitCode === null) p.kill('SIGKILL');
            const line = out.split('\n')[1] ?? '';
            if (!line.startsWith('[')) throw new Error(`capture printed no frames (exit ${p.exitCode}): ${out}\n${err}`);
            return JSON.parse(line) as Frame[];
          },
        });
      } else if (p.exitCode !== null || Date.now() - t0 > 10_000) {
        p.kill('SIGKILL');
        rej(new Error(`capture did not start: ${out}\n${err}`));
      } else setTimeout(poll, 20);
    };
    poll();
  });
}

function config(name: string): string {
  return writeConfig(
    dir,
    name,
    `name = "${name}"\ncores = 2\nmemory = "256M"\n[app]\npath = "${appElf('echo')}"\nargs = ["7"]\nheap = "32M"\n` +
      `[nic]\nnamespace = true\naddress = "${GUEST}/24"\ngateway = "${PEER}"\nmac = "${GUEST_MAC}"\n` +
      `[[nic.arp]]\nip = "${PEER}"\nmac = "${PEER_MAC}"\n` +
      `[[nic.arp]]\nip = "${WRONG}"\nmac = "${WRONG_MAC.toUpperCase().replace(/:/g, '-')}"\n`,
  );
}

describe.runIf(run)('static ARP entries ([[nic.arp]]) in a running dataplane', () => {
  it('are used without ARP requests on every core, override what the wire says, and leave dynamic ARP working', async () => {
    const dp: RunningDataplane = await startDataplane(config(`sarp${process.pid}`), /echo: serving/);
    let frames: Frame[] = [];
    try {
      const nicUp = dp.records.find((r) => String(r.msg).startsWith('NIC up'))!;
      const tap = String(nicUp.tap);
      const sh = (args: string[]): void => {
        const r = dp.exec('ip', args, 10_000);
        expect(r.status, `ip ${args.join(' ')}: ${r.stderr}`).toBe(0);
      };
      // Linux's side: the TAP gets the MAC the static entry names, two more addresses, and
      // the guest as a permanent neighbour (so Linux never asks ARP and the guest never
      // learns Linux's MAC from a request)
      sh(['link', 'set', 'dev', tap, 'address', PEER_MAC]);
      sh(['addr', 'add', `${WRONG}/24`, 'dev', tap]);
      sh(['addr', 'add', `${DYN}/24`, 'dev', tap]);
      sh(['neigh', 'replace', GUEST, 'lladdr', GUEST_MAC, 'dev', tap, 'nud', 'permanent']);

      const cap = await startCapture(dp.netns, tap);
      try {
        // the correct static entry: TCP over many connections (RSS spreads them over both
        // cores, so both answer) and ping
        const tcp = dp.exec('python3', [CLIENT, GUEST, '7', 'tcp-many', '64'], 60_000);
        expect(tcp.status, tcp.stderr).toBe(0);
        expect(JSON.parse(tcp.stdout)).toEqual({ conns: 64, ok: 64 });
        expect(dp.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '-I', PEER, GUEST], 30_000).stdout).toMatch(/3 received/);
        // the wrong static entry: no answers reach Linux
        expect(dp.exec('ping', ['-c', '3', '-i', '0.2', '-W', '1', '-I', WRONG, GUEST], 30_000).stdout).toMatch(/3 packets transmitted, 0 received/);
        const udp = dp.exec('python3', ['-c', UDP_FROM, WRONG, GUEST, '16'], 30_000);
        expect(udp.status, udp.stderr).toBe(0);
        expect(JSON.parse(udp.stdout)).toEqual({ sent: 16, replies: 0 });
        // no entry: ARP as before
        expect(dp.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '-I', DYN, GUEST], 30_000).stdout).toMatch(/3 received/);
      } finally {
        frames = await cap.stop();
      }
    } finally {
      const { code, summary } = await dp.stop();
      expect(code).toBe(0);
      expect(netnsExists(dp.netns)).toBe(false);
      // both cores carried traffic (so both used their copy of the static entries)
      const perCore = ((summary?.cores ?? []) as { rxFrames: number }[]).map((c) => c.rxFrames);
      expect(perCore).toHaveLength(2);
      for (const n of perCore) expect(n).toBeGreaterThan(0);
    }

    const fromGuest = frames.filter((f) => !f.out && f.src === GUEST_MAC);
    const ipTo = (ip: string) => fromGuest.filter((f) => f.type === 0x800 && f.ipdst === ip);
    const arpRequests = fromGuest.filter((f) => f.type === 0x806 && f.op === 1).map((f) => f.tpa);
    const summary = JSON.stringify({ arpRequests, frames: frames.length });
    // the guest asked ARP only about the address without an entry
    expect(arpRequests.length, summary).toBeGreaterThan(0);
    expect(new Set(arpRequests), summary).toEqual(new Set([DYN]));
    // and sent each destination's frames to the MAC its entry (or ARP) gave
    expect(ipTo(PEER).length, summary).toBeGreaterThanOrEqual(64 + 3);
    expect(ipTo(PEER).every((f) => f.dst === PEER_MAC), summary).toBe(true);
    expect(ipTo(WRONG).filter((f) => f.proto === 1).length, summary).toBeGreaterThanOrEqual(3);
    expect(ipTo(WRONG).filter((f) => f.proto === 17).length, summary).toBe(16);
    expect(ipTo(WRONG).every((f) => f.dst === WRONG_MAC), summary).toBe(true);
    expect(ipTo(DYN).length, summary).toBeGreaterThanOrEqual(3);
    expect(ipTo(DYN).every((f) => f.dst === PEER_MAC), summary).toBe(true);
    // Linux never asked about the guest (its entry is permanent): nothing to learn from
    expect(frames.filter((f) => f.out && f.type === 0x806 && f.op === 1).length, summary).toBe(0);
  }, 180_000);
});
