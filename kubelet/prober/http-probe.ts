// One httpGet probe, with kubelet's rules: GET with `kube-probe/<minor>` as User-Agent, no
// keep-alive, certificates not verified, redirects followed only on the same host (at most 10),
// 200-399 healthy, a 3xx that is not followed a success with a warning, at most 10 KiB of body read.
import http from 'node:http';
import https from 'node:https';
import { goNetError } from './go-errors.js';
import { joinHostPort, resolvePort, type HTTPGetAction, type HTTPHeader, type ProbeOutcome } from './probe-spec.js';
import type { ProbeTarget } from './prober.js';

export const PROBE_USER_AGENT = 'kube-probe/1.32';
export const MAX_PROBE_BODY = 10 * 1024;
const MAX_REDIRECTS = 10;
const FOLLOWED = new Set([301, 302, 303, 307, 308]);

type Headers = Record<string, string[]>;

function buildHeaders(list: HTTPHeader[] | undefined): { headers: Headers; host?: string } {
  const headers: Headers = {};
  let host: string | undefined;
  for (const h of list ?? []) {
    if (!h || typeof h.name !== 'string' || h.name === '') continue;
    const name = h.name.toLowerCase();
    const value = String(h.value ?? '');
    // Go turns the Host header into req.Host: one value, the first one wins.
    if (name === 'host') {
      host ??= value;
      continue;
    }
    (headers[name] ??= []).push(value);
  }
  headers['user-agent'] ??= [PROBE_USER_AGENT];
  headers['accept'] ??= ['*/*'];
  headers['connection'] ??= ['close'];
  return { headers, host };
}

/** The URL as Go prints it in errors (it keeps whatever port the URL was built with). */
function display(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}${u.search}`;
}

function bare(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

export function runHttpProbe(
  action: HTTPGetAction,
  target: Pick<ProbeTarget, 'podIP' | 'container'>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  let port: number;
  try {
    port = resolvePort(action.port, target.container);
  } catch (err) {
    return Promise.resolve({ result: 'error', message: (err as Error).message });
  }
  const scheme = (action.scheme || 'HTTP').toLowerCase();
  const host = action.host || target.podIP;
  let path = action.path ?? '';
  if (!path.startsWith('/')) path = `/${path}`;
  const firstText = `${scheme}://${joinHostPort(host, port)}${path}`;
  if (scheme !== 'http' && scheme !== 'https') {
    return Promise.resolve({ result: 'failure', message: `Get "${firstText}": unsupported protocol scheme "${scheme}"` });
  }
  let first: URL;
  try {
    first = new URL(firstText);
  } catch {
    return Promise.resolve({ result: 'error', message: `parse "${firstText}": invalid URL` });
  }
  const { headers, host: hostHeader } = buildHeaders(action.httpHeaders);

  return new Promise<ProbeOutcome>((resolve) => {
    let done = false;
    let generation = 0;
    let req: http.ClientRequest | undefined;
    let res: http.IncomingMessage | undefined;
    let readingBody = false;
    let current = firstText;

    const finish = (o: ProbeOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      res?.destroy();
      req?.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => {
      finish(
        readingBody
          ? { result: 'error', message: 'context deadline exceeded (Client.Timeout or context cancellation while reading body)' }
          : { result: 'failure', message: `Get "${current}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` },
      );
    }, timeoutMs);
    const onAbort = (): void => finish({ result: 'error', message: 'probe stopped' });
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    const send = (u: URL, text: string, hostValue: string | undefined, redirects: number): void => {
      const gen = ++generation;
      current = text;
      const secure = u.protocol === 'https:';
      const h: Record<string, string | string[]> = { ...headers };
      if (hostValue !== undefined) h['host'] = hostValue;
      const hp = joinHostPort(bare(u.hostname), Number(u.port || (secure ? 443 : 80)));
      let r: http.ClientRequest;
      try {
        r = (secure ? https : http).request({
          hostname: bare(u.hostname),
          port: u.port || (secure ? 443 : 80),
          path: `${u.pathname}${u.search}`,
          method: 'GET',
          headers: h,
          agent: false,
          rejectUnauthorized: false,
        });
      } catch (err) {
        // Node refuses some header names and values outright (Go would send or reject them too).
        finish({ result: 'error', message: (err as Error).message });
        return;
      }
      req = r;
      const local = (): string | undefined =>
        r.socket?.localAddress ? joinHostPort(r.socket.localAddress, r.socket.localPort ?? 0) : undefined;
      r.on('error', (err) => {
        if (gen !== generation) return;
        const text2 = goNetError(err, bare(u.hostname), hp, local());
        finish(readingBody ? { result: 'error', message: text2 } : { result: 'failure', message: `Get "${text}": ${text2}` });
      });
      r.on('response', (response) => {
        if (gen !== generation) {
          response.destroy();
          return;
        }
        res = response;
        const status = response.statusCode ?? 0;
        const location = response.headers.location;
        if (FOLLOWED.has(status) && location) {
          let next: URL;
          try {
            next = new URL(location, u);
          } catch {
            finish({ result: 'failure', message: `Get "${text}": failed to parse Location header "${location}"` });
            return;
          }
          // Another host ends the chain: the 3xx itself is the answer (a warning, below).
          if (next.hostname === first.hostname && (next.protocol === 'http:' || next.protocol === 'https:')) {
            if (redirects + 1 >= MAX_REDIRECTS) {
              finish({ result: 'failure', message: `Get "${display(next)}": stopped after ${MAX_REDIRECTS} redirects` });
              return;
            }
            generation++;
            response.destroy();
            r.destroy();
            // Like Go, a custom Host header survives only a relative Location.
            const relative = !/^[a-z][a-z0-9+.-]*:/i.test(location);
            send(next, display(next), relative ? hostValue : undefined, redirects + 1);
            return;
          }
        }
        readingBody = true;
        const chunks: Buffer[] = [];
        let size = 0;
        const settle = (): void => {
          const body = Buffer.concat(chunks).subarray(0, MAX_PROBE_BODY).toString('utf8');
          if (status >= 200 && status < 400) {
            if (status >= 300) finish({ result: 'warning', message: `Probe terminated redirects, Response body: ${body}` });
            else finish({ result: 'success', message: body });
          } else {
            finish({ result: 'failure', message: `HTTP probe failed with statuscode: ${status}` });
          }
        };
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          // The rest of the body is of no interest; closing the connection discards it.
          if (size >= MAX_PROBE_BODY) settle();
        });
        response.on('end', settle);
        response.on('error', (err) => finish({ result: 'error', message: goNetError(err, bare(u.hostname), hp, local()) }));
        response.on('close', () => {
          if (!response.complete) finish({ result: 'error', message: 'unexpected EOF' });
        });
      });
      r.end();
    };
    send(first, firstText, hostHeader, 0);
  });
}
