// Create-only review resources: SelfSubjectAccessReview and SelfSubjectRulesReview
// (`kubectl auth can-i`), SelfSubjectReview (`kubectl auth whoami`) and SubjectAccessReview.
// skiff authenticates every request but does not enforce RBAC yet: every authenticated user may
// do everything, and the reviews say so in their reason rather than pretend to evaluate rules.
import type { ResourceInfo } from '../registry/strategy.js';
import type { UserInfo } from './tokens.js';
import { errors } from '../status.js';

export const REVIEW_RESOURCES: ResourceInfo[] = [
  { group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectAccessReview', listKind: 'SelfSubjectAccessReviewList', plural: 'selfsubjectaccessreviews', singular: 'selfsubjectaccessreview', namespaced: false, verbs: ['create'] },
  { group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectRulesReview', listKind: 'SelfSubjectRulesReviewList', plural: 'selfsubjectrulesreviews', singular: 'selfsubjectrulesreview', namespaced: false, verbs: ['create'] },
  { group: 'authorization.k8s.io', version: 'v1', kind: 'SubjectAccessReview', listKind: 'SubjectAccessReviewList', plural: 'subjectaccessreviews', singular: 'subjectaccessreview', namespaced: false, verbs: ['create'] },
  { group: 'authentication.k8s.io', version: 'v1', kind: 'SelfSubjectReview', listKind: 'SelfSubjectReviewList', plural: 'selfsubjectreviews', singular: 'selfsubjectreview', namespaced: false, verbs: ['create'] },
];

const REASON = 'skiff does not enforce RBAC yet: every authenticated user is allowed';

export function review(plural: string, body: unknown, user: UserInfo): Record<string, unknown> {
  const b = (body ?? {}) as { spec?: Record<string, unknown>; metadata?: Record<string, unknown> };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw errors.badRequest('the body must be a review object');
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const meta = { ...(b.metadata ?? {}), creationTimestamp: now };
  switch (plural) {
    case 'selfsubjectaccessreviews':
      if (!b.spec || (!b.spec.resourceAttributes && !b.spec.nonResourceAttributes)) {
        throw errors.invalid('SelfSubjectAccessReview', 'authorization.k8s.io', '', [
          { reason: 'FieldValueRequired', field: 'spec.resourceAttributes', message: 'Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified' },
        ]);
      }
      return { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: meta, spec: b.spec, status: { allowed: true, reason: REASON } };
    case 'subjectaccessreviews':
      return { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: meta, spec: b.spec ?? {}, status: { allowed: true, reason: REASON } };
    case 'selfsubjectrulesreviews':
      return {
        kind: 'SelfSubjectRulesReview',
        apiVersion: 'authorization.k8s.io/v1',
        metadata: meta,
        spec: b.spec ?? {},
        status: {
          resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
          nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
          incomplete: false,
        },
      };
    case 'selfsubjectreviews':
      return { kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: meta, status: { userInfo: { username: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups, ...(user.extra ? { extra: user.extra } : {}) } } };
    default:
      throw errors.notFoundPath();
  }
}
