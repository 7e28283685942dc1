/**
 * guest/include/ix/stats.h: the per-core dataplane counters the guest keeps in the boot info
 * page (bootinfo.stats[cpu]) and the host reads without exits. Each counter is declared once
 * here, with what `ix stats` and the Prometheus endpoint say about it; everything else (the
 * sample the VMM takes, the rates, the metrics) is derived from this table.
 */
import { array, defineStruct, u64, type StructValue } from './struct.js';

/** RX batch-size buckets of ix_core_stats.rx_batches (IX_STATS_BATCH_BUCKETS) */
export const BATCH_BUCKETS = ['0', '1', '2-3', '4-7', '8-15', '16-31', '32-63', '64+'] as const;
export const STATS_BATCH_BUCKETS = BATCH_BUCKETS.length;

export const CoreStats = defineStruct('ix_core_stats', 272, {
  rxFrames: u64(0), txFrames: u64(8), rxBytes: u64(16), txBytes: u64(24), loops: u64(32),
  rxBatches: array('u64', 40, STATS_BATCH_BUCKETS), bpolls: u64(104), calls: u64(112), events: u64(120),
  drops: u64(128), tcpConns: u64(136), busyCycles: u64(144), idleCycles: u64(152), halts: u64(160),
  tsc: u64(168), synCookies: u64(176), synCookieConns: u64(184), synCookieBad: u64(192), synDrops: u64(200),
  copies: u64(208), mbufsUsed: u64(216), rstSent: u64(224), rstNoConn: u64(232), rstBadAck: u64(240), rstApp: u64(248),
  tcpTimeouts: u64(256), synCookieSuperseded: u64(264),
});
export type CoreStatsValue = StructValue<typeof CoreStats>;

/** The scalar counters, with their Prometheus names (rxBatches and tsc are handled apart). */
export const CORE_COUNTERS = [
  { key: 'rxFrames', metric: 'ix_rx_frames_total', type: 'counter', help: 'Frames received from the core\'s NIC queue.' },
  { key: 'txFrames', metric: 'ix_tx_frames_total', type: 'counter', help: 'Frames handed to the core\'s NIC queue.' },
  { key: 'rxBytes', metric: 'ix_rx_bytes_total', type: 'counter', help: 'Bytes received.' },
  { key: 'txBytes', metric: 'ix_tx_bytes_total', type: 'counter', help: 'Bytes transmitted.' },
  { key: 'loops', metric: 'ix_loops_total', type: 'counter', help: 'Dataplane loop iterations.' },
  { key: 'bpolls', metric: 'ix_bpolls_total', type: 'counter', help: 'ix_bpoll traps from the app.' },
  { key: 'calls', metric: 'ix_calls_total', type: 'counter', help: 'Batched calls executed.' },
  { key: 'events', metric: 'ix_events_total', type: 'counter', help: 'Events posted to the app.' },
  { key: 'drops', metric: 'ix_drops_total', type: 'counter', help: 'Frames dropped by the guest stack.' },
  { key: 'tcpConns', metric: 'ix_tcp_connections', type: 'gauge', help: 'TCP connections in use.' },
  { key: 'mbufsUsed', metric: 'ix_mbufs_in_use', type: 'gauge', help: 'Buffers of the core\'s mbuf pool in use (posted to the RX ring, queued, or held by the app).' },
  { key: 'busyCycles', metric: 'ix_busy_cycles_total', type: 'counter', help: 'TSC cycles spent working.' },
  { key: 'idleCycles', metric: 'ix_idle_cycles_total', type: 'counter', help: 'TSC cycles spent idle (polling with nothing to do, or halted).' },
  { key: 'halts', metric: 'ix_halts_total', type: 'counter', help: 'Idle halts.' },
  { key: 'synCookies', metric: 'ix_tcp_syn_cookies_total', type: 'counter', help: 'SYN-ACKs sent as SYN cookies (a listener\'s half-open bound was reached: likely a SYN flood).' },
  { key: 'synCookieConns', metric: 'ix_tcp_syn_cookie_connections_total', type: 'counter', help: 'TCP connections established from a valid SYN cookie.' },
  { key: 'synCookieBad', metric: 'ix_tcp_syn_cookie_invalid_total', type: 'counter', help: 'ACKs to a listener that matched no connection and carried no valid SYN cookie.' },
  { key: 'copies', metric: 'ix_payload_copied_bytes_total', type: 'counter', help: 'Payload bytes the guest stack copied instead of sending them from app memory in place (a TCP segment spanning more slices than one frame references).' },
  { key: 'rstSent', metric: 'ix_tcp_rst_sent_total', type: 'counter', help: 'TCP RSTs sent, for every reason.' },
  { key: 'rstNoConn', metric: 'ix_tcp_rst_no_connection_total', type: 'counter', help: 'Segments for no connection (and no valid SYN cookie) answered with a RST.' },
  { key: 'rstBadAck', metric: 'ix_tcp_rst_bad_ack_total', type: 'counter', help: 'RSTs sent for an unacceptable ACK during a handshake (SYN_RECEIVED, SYN_SENT).' },
  { key: 'rstApp', metric: 'ix_tcp_rst_app_total', type: 'counter', help: 'RSTs sent for the app: a rejected connection, one closed before accept, or all of a core\'s when its app is gone.' },
  { key: 'tcpTimeouts', metric: 'ix_tcp_timeouts_total', type: 'counter', help: 'TCP connections that gave up retransmitting (reset unless the handshake was ours).' },
  { key: 'synCookieSuperseded', metric: 'ix_tcp_syn_cookie_superseded_total', type: 'counter', help: 'Half-open connections replaced by the SYN-cookie connection their peer completed (its SYN was answered twice, first by a cookie).' },
  { key: 'synDrops', metric: 'ix_tcp_syn_drops_total', type: 'counter', help: 'SYNs and handshake ACKs dropped because the accept queue or the connection pool was full.' },
] as const satisfies readonly { key: Exclude<keyof CoreStatsValue, 'rxBatches' | 'tsc'>; metric: string; type: 'counter' | 'gauge'; help: string }[];
export type CoreCounterKey = (typeof CORE_COUNTERS)[number]['key'];
