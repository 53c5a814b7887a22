// core/v1 ServiceAccount.
import type { Strategy } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, col } from '../common.js';

export const serviceAccountStrategy: Strategy = {
  info: {
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    listKind: 'ServiceAccountList',
    plural: 'serviceaccounts',
    singular: 'serviceaccount',
    namespaced: true,
    shortNames: ['sa'],
    verbs: ALL_VERBS,
    // served by the API server itself (auth/token-request.ts), not by the generic registry
    subresources: ['token'],
    modelName: 'V1ServiceAccount',
  },
  table: {
    columns: [NAME_COLUMN, col('Secrets', 'integer', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.'), AGE_COLUMN],
    cells: (obj, now) => [obj.metadata.name, Array.isArray(obj.secrets) ? obj.secrets.length : 0, age(obj, now)],
  },
};
