// A container's probe as the API stores it, read defensively (the runtime's Container type leaves
// probes untyped), with the API's defaults applied, plus the port resolution kubelet performs.
import type { Container } from '../runtime/runtime.js';
import type { ProbeKind } from './prober.js';

export interface HTTPHeader {
  name: string;
  value: string;
}

export interface HTTPGetAction {
  scheme?: string;
  host?: string;
  port: number | string;
  path?: string;
  httpHeaders?: HTTPHeader[];
}

export interface TCPSocketAction {
  host?: string;
  port: number | string;
}

export interface ExecAction {
  command?: string[];
}

export interface ProbeSpec {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  grpc?: { port: number; service?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

/** One probe attempt's outcome; `warning` counts as a success, `error` is not counted at all. */
export interface ProbeOutcome {
  result: 'success' | 'failure' | 'error' | 'warning';
  message: string;
}

export interface ProbeSettings {
  spec: ProbeSpec;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

const FIELD: Record<ProbeKind, string> = {
  Liveness: 'livenessProbe',
  Readiness: 'readinessProbe',
  Startup: 'startupProbe',
};

/** The container's probe of that kind with defaults applied, or undefined when it has none. */
export function probeSettings(container: Container, kind: ProbeKind): ProbeSettings | undefined {
  const raw = container[FIELD[kind]];
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object') throw new Error(`${FIELD[kind]} of container ${container.name} is not an object`);
  const spec = raw as ProbeSpec;
  // Zero means "unset" here exactly as API defaulting treats it; negatives never pass validation.
  const positive = (v: unknown, dflt: number): number => {
    const n = Math.floor(Number(v));
    return Number.isFinite(n) && n >= 1 ? n : dflt;
  };
  const delay = Math.floor(Number(spec.initialDelaySeconds ?? 0));
  return {
    spec,
    initialDelaySeconds: Number.isFinite(delay) && delay > 0 ? delay : 0,
    periodSeconds: positive(spec.periodSeconds, 10),
    timeoutSeconds: positive(spec.timeoutSeconds, 1),
    // Validation insists on 1 for liveness and startup; enforce it rather than trust the store.
    successThreshold: kind === 'Readiness' ? positive(spec.successThreshold, 1) : 1,
    failureThreshold: positive(spec.failureThreshold, 3),
  };
}

export class ProbeError extends Error {}

/**
 * A probe port: a number, a named container port, or (as kubelet accepts) a number sent as a
 * string. Throws ProbeError when the name is unknown or the number is out of range.
 */
export function resolvePort(port: number | string | undefined, container: Container): number {
  let n: number;
  if (typeof port === 'number') {
    n = port;
  } else if (typeof port === 'string' && port !== '') {
    const named = (container.ports ?? []).find((p) => p.name === port);
    if (named) n = named.containerPort;
    else if (/^[0-9]+$/.test(port)) n = Number(port);
    else throw new ProbeError(`port ${port} not found`);
  } else {
    throw new ProbeError('probe has no port');
  }
  if (!Number.isInteger(n) || n <= 0 || n >= 65536) throw new ProbeError(`invalid port number: ${n}`);
  return n;
}

/** host:port as Go's net.JoinHostPort writes it (IPv6 literals in brackets). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
