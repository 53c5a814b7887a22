// The file sets of API-data volumes (configMap, secret, downwardAPI, projected), computed the way
// kubelet's MakePayload/CollectData do; writing them is the atomic writer's job.
import type { KObject } from '../../pkg/api/types.js';
import type { Payload } from './atomic-writer.js';
import { containerResourceValue, DownwardError, metadataFieldValue, type Allocatable } from './downward.js';
import { checkRelativePath } from './paths.js';
import { configMapEntries, secretEntries, VolumeError, type ObjectSource } from './sources.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

export const DEFAULT_MODE = 0o644;

export interface ProjectionContext {
  pod: KObject;
  sources: ObjectSource;
  volume: string;
  allocatable?: Allocatable;
  /** pod.spec.securityContext.fsGroup, when it can be applied (the agent runs as root) */
  fsGroup?: number;
}

interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

function fileMode(mode: unknown, fallback: number): number {
  if (mode === undefined || mode === null) return fallback;
  const n = Number(mode);
  if (!Number.isInteger(n) || n < 0 || n > 0o777) throw new Error(`invalid file mode ${String(mode)}: must be between 0 and 0777 (511)`);
  return n;
}

function addFile(payload: Payload, ctx: ProjectionContext, path: string, data: Buffer, mode: number): void {
  checkRelativePath(path, 'path', ctx.volume);
  // kubelet's SetVolumeOwnership for read-only volumes: group-readable, owned by fsGroup
  if (ctx.fsGroup !== undefined) payload.set(path, { data, mode: mode | 0o440, gid: ctx.fsGroup });
  else payload.set(path, { data, mode });
}

function namespaceOf(pod: KObject): string {
  return String(pod.metadata.namespace ?? 'default');
}

/** The keys of a ConfigMap or Secret as files: all keys, or items key→path with their modes. */
function keyPayload(payload: Payload, ctx: ProjectionContext, entries: Map<string, Buffer>, items: KeyToPath[] | undefined, defaultMode: number, optional: boolean, what: 'configmap' | 'secret'): void {
  if (!items || items.length === 0) {
    for (const [key, data] of entries) addFile(payload, ctx, key, data, defaultMode);
    return;
  }
  for (const item of items) {
    const data = entries.get(item.key);
    if (data === undefined) {
      if (optional) continue;
      throw new VolumeError(
        what === 'configmap' ? `configmap references non-existent config key: ${item.key}` : `references non-existent secret key: ${item.key}`,
        { volume: ctx.volume },
      );
    }
    addFile(payload, ctx, item.path, data, fileMode(item.mode, defaultMode));
  }
}

async function configMapPayload(payload: Payload, ctx: ProjectionContext, src: Json, defaultMode: number): Promise<void> {
  const name = String(src.name ?? '');
  const optional = src.optional === true;
  const cm = await ctx.sources.configMap(namespaceOf(ctx.pod), name);
  if (!cm) {
    if (optional) return;
    throw new VolumeError(`configmap "${name}" not found`, { volume: ctx.volume });
  }
  keyPayload(payload, ctx, configMapEntries(cm), src.items as KeyToPath[] | undefined, defaultMode, optional, 'configmap');
}

async function secretPayload(payload: Payload, ctx: ProjectionContext, src: Json, name: string, defaultMode: number): Promise<void> {
  const optional = src.optional === true;
  const secret = await ctx.sources.secret(namespaceOf(ctx.pod), name);
  if (!secret) {
    if (optional) return;
    throw new VolumeError(`secret "${name}" not found`, { volume: ctx.volume });
  }
  keyPayload(payload, ctx, secretEntries(secret), src.items as KeyToPath[] | undefined, defaultMode, optional, 'secret');
}

function findContainer(pod: KObject, name: string): Json | undefined {
  const spec = (pod.spec ?? {}) as Json;
  const all = [...((spec.containers as Json[]) ?? []), ...((spec.initContainers as Json[]) ?? [])];
  return all.find((c) => c.name === name);
}

function downwardPayload(payload: Payload, ctx: ProjectionContext, items: Json[], defaultMode: number): void {
  for (const item of items) {
    const path = String(item.path ?? '');
    let value: string;
    try {
      if (item.fieldRef) {
        value = metadataFieldValue(ctx.pod, String(item.fieldRef.fieldPath ?? ''));
      } else if (item.resourceFieldRef) {
        const ref = item.resourceFieldRef as Json;
        const containerName = String(ref.containerName ?? '');
        const container = findContainer(ctx.pod, containerName);
        if (!container) throw new DownwardError(`container "${containerName}" not found in the pod`);
        value = containerResourceValue(container, String(ref.resource ?? ''), ref.divisor, ctx.allocatable);
      } else {
        throw new DownwardError('an item needs fieldRef or resourceFieldRef');
      }
    } catch (e) {
      if (e instanceof DownwardError) throw new VolumeError(`downwardAPI item "${path}": ${e.message}`, { volume: ctx.volume });
      throw e;
    }
    addFile(payload, ctx, path, Buffer.from(value, 'utf8'), fileMode(item.mode, defaultMode));
  }
}

/** The payload of an API-data volume source of the given kind. */
export async function volumePayload(kind: 'configMap' | 'secret' | 'downwardAPI' | 'projected', src: Json, ctx: ProjectionContext): Promise<Payload> {
  const payload: Payload = new Map();
  try {
    const defaultMode = fileMode(src.defaultMode, DEFAULT_MODE);
    switch (kind) {
      case 'configMap':
        await configMapPayload(payload, ctx, src, defaultMode);
        break;
      case 'secret':
        await secretPayload(payload, ctx, src, String(src.secretName ?? ''), defaultMode);
        break;
      case 'downwardAPI':
        downwardPayload(payload, ctx, (src.items as Json[]) ?? [], defaultMode);
        break;
      case 'projected':
        for (const s of (src.sources as Json[]) ?? []) {
          if (s.configMap) await configMapPayload(payload, ctx, s.configMap, defaultMode);
          else if (s.secret) await secretPayload(payload, ctx, s.secret, String(s.secret.name ?? ''), defaultMode);
          else if (s.downwardAPI) downwardPayload(payload, ctx, (s.downwardAPI.items as Json[]) ?? [], defaultMode);
          else if (s.serviceAccountToken) {
            if (!ctx.sources.serviceAccountToken) throw new VolumeError('projected serviceAccountToken sources are not supported by this node agent', { volume: ctx.volume });
            const token = await ctx.sources.serviceAccountToken(ctx.pod, s.serviceAccountToken);
            addFile(payload, ctx, String(s.serviceAccountToken.path ?? ''), Buffer.from(token, 'utf8'), fileMode(undefined, defaultMode));
          }
          else if (s.clusterTrustBundle) throw new VolumeError('projected clusterTrustBundle sources are not supported by this node agent', { volume: ctx.volume });
          else throw new VolumeError(`projected source ${JSON.stringify(Object.keys(s))} is not supported`, { volume: ctx.volume });
        }
        break;
    }
  } catch (e) {
    if (e instanceof VolumeError) throw e;
    throw new VolumeError((e as Error).message, { volume: ctx.volume });
  }
  return payload;
}
