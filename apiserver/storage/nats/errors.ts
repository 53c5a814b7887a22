// What a NATS or JetStream failure means to the store: a lost compare-and-swap (with the
// subject's actual last sequence), a transient outage to ride out (no connection, no responders,
// no stream leader, a timeout), or anything else, which is reported as it is.
import { NatsError } from 'nats';

export type Failure =
  | { kind: 'wrong-last-sequence'; actual: number; reason: string }
  | { kind: 'transient'; reason: string }
  | { kind: 'not-found'; reason: string }
  | { kind: 'fatal'; reason: string };

/** JetStream's error code for a failed Nats-Expected-Last-Subject-Sequence check. */
const WRONG_LAST_SEQUENCE = 10071;
/** JetStream's codes for "stream not found" and "consumer not found". */
const STREAM_NOT_FOUND = 10059;

const TRANSIENT_CODES = new Set(['503', 'TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_REFUSED', 'CONNECTION_TIMEOUT', 'DISCONNECT', 'CONNECTION_DRAINING', '408', 'REQUEST_ERROR']);

export function classify(err: unknown): Failure {
  const reason = err instanceof Error ? err.message : String(err);
  if (err instanceof NatsError) {
    const api = err.api_error;
    if (api) {
      if (api.err_code === WRONG_LAST_SEQUENCE) {
        const m = /wrong last sequence: (\d+)/.exec(api.description ?? '');
        return { kind: 'wrong-last-sequence', actual: m ? Number(m[1]) : 0, reason };
      }
      if (api.err_code === STREAM_NOT_FOUND) return { kind: 'not-found', reason };
      // 503 = JetStream temporarily unavailable (no leader, no quorum); 500 with these texts as well.
      if (api.code === 503 || api.code === 504 || /no suitable peers|temporarily unavailable|leader|quorum|timeout/i.test(api.description ?? '')) {
        return { kind: 'transient', reason: api.description ?? reason };
      }
      return { kind: 'fatal', reason: api.description ?? reason };
    }
    if (TRANSIENT_CODES.has(err.code)) return { kind: 'transient', reason: describeCode(err.code, reason) };
  }
  if (/timeout|timed out|disconnect|closed|no responders|unavailable|ECONNREFUSED|ECONNRESET/i.test(reason)) return { kind: 'transient', reason };
  return { kind: 'fatal', reason };
}

function describeCode(code: string, message: string): string {
  if (code === '503') return 'no JetStream responders (no stream leader: NATS has lost quorum or the stream is being re-elected)';
  if (code === 'TIMEOUT') return 'NATS request timed out';
  return message;
}
