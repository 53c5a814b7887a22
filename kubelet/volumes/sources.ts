// Where volume and env contents come from: ConfigMaps and Secrets of the pod's namespace, read
// through whatever the agent has (an API client, a watch cache). Kept as an interface so that the
// volume and env code never depends on how objects reach the node.
import type { KObject } from '../../pkg/api/types.js';

export interface ObjectSource {
  /** undefined = not found */
  configMap(namespace: string, name: string): Promise<KObject | undefined>;
  /** undefined = not found */
  secret(namespace: string, name: string): Promise<KObject | undefined>;
  /** the Services of a namespace, for service environment variables (absent: none are set) */
  services?(namespace: string): Promise<KObject[]>;
  /** a token for a projected serviceAccountToken source of pod (absent: such sources fail) */
  serviceAccountToken?(pod: KObject, source: { audience?: string; expirationSeconds?: number; path?: string }): Promise<string>;
}

/** A volume could not be prepared or mounted; `reason` is the event reason kubelet would use. */
export class VolumeError extends Error {
  reason: string;
  /** the pod volume concerned, for an event such as `MountVolume.SetUp failed for volume "v" : <message>` */
  volume?: string;
  constructor(message: string, opts: { reason?: string; volume?: string } = {}) {
    super(message);
    this.name = 'VolumeError';
    this.reason = opts.reason ?? 'FailedMount';
    if (opts.volume !== undefined) this.volume = opts.volume;
  }
}

/** ConfigMap keys as bytes: data (UTF-8) and binaryData (base64), as kubelet projects them. */
export function configMapEntries(cm: KObject): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries((cm.data as Record<string, string> | undefined) ?? {})) out.set(k, Buffer.from(String(v), 'utf8'));
  for (const [k, v] of Object.entries((cm.binaryData as Record<string, string> | undefined) ?? {})) out.set(k, Buffer.from(String(v), 'base64'));
  return out;
}

/** Secret keys as bytes. Only `data` counts: the API server folds stringData into it on write. */
export function secretEntries(secret: KObject): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries((secret.data as Record<string, string> | undefined) ?? {})) out.set(k, Buffer.from(String(v), 'base64'));
  return out;
}
