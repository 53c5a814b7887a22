// The TokenRequest subresource, POST /api/v1/namespaces/NS/serviceaccounts/NAME/token
// (authentication.k8s.io/v1 TokenRequest): what `kubectl create token` and node agents call to get
// a service account token, optionally bound to a Pod so that it dies with the pod.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FieldError, KObject } from '../../pkg/api/types.js';
import { errors, StatusError } from '../status.js';
import { decodeBody, readBody } from '../http/body.js';
import { sendJson } from '../http/respond.js';
import { TOKEN_DEFAULT_EXPIRATION_S, TOKEN_MIN_EXPIRATION_S } from '../../pkg/api/serviceaccounts.js';
import type { ServiceAccountLookup, ServiceAccountTokens } from './service-account-tokens.js';

const MAX_EXPIRATION_S = 2 ** 32;

interface BoundObjectRef {
  kind?: unknown;
  apiVersion?: unknown;
  name?: unknown;
  uid?: unknown;
}

function invalid(name: string, causes: FieldError[]): StatusError {
  return errors.invalid('TokenRequest', 'authentication.k8s.io', name, causes);
}

/** Validates and answers one TokenRequest; returns the TokenRequest object to send (201). */
export function createTokenRequest(body: unknown, namespace: string, saName: string, tokens: ServiceAccountTokens, lookup: ServiceAccountLookup): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw errors.badRequest('the body must be a TokenRequest');
  const b = body as { apiVersion?: unknown; kind?: unknown; spec?: Record<string, unknown> };
  if (b.kind !== undefined && b.kind !== 'TokenRequest') throw errors.badRequest(`the body is a ${String(b.kind)}, not a TokenRequest`);
  const spec = (b.spec ?? {}) as { audiences?: unknown; expirationSeconds?: unknown; boundObjectRef?: BoundObjectRef | null };
  const audiences = spec.audiences === undefined || spec.audiences === null || (Array.isArray(spec.audiences) && spec.audiences.length === 0) ? [...tokens.apiAudiences] : spec.audiences;
  if (!Array.isArray(audiences) || audiences.some((a) => typeof a !== 'string' || a === '')) {
    throw invalid(saName, [{ reason: 'FieldValueInvalid', field: 'spec.audiences', message: 'Invalid value: audiences must be non-empty strings' }]);
  }
  const exp = spec.expirationSeconds === undefined || spec.expirationSeconds === null ? TOKEN_DEFAULT_EXPIRATION_S : spec.expirationSeconds;
  if (typeof exp !== 'number' || !Number.isInteger(exp)) {
    throw invalid(saName, [{ reason: 'FieldValueInvalid', field: 'spec.expirationSeconds', message: `Invalid value: ${JSON.stringify(exp)}: must be an integer` }]);
  }
  if (exp < TOKEN_MIN_EXPIRATION_S) {
    throw invalid(saName, [{ reason: 'FieldValueInvalid', field: 'spec.expirationSeconds', message: `Invalid value: ${exp}: may not specify a duration less than 10 minutes` }]);
  }
  if (exp > MAX_EXPIRATION_S) {
    throw invalid(saName, [{ reason: 'FieldValueInvalid', field: 'spec.expirationSeconds', message: `Invalid value: ${exp}: may not specify a duration larger than 2^32 seconds` }]);
  }
  const sa = lookup.serviceAccount(namespace, saName);
  if (!sa || sa.metadata.deletionTimestamp) throw errors.notFound('serviceaccounts', '', saName);

  let pod: KObject | undefined;
  const ref = spec.boundObjectRef ?? undefined;
  if (ref) {
    const kind = String(ref.kind ?? '');
    if (kind !== 'Pod') {
      if (kind === 'Secret' || kind === 'Node') throw errors.badRequest(`cannot bind token for serviceaccount "${saName}" to object of type ${kind}: skiff binds tokens to Pods only`);
      throw errors.badRequest(`cannot bind token for serviceaccount "${saName}" to object of type ${kind}`);
    }
    if (ref.apiVersion !== undefined && ref.apiVersion !== '' && ref.apiVersion !== 'v1') {
      throw errors.badRequest(`cannot bind token for serviceaccount "${saName}" to object of type ${String(ref.apiVersion)}, Kind=Pod`);
    }
    const podName = typeof ref.name === 'string' ? ref.name : '';
    if (!podName) throw invalid(saName, [{ reason: 'FieldValueRequired', field: 'spec.boundObjectRef.name', message: 'Required value' }]);
    pod = lookup.pod(namespace, podName);
    if (!pod || pod.metadata.deletionTimestamp) throw errors.notFound('pods', '', podName);
    // A token bound to a pod speaks for that pod's account only.
    if (((pod.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName ?? 'default') !== saName) {
      throw errors.badRequest(`cannot bind token for serviceaccount "${saName}" to pod running with different serviceaccount name.`);
    }
    if (typeof ref.uid === 'string' && ref.uid !== '' && ref.uid !== pod.metadata.uid) {
      throw errors.conflict('Pod', '', podName, `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
    }
  }
  const issued = tokens.issue({
    namespace,
    serviceAccount: { name: saName, uid: String(sa.metadata.uid) },
    audiences: audiences as string[],
    expirationSeconds: exp,
    pod: pod ? { name: pod.metadata.name!, uid: String(pod.metadata.uid) } : undefined,
  });
  const outSpec: Record<string, unknown> = { audiences, expirationSeconds: exp, boundObjectRef: pod ? { kind: 'Pod', apiVersion: 'v1', name: pod.metadata.name, uid: pod.metadata.uid } : null };
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name: saName, namespace, creationTimestamp: null },
    spec: outSpec,
    status: { token: issued.token, expirationTimestamp: issued.expirationTimestamp.toISOString().replace(/\.\d{3}Z$/, 'Z') },
  };
}

export async function serveTokenRequest(req: IncomingMessage, res: ServerResponse, namespace: string, saName: string, tokens: ServiceAccountTokens, lookup: ServiceAccountLookup): Promise<void> {
  if (req.method !== 'POST') throw errors.methodNotAllowed('serviceaccounts/token only supports create');
  const body = decodeBody(await readBody(req), req.headers['content-type']);
  sendJson(res, 201, createTokenRequest(body, namespace, saName, tokens, lookup));
}
