// What the NIC bench's client (nicping) talks to, besides the fake-guest TAP backends of
// src/bench/nic.ts: a C reflector (on the bench's TAP or on the veth pair) or the echo
// dataplane started like `ix run` (src/bench/e2e-ix.ts) over AF_XDP on the veth pair or over
// a TAP of its own. Each is a NicTarget: where the client runs, its source and destination
// addresses, and how to stop it (kill() is the synchronous last resort for Ctrl-C).
import { spawn } from 'node:child_process';
import { appElf } from '../control/paths.js';
import type { XdpLink } from '../testing/xdp-link.js';
import { IX_GATEWAY, startIx, writeIxConfig, type IxApp, type IxXdp } from './e2e-ix.js';
import { NicBenchError } from './nic-options.js';

export interface NicTarget {
  /** namespace the client runs in */
  netns: string;
  src: string;
  dst: string;
  stop(): Promise<void>;
  kill(): void;
}

/** The UDP port every reflector answers on (the echo app's). */
export const ECHO_PORT = 7;

/** Start a C reflector `argv` inside `netns` pinned to `cpu`; resolves once it prints "ready".
 * `client`: where the client runs and its addresses. */
export async function startCReflector(netns: string, cpu: number, argv: string[], client: { netns: string; src: string; dst: string }, readyMs = 10_000): Promise<NicTarget> {
  const child = spawn('ip', ['netns', 'exec', netns, 'taskset', '-c', String(cpu), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  const stop = async () => {
    kill();
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new NicBenchError(`${argv[0]} did not print "ready" within ${readyMs} ms`)), readyMs);
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && (clearTimeout(t), resolve()));
      child.once('exit', (c) => (clearTimeout(t), reject(new NicBenchError(`${argv[0]} exited early (code ${c}); its error is above`))));
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { ...client, stop, kill };
}

/**
 * The AF_PACKET reflector on the dataplane's end of the veth pair, answering for the address
 * the dataplane would have. The client gets a permanent neighbour entry for it (nobody answers
 * ARP there), removed again at stop so the dataplane configurations ARP as usual.
 */
export async function startVethReflector(link: XdpLink, tool: string, cpu: number, seconds: number): Promise<NicTarget> {
  const mac = /link\/ether ([0-9a-f:]{17})/.exec(link.dp.ip('link', 'show', 'dev', link.ifname))?.[1];
  if (!mac) throw new NicBenchError(`no MAC address on ${link.ifname} in ${link.dp.name}`);
  const peer = clientIf(link);
  link.client.ip('neigh', 'replace', link.dpAddr, 'lladdr', mac, 'dev', peer, 'nud', 'permanent');
  let t: NicTarget;
  try {
    t = await startCReflector(link.dp.name, cpu, [tool, link.ifname, link.dpAddr, String(seconds)], { netns: link.client.name, src: link.clientAddr, dst: link.dpAddr });
  } catch (e) {
    link.client.ip('neigh', 'del', link.dpAddr, 'dev', peer);
    throw e;
  }
  return {
    ...t,
    async stop() {
      await t.stop();
      link.client.ip('neigh', 'del', link.dpAddr, 'dev', peer);
    },
  };
}

/** The client's end of the veth pair (the interface holding the client's address). */
function clientIf(link: XdpLink): string {
  const out = link.client.ip('-o', '-4', 'addr', 'show');
  const dev = new RegExp(`^\\d+: (\\S+)\\s+inet ${link.clientAddr.replace(/\./g, '\\.')}/`, 'm').exec(out)?.[1];
  if (!dev) throw new NicBenchError(`no interface with ${link.clientAddr} in ${link.client.name}`);
  return dev;
}

/** How long a dataplane start waits for a CPU another dataplane has pinned. */
const PINNED_WAIT_MS = 90_000;
const PINNED_RETRY_MS = 3_000;

export type DataplaneConfig = 'xdp-guest' | 'xdp-host' | 'dataplane-tap';

/**
 * The echo dataplane (guest/apps/echo.c: UDP echo on port 7) on one core pinned to `cpu`,
 * written as a config file in `dir` and started with `ix run` the way the e2e bench does:
 * over AF_XDP on the veth pair (`link`) with the guest or the host thread on the rings, or
 * over a TAP in a fresh namespace of its own.
 */
export async function startEchoDataplane(config: DataplaneConfig, o: { dir: string; cpu: number; backendSpinUs: number; link: XdpLink | null; log: (m: string) => void }): Promise<NicTarget> {
  const app: IxApp = { name: 'nicecho', elf: appElf('echo'), args: [String(ECHO_PORT)], ports: [ECHO_PORT], heap: '32M' };
  let xdp: IxXdp | undefined;
  if (config !== 'dataplane-tap') {
    if (!o.link) throw new NicBenchError(`${config} needs the veth pair, which was not created`);
    xdp = { ifname: o.link.ifname, address: o.link.dpAddr, dpNetns: o.link.dp.name, clientNetns: o.link.client.name, rings: config === 'xdp-guest' ? 'guest' : 'host' };
  }
  const cfg = writeIxConfig(o.dir, app, [o.cpu], o.backendSpinUs, xdp);
  // another dataplane on this host may hold the CPU for a while (shared hosts): wait, bounded
  let dp;
  for (let waited = 0; ; waited += PINNED_RETRY_MS) {
    try {
      dp = await startIx(cfg, ECHO_PORT, 60_000, xdp);
      break;
    } catch (e) {
      const pinned = /already pinned by dataplane '[^']*'/.exec((e as Error).message)?.[0];
      if (!pinned || waited >= PINNED_WAIT_MS) throw e;
      o.log(`nic bench ${config}: host CPU ${o.cpu} ${pinned}; retrying in ${PINNED_RETRY_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, PINNED_RETRY_MS));
    }
  }
  return {
    netns: dp.netns,
    src: xdp ? o.link!.clientAddr : IX_GATEWAY,
    dst: dp.address,
    async stop() {
      const s = await dp.stop();
      if (s.code !== 0 && s.code !== null) o.log(`nic bench ${config}: ix run exited with ${s.code}`);
    },
    kill() {
      if (dp.proc.exitCode === null && dp.proc.signalCode === null) dp.proc.kill('SIGTERM');
    },
  };
}
