// The cluster zone: the records the Kubernetes DNS specification derives from Services and
// Endpoints (as CoreDNS's kubernetes plugin serves them with `pods insecure`), and the answer to
// one question from them. Pure data in, data out; the server does the sockets and forwarding.
import { isIP } from 'node:net';
import type { KObject } from '../../pkg/api/types.js';
import { canonicalName, RCode, RRClass, RRType, type Question, type RData, type ResourceRecord } from './message.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export interface ZoneAnswer {
  kind: 'answer';
  rcode: number;
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

/** The name is not ours: the server sends the question upstream. */
export interface ZoneForward {
  kind: 'forward';
}

export type ZoneResult = ZoneAnswer | ZoneForward;

interface OwnedData {
  type: number;
  data: RData;
}

const SOA_REFRESH = 7200;
const SOA_RETRY = 1800;
const SOA_EXPIRE = 86400;

/** `10-0-0-1` for 10.0.0.1, `fd00--1` for fd00::1: the name CoreDNS gives an endpoint without hostname. */
export function dashedIP(ip: string): string {
  return ip.replace(/[.:]/g, '-');
}

/** The reverse-lookup name of an address: `1.0.0.10.in-addr.arpa` or the nibbles under ip6.arpa. */
export function reverseName(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  if (family === 6) {
    const hex = ipv6Hex(ip);
    return `${hex.split('').reverse().join('.')}.ip6.arpa`;
  }
  return undefined;
}

function ipv6Hex(ip: string): string {
  const gap = ip.indexOf('::');
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let all: string[];
  if (gap < 0) all = groups(ip);
  else {
    const head = groups(ip.slice(0, gap));
    const tail = groups(ip.slice(gap + 2));
    all = [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  }
  return all.map((g) => g.padStart(4, '0').toLowerCase()).join('');
}

function addressType(ip: string): number | undefined {
  const f = isIP(ip);
  return f === 4 ? RRType.A : f === 6 ? RRType.AAAA : undefined;
}

/** A pod name of the `pods insecure` mode: `10-1-2-3` → 10.1.2.3, `fd00--5` → fd00::5. */
function podNameToIP(label: string): string | undefined {
  const dashes = label.split('-').length - 1;
  const ip = dashes === 3 && !label.includes('--') ? label.replace(/-/g, '.') : label.replace(/-/g, ':');
  return isIP(ip) ? ip : undefined;
}

export class ClusterZone {
  readonly domain: string;
  private readonly ttl: number;
  private records = new Map<string, OwnedData[]>();
  /** every owner name and each of its ancestors inside the zone: these answer NODATA, not NXDOMAIN */
  private existing = new Set<string>();
  private reverse = new Map<string, OwnedData[]>();
  private serial = 1;

  constructor(domain = 'cluster.local', ttl = 5) {
    this.domain = canonicalName(domain);
    this.ttl = ttl;
    this.existing.add(this.domain);
    this.addExisting(`svc.${this.domain}`);
    this.addExisting(`pod.${this.domain}`);
  }

  /** Replaces the record set. Objects are only read. */
  update(services: KObject[], endpoints: KObject[]): void {
    this.records = new Map();
    this.reverse = new Map();
    this.existing = new Set([this.domain]);
    this.addExisting(`svc.${this.domain}`);
    this.addExisting(`pod.${this.domain}`);
    // the serial only has to grow; seconds keep it monotonic across agent restarts too
    this.serial = Math.max(this.serial + 1, Math.floor(Date.now() / 1000)) >>> 0;

    const eps = new Map<string, Json>();
    for (const ep of endpoints) eps.set(`${ep.metadata.namespace ?? 'default'}/${ep.metadata.name}`, ep as Json);
    for (const svc of services) {
      const ns = String(svc.metadata.namespace ?? 'default');
      this.addService(svc as Json, ns, eps.get(`${ns}/${svc.metadata.name}`));
    }
  }

  private addExisting(name: string): void {
    for (let n = name; n.length > this.domain.length; n = n.slice(n.indexOf('.') + 1)) {
      if (this.existing.has(n)) return;
      this.existing.add(n);
    }
  }

  private add(name: string, type: number, data: RData): void {
    const key = canonicalName(name);
    let list = this.records.get(key);
    if (!list) this.records.set(key, (list = []));
    if (list.some((o) => o.type === type && sameData(o.data, data))) return;
    list.push({ type, data });
    this.addExisting(key);
  }

  private addReverse(ip: string, target: string): void {
    const name = reverseName(ip);
    if (!name) return;
    let list = this.reverse.get(name);
    if (!list) this.reverse.set(name, (list = []));
    if (!list.some((o) => o.data.kind === 'name' && o.data.name === target)) list.push({ type: RRType.PTR, data: { kind: 'name', name: target } });
  }

  private addService(svc: Json, ns: string, ep: Json | undefined): void {
    const name = canonicalName(`${String(svc.metadata.name)}.${ns}.svc.${this.domain}`);
    const spec = (svc.spec ?? {}) as Json;
    // the namespace exists (NODATA) even when none of its services has a record
    this.addExisting(`${ns}.svc.${this.domain}`);
    if (spec.type === 'ExternalName') {
      // an address is not a name to point at; CoreDNS serves nothing for it either
      if (typeof spec.externalName === 'string' && spec.externalName !== '' && !isIP(spec.externalName)) {
        this.add(name, RRType.CNAME, { kind: 'name', name: canonicalName(spec.externalName) });
      }
      return;
    }
    const clusterIPs: string[] = (Array.isArray(spec.clusterIPs) && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).map(String);
    // a service without any cluster IP yet is not headless: its name must not list pod addresses
    const headless = clusterIPs[0] === 'None';

    if (!headless && clusterIPs.length > 0) {
      for (const ip of clusterIPs) {
        const t = addressType(ip);
        if (t === undefined) continue;
        this.add(name, t, { kind: 'address', address: ip });
        this.addReverse(ip, name);
      }
      for (const p of (spec.ports ?? []) as Json[]) {
        const proto = String(p.protocol ?? 'TCP').toLowerCase();
        const srv: RData = { kind: 'srv', priority: 0, weight: 100, port: Number(p.port), target: name };
        this.add(name, RRType.SRV, srv);
        if (p.name) this.add(`_${String(p.name).toLowerCase()}._${proto}.${name}`, RRType.SRV, srv);
      }
    }

    // endpoint names exist for every service (CoreDNS answers them for ClusterIP services too);
    // the service name itself lists them only when headless
    for (const subset of ((ep?.subsets ?? []) as Json[])) {
      const ports = (subset.ports ?? []) as Json[];
      for (const addr of (subset.addresses ?? []) as Json[]) {
        const ip = String(addr.ip ?? '');
        const t = addressType(ip);
        if (t === undefined) continue;
        const host = canonicalName(`${addr.hostname ? String(addr.hostname) : dashedIP(ip)}.${name}`);
        this.add(host, t, { kind: 'address', address: ip });
        this.addReverse(ip, host);
        if (!headless) continue;
        this.add(name, t, { kind: 'address', address: ip });
        for (const p of ports) {
          const srv: RData = { kind: 'srv', priority: 0, weight: 100, port: Number(p.port), target: host };
          this.add(name, RRType.SRV, srv);
          if (p.name) this.add(`_${String(p.name).toLowerCase()}._${String(p.protocol ?? 'TCP').toLowerCase()}.${name}`, RRType.SRV, srv);
        }
      }
    }
  }

  /** True when the name is the zone apex or below it. */
  inZone(name: string): boolean {
    const n = canonicalName(name);
    return n === this.domain || n.endsWith(`.${this.domain}`);
  }

  private soa(): ResourceRecord {
    return {
      name: this.domain,
      type: RRType.SOA,
      class: RRClass.IN,
      ttl: this.ttl,
      data: {
        kind: 'soa',
        mname: `ns.dns.${this.domain}`,
        rname: `hostmaster.${this.domain}`,
        serial: this.serial,
        refresh: SOA_REFRESH,
        retry: SOA_RETRY,
        expire: SOA_EXPIRE,
        minimum: this.ttl,
      },
    };
  }

  private negative(rcode: number): ZoneAnswer {
    return { kind: 'answer', rcode, answers: [], authorities: [this.soa()], additionals: [] };
  }

  lookup(q: Question): ZoneResult {
    const key = canonicalName(q.name);
    if (!this.inZone(key)) {
      const ptrs = this.reverse.get(key);
      if (!ptrs) return { kind: 'forward' };
      return this.answerFrom(q, ptrs, RCode.NOERROR);
    }
    if (q.class !== RRClass.IN && q.class !== RRClass.ANY) return { kind: 'answer', rcode: RCode.REFUSED, answers: [], authorities: [], additionals: [] };

    if (key === this.domain && (q.type === RRType.SOA || q.type === RRType.ANY)) {
      return { kind: 'answer', rcode: RCode.NOERROR, answers: [{ ...this.soa(), name: q.name }], authorities: [], additionals: [] };
    }
    const owned = this.records.get(key) ?? this.podRecord(key);
    if (owned) return this.answerFrom(q, owned, RCode.NOERROR);
    if (this.existing.has(key) || this.isPodNamespace(key)) return this.negative(RCode.NOERROR);
    return this.negative(RCode.NXDOMAIN);
  }

  private podRecord(key: string): OwnedData[] | undefined {
    const suffix = `.pod.${this.domain}`;
    if (!key.endsWith(suffix)) return undefined;
    const labels = key.slice(0, -suffix.length).split('.');
    if (labels.length !== 2) return undefined;
    const ip = podNameToIP(labels[0]!);
    if (!ip) return undefined;
    return [{ type: addressType(ip)!, data: { kind: 'address', address: ip } }];
  }

  /** `<ns>.pod.<domain>`: pods of any namespace are answered, so every namespace name exists. */
  private isPodNamespace(key: string): boolean {
    const suffix = `.pod.${this.domain}`;
    return key.endsWith(suffix) && !key.slice(0, -suffix.length).includes('.');
  }

  private answerFrom(q: Question, owned: OwnedData[], rcode: number): ZoneAnswer {
    const rr = (type: number, data: RData): ResourceRecord => ({ name: q.name, type, class: RRClass.IN, ttl: this.ttl, data });
    const cname = owned.find((o) => o.type === RRType.CNAME);
    let matching: OwnedData[];
    if (q.type === RRType.ANY) matching = owned;
    else if (cname && q.type !== RRType.CNAME) matching = [cname];
    else matching = owned.filter((o) => o.type === q.type);
    if (matching.length === 0) return this.negative(RCode.NOERROR);

    const answers = matching.map((o) => rr(o.type, o.data));
    const additionals: ResourceRecord[] = [];
    for (const o of matching) {
      if (o.data.kind !== 'srv') continue;
      for (const a of this.records.get(o.data.target) ?? []) {
        if (a.type !== RRType.A && a.type !== RRType.AAAA) continue;
        const target = o.data.target;
        if (!additionals.some((x) => x.name === target && sameData(x.data, a.data))) {
          additionals.push({ name: target, type: a.type, class: RRClass.IN, ttl: this.ttl, data: a.data });
        }
      }
    }
    return { kind: 'answer', rcode, answers, authorities: [], additionals };
  }

  /** The CNAME target of an answer that stopped at a CNAME, to be chased by the server. */
  static cnameTarget(q: Question, answer: ZoneAnswer): string | undefined {
    if (q.type === RRType.CNAME || q.type === RRType.ANY) return undefined;
    const last = answer.answers[answer.answers.length - 1];
    return last && last.type === RRType.CNAME && last.data.kind === 'name' ? last.data.name : undefined;
  }
}

function sameData(a: RData, b: RData): boolean {
  if (a.kind !== b.kind) return false;
  switch (a.kind) {
    case 'address':
      return a.address === (b as typeof a).address;
    case 'name':
      return a.name === (b as typeof a).name;
    case 'srv': {
      const s = b as typeof a;
      return a.port === s.port && a.target === s.target && a.priority === s.priority && a.weight === s.weight;
    }
    default:
      return JSON.stringify(a) === JSON.stringify(b);
  }
}
