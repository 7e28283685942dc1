/**
 * The control socket of a running dataplane: a Unix stream socket in the runtime
 * directory (registry.ts). A client writes one JSON request line, {"op": "..."}; the
 * dataplane answers one JSON line, {"ok": true, ...} or {"ok": false, "error": "..."}, and
 * closes. Ops: "info", "stats", "metrics" (Prometheus text), "stop", and "scale" with
 * {"op": "scale", "cores": n} (elastic cores, scale.ts).
 *
 * Also the optional HTTP endpoint of `ix run --metrics-port` on 127.0.0.1 only: GET /metrics
 * (Prometheus text), / (the live page, live-page.ts) and /stats.json.
 */
import { chmodSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { LIVE_PAGE_CSP, LIVE_PAGE_CSS, LIVE_PAGE_HTML, LIVE_PAGE_JS } from './live-page.js';
import { createConnection, createServer, type Server } from 'node:net';

export class ControlSocketError extends Error {
  override name = 'ControlSocketError';
  constructor(
    message: string,
    /** the errno code of a failed connect (ENOENT, ECONNREFUSED, ...) or 'TIMEOUT' / 'PROTOCOL' */
    readonly code: string,
  ) {
    super(message);
  }
}

export type ControlOp = 'info' | 'stats' | 'metrics' | 'stop' | 'scale';
export const CONTROL_OPS: readonly ControlOp[] = ['info', 'stats', 'metrics', 'stop', 'scale'];

/** `req` is the whole request line (op included): the arguments of ops that take some. */
export type ControlHandler = (op: ControlOp, req: Record<string, unknown>) => unknown | Promise<unknown>;

/** requests are one short line; anything longer is not a client of ours */
const MAX_REQUEST = 4096;

export interface ControlServer {
  path: string;
  close(): Promise<void>;
}

export async function startControlServer(path: string, handle: ControlHandler, onError: (msg: string) => void = () => {}): Promise<ControlServer> {
  const conns = new Set<import('node:net').Socket>();
  const server: Server = createServer((sock) => {
    conns.add(sock);
    sock.once('close', () => conns.delete(sock));
    let buf = '';
    let answered = false;
    sock.setEncoding('utf8');
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('error', () => {}); // a client that went away
    const reply = (v: object) => {
      if (answered) return;
      answered = true;
      sock.end(`${JSON.stringify(v)}\n`);
    };
    sock.on('data', (chunk: string) => {
      if (answered) return;
      buf += chunk;
      if (buf.length > MAX_REQUEST) return reply({ ok: false, error: `request longer than ${MAX_REQUEST} bytes` });
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let op: unknown;
      let req: Record<string, unknown> = {};
      try {
        const v = JSON.parse(buf.slice(0, nl)) as unknown;
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) req = v as Record<string, unknown>;
        op = req['op'];
      } catch {
        return reply({ ok: false, error: 'the request is not a JSON line' });
      }
      if (typeof op !== 'string' || !CONTROL_OPS.includes(op as ControlOp))
        return reply({ ok: false, error: `unknown op ${JSON.stringify(op)}; ops: ${CONTROL_OPS.join(', ')}` });
      // the request is in: the op bounds its own time (a scale moves connections for seconds)
      sock.setTimeout(0);
      Promise.resolve()
        .then(() => handle(op as ControlOp, req))
        .then(
          (result) => reply({ ok: true, result }),
          (e: Error) => {
            onError(`control socket: ${op} failed: ${e.message}`);
            reply({ ok: false, error: e.message });
          },
        );
    });
  });
  rmSync(path, { force: true });
  await new Promise<void>((res, rej) => {
    server.once('error', (e) => rej(new ControlSocketError(`cannot listen on ${path}: ${e.message}`, (e as NodeJS.ErrnoException).code ?? 'LISTEN')));
    server.listen(path, () => res());
  });
  server.on('error', (e) => onError(`control socket: ${e.message}`));
  chmodSync(path, 0o600);
  // the socket must not keep the process alive on its own
  server.unref();
  return {
    path,
    close: () =>
      new Promise<void>((res) => {
        // answers already sent; a client that still holds a connection must not delay the stop
        server.close(() => res());
        for (const c of conns) c.destroy();
        rmSync(path, { force: true });
      }),
  };
}

/** Send one request (`args` go beside the op); resolves with `result`, rejects with ControlSocketError. */
export function request(path: string, op: ControlOp, timeoutMs = 3000, args: Record<string, unknown> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    let settled = false;
    const fail = (e: ControlSocketError) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new ControlSocketError(`no answer on ${path} within ${timeoutMs} ms`, 'TIMEOUT')), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify({ ...args, op })}\n`));
    sock.on('data', (c: string) => (buf += c));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(new ControlSocketError(`cannot reach ${path}: ${e.code ?? e.message}`, e.code ?? 'ERROR'));
    });
    sock.on('end', () => {
      clearTimeout(timer);
      if (settled) return;
      let v: { ok?: boolean; result?: unknown; error?: string };
      try {
        v = JSON.parse(buf.trim()) as typeof v;
      } catch {
        return fail(new ControlSocketError(`the answer on ${path} is not JSON: ${buf.slice(0, 200)}`, 'PROTOCOL'));
      }
      settled = true;
      if (v.ok) resolve(v.result);
      else reject(new ControlSocketError(`the dataplane refused '${op}': ${v.error ?? 'no reason given'}`, 'REFUSED'));
    });
  });
}

/** the Host header of a request to 127.0.0.1: anything else (a rebound DNS name) is refused */
const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/i;

/**
 * `ix run --metrics-port`: on 127.0.0.1:port (never other interfaces) GET /metrics
 * (Prometheus text) and, given `stats`, the live page (/, live.js, live.css; src/control/
 * live-page.ts) and /stats.json (the report `ix stats --json` prints).
 */
export async function startMetricsServer(port: number, text: () => string, stats?: () => Promise<unknown>): Promise<{ port: number; close(): Promise<void> }> {
  const page = (res: ServerResponse, type: string, body: string) =>
    res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'content-security-policy': LIVE_PAGE_CSP, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).end(body);
  const server: HttpServer = createHttpServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || !LOOPBACK_HOST.test(req.headers.host ?? '')) {
      res.writeHead(req.method !== 'GET' ? 405 : 421, { 'content-type': 'text/plain' }).end('GET on 127.0.0.1 only\n');
      return;
    }
    try {
      if (url === '/metrics' || (url === '/' && !stats)) {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text());
      } else if (stats && (url === '/' || url === '/index.html')) page(res, 'text/html', LIVE_PAGE_HTML);
      else if (stats && url === '/live.js') page(res, 'text/javascript', LIVE_PAGE_JS);
      else if (stats && url === '/live.css') page(res, 'text/css', LIVE_PAGE_CSS);
      else if (stats && url === '/stats.json') {
        stats().then(
          (r) => res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(r)),
          (e: Error) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
        );
      } else res.writeHead(404, { 'content-type': 'text/plain' }).end(stats ? 'GET / (live page), /metrics, /stats.json\n' : 'GET /metrics\n');
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
    }
  });
  await new Promise<void>((res, rej) => {
    server.once('error', (e) => rej(new ControlSocketError(`cannot serve metrics on 127.0.0.1:${port}: ${e.message}`, (e as NodeJS.ErrnoException).code ?? 'LISTEN')));
    server.listen(port, '127.0.0.1', () => res());
  });
  server.unref();
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    close: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        // idle keep-alive connections of scrapers would otherwise hold the stop up
        server.closeAllConnections();
      }),
  };
}
