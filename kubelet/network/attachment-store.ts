// What NodeNetworks has built, on disk under its state dir so a restarted agent keeps pod
// addresses and knows which devices are its own: one JSON file per pod (its extra interfaces, for
// cni networks with the configuration DEL needs) and one list of the bridges and VXLAN devices it
// created. Writes go through a temp file and a
// rename, so a crash leaves the old or the new record, never half of one.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CniResult } from './cni.js';
import type { CniConfList } from './cni-network.js';

/** An interface on a bridge or overlay network: skiff's own veth on the network's bridge. */
export interface BridgeAttachmentRecord {
  /** absent in records written before cni attachments existed */
  kind?: 'bridge';
  network: string;
  interface: string;
  ip: string;
  prefix: number;
  /** the node's slice the address came from (a changed slice means a new address) */
  slice: string;
  subnet: string;
  gateway: string;
  bridge: string;
  hostVeth: string;
}

/**
 * An interface a cni network's plugins made. `conf` is the exact list ADD ran with, kept for DEL;
 * it is written before ADD starts, so a crash in the middle still leaves DEL what it needs.
 * ip, prefix and result are there once ADD succeeded.
 */
export interface CniAttachmentRecord {
  kind: 'cni';
  network: string;
  interface: string;
  conf: CniConfList;
  containerId: string;
  cniArgs?: string;
  /** set (and written) just before ADD runs: from then on DEL has something to undo */
  started?: boolean;
  result?: CniResult;
  ip?: string;
  prefix?: number;
}

export type AttachmentRecord = BridgeAttachmentRecord | CniAttachmentRecord;

export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  netnsPath: string;
  attachments: AttachmentRecord[];
}

export interface OwnedDevice {
  kind: 'bridge' | 'vxlan';
  name: string;
  network: string;
}

const UID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function checkUid(uid: string): void {
  if (!UID_RE.test(uid)) throw new Error(`invalid pod uid ${JSON.stringify(uid)}`);
}

function wellFormed(a: AttachmentRecord): boolean {
  if (!a || typeof a.network !== 'string' || typeof a.interface !== 'string') return false;
  if (a.kind === 'cni') return typeof a.containerId === 'string' && Array.isArray(a.conf?.plugins) && a.conf.plugins.every((p) => typeof p?.type === 'string');
  return typeof a.ip === 'string' && typeof a.hostVeth === 'string';
}

export class AttachmentStore {
  private readonly podsDir: string;
  private readonly devicesFile: string;
  private readonly pods = new Map<string, PodRecord>();
  private devices: OwnedDevice[] = [];

  constructor(readonly dir: string) {
    this.podsDir = join(dir, 'pods');
    this.devicesFile = join(dir, 'devices.json');
    mkdirSync(this.podsDir, { recursive: true });
    for (const f of readdirSync(this.podsDir)) {
      if (f.startsWith('.') && f.endsWith('.tmp')) {
        rmSync(join(this.podsDir, f), { force: true });
        continue;
      }
      if (!f.endsWith('.json')) continue;
      const rec = JSON.parse(readFileSync(join(this.podsDir, f), 'utf8')) as PodRecord;
      if (!rec || typeof rec.uid !== 'string' || `${rec.uid}.json` !== f || !Array.isArray(rec.attachments) || !rec.attachments.every(wellFormed)) {
        throw new Error(`pod attachment record ${join(this.podsDir, f)} is malformed`);
      }
      this.pods.set(rec.uid, rec);
    }
    try {
      const d = JSON.parse(readFileSync(this.devicesFile, 'utf8')) as OwnedDevice[];
      if (!Array.isArray(d)) throw new Error(`${this.devicesFile} is malformed`);
      this.devices = d;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  pod(uid: string): PodRecord | undefined {
    return this.pods.get(uid);
  }

  allPods(): PodRecord[] {
    return [...this.pods.values()];
  }

  /** Addresses held on a network, leaving out one pod's (it may keep or change its own). */
  usedAddresses(network: string, exceptUid?: string): Set<string> {
    const used = new Set<string>();
    for (const p of this.pods.values()) {
      if (p.uid === exceptUid) continue;
      for (const a of p.attachments) if (a.kind !== 'cni' && a.network === network) used.add(a.ip);
    }
    return used;
  }

  putPod(rec: PodRecord): void {
    checkUid(rec.uid);
    this.write(join(this.podsDir, `${rec.uid}.json`), rec);
    this.pods.set(rec.uid, rec);
  }

  removePod(uid: string): void {
    checkUid(uid);
    rmSync(join(this.podsDir, `${uid}.json`), { force: true });
    this.pods.delete(uid);
  }

  ownedDevices(): OwnedDevice[] {
    return [...this.devices];
  }

  owns(kind: OwnedDevice['kind'], name: string): boolean {
    return this.devices.some((d) => d.kind === kind && d.name === name);
  }

  addDevice(d: OwnedDevice): void {
    if (this.devices.some((x) => x.kind === d.kind && x.name === d.name && x.network === d.network)) return;
    this.devices = [...this.devices.filter((x) => !(x.kind === d.kind && x.name === d.name)), d];
    this.write(this.devicesFile, this.devices);
  }

  removeDevice(kind: OwnedDevice['kind'], name: string): void {
    const next = this.devices.filter((x) => !(x.kind === kind && x.name === name));
    if (next.length === this.devices.length) return;
    this.devices = next;
    this.write(this.devicesFile, this.devices);
  }

  /** Removes the files once nothing is recorded; the state dir itself is the caller's. */
  removeAll(): void {
    if (this.pods.size || this.devices.length) throw new Error('attachment store still holds records');
    rmSync(this.devicesFile, { force: true });
    try {
      rmdirSync(this.podsDir);
    } catch {
      // something else was put there: not ours to remove
    }
  }

  private write(path: string, value: unknown): void {
    const tmp = join(this.podsDir, `.${randomBytes(6).toString('hex')}.tmp`);
    writeFileSync(tmp, JSON.stringify(value, null, 2));
    renameSync(tmp, path);
  }
}
