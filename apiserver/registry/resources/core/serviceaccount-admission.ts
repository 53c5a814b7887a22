// The ServiceAccount admission step for new Pods (Kubernetes' "ServiceAccount" admission plugin):
// defaults spec.serviceAccountName to `default`, refuses pods whose ServiceAccount does not exist,
// copies the account's imagePullSecrets, and, unless automounting is turned off, adds the
// projected kube-api-access-xxxxx volume (token, cluster CA, namespace) mounted read-only at
// /var/run/secrets/kubernetes.io/serviceaccount in every container. Mirror pods are left alone:
// the kubelet owns their spec and must find it unchanged.
import { ROOT_CA_CONFIGMAP } from '../../../../pkg/api/serviceaccounts.js';
import { randomInt } from 'node:crypto';
import type { KObject } from '../../../../pkg/api/types.js';
import { StatusError } from '../../../status.js';

export const DEFAULT_SERVICE_ACCOUNT = 'default';
export const SERVICE_ACCOUNT_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
export const API_ACCESS_VOLUME_PREFIX = 'kube-api-access-';
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';
/** A little over an hour, as Kubernetes asks: odd enough to tell kubelet-made tokens apart. */
export const API_ACCESS_TOKEN_EXPIRATION_S = 3607;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

// The alphabet of Kubernetes' generated name suffixes (no vowels, no look-alike digits).
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function randomVolumeSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

export function apiAccessVolume(name: string): Json {
  return {
    name,
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: API_ACCESS_TOKEN_EXPIRATION_S, path: 'token' } },
        { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  };
}

export interface AdmissionOptions {
  /** the ServiceAccount NAMESPACE/NAME, undefined when there is none */
  serviceAccount(namespace: string, name: string): KObject | undefined;
  randomSuffix?: () => string;
}

function forbidden(pod: KObject, message: string): StatusError {
  const name = pod.metadata.name ?? '';
  return new StatusError(403, 'Forbidden', `pods "${name}" is forbidden: ${message}`, { name, kind: 'pods' });
}

/** Mutates a Pod about to be created; throws 403 Forbidden when its ServiceAccount is missing. */
export function admitPodServiceAccount(pod: KObject, opts: AdmissionOptions): void {
  if (pod.metadata.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) return;
  const spec = (pod.spec ?? (pod.spec = {})) as Json;
  if (!spec.serviceAccountName) spec.serviceAccountName = spec.serviceAccount || DEFAULT_SERVICE_ACCOUNT;
  spec.serviceAccount = spec.serviceAccountName;
  const ns = String(pod.metadata.namespace ?? 'default');
  const name = String(spec.serviceAccountName);
  const sa = opts.serviceAccount(ns, name);
  if (!sa || sa.metadata.deletionTimestamp) throw forbidden(pod, `error looking up service account ${ns}/${name}: serviceaccount "${name}" not found`);

  const saPullSecrets = sa.imagePullSecrets as Json[] | undefined;
  if ((!Array.isArray(spec.imagePullSecrets) || spec.imagePullSecrets.length === 0) && Array.isArray(saPullSecrets) && saPullSecrets.length > 0) {
    spec.imagePullSecrets = saPullSecrets.map((s) => ({ name: s.name }));
  }

  const automount = typeof spec.automountServiceAccountToken === 'boolean' ? spec.automountServiceAccountToken : sa.automountServiceAccountToken !== false;
  if (!automount) return;
  const volumes = (Array.isArray(spec.volumes) ? spec.volumes : []) as Json[];
  const existing = volumes.find((v) => typeof v.name === 'string' && v.name.startsWith(API_ACCESS_VOLUME_PREFIX));
  const volumeName: string = existing?.name ?? API_ACCESS_VOLUME_PREFIX + (opts.randomSuffix ?? randomVolumeSuffix)();
  let needed = false;
  for (const list of [spec.initContainers, spec.containers]) {
    if (!Array.isArray(list)) continue;
    for (const c of list as Json[]) {
      const mounts = (Array.isArray(c.volumeMounts) ? c.volumeMounts : []) as Json[];
      if (mounts.some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT_PATH)) continue;
      c.volumeMounts = [...mounts, { name: volumeName, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH }];
      needed = true;
    }
  }
  if (needed && !existing) spec.volumes = [...volumes, apiAccessVolume(volumeName)];
}
