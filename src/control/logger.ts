/** Structured logs (pino): pretty on a terminal, JSON lines otherwise, always on stderr so
 * that stdout carries only the apps' own output. */
import pino, { type Logger } from 'pino';
import { createRequire } from 'node:module';

export type { Logger };

export function createLogger(level: string, opts: { pretty?: boolean } = {}): Logger {
  const usePretty = opts.pretty ?? Boolean(process.stderr.isTTY);
  if (usePretty) {
    // loaded only for terminals: it costs ~10 ms of start-up
    const pretty = createRequire(import.meta.url)('pino-pretty') as (opts: object) => pino.DestinationStream;
    return pino({ level }, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }));
  }
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: true }));
}
