// rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding, ClusterRoleBinding.
import { fieldErrors } from '../../../../pkg/api/field-errors.js';
import { validateLabelSelector } from '../../../../pkg/api/labels.js';
import type { FieldError, KObject } from '../../../../pkg/api/types.js';
import { isDns1123Label, isDns1123Subdomain, isValidPathSegmentName } from '../../../../pkg/api/validation.js';
import type { ResourceInfo, Strategy, Table } from '../../strategy.js';
import { ALL_VERBS, AGE_COLUMN, NAME_COLUMN, age, col, deepEqual, isObj, str, type Json } from '../common.js';

const GROUP = 'rbac.authorization.k8s.io';

function info(kind: string, plural: string, namespaced: boolean): ResourceInfo {
  return {
    group: GROUP,
    version: 'v1',
    kind,
    listKind: `${kind}List`,
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    verbs: ALL_VERBS,
    modelName: `V1${kind}`,
  };
}

function validateRules(rules: Json, namespaced: boolean): FieldError[] {
  if (rules === undefined || rules === null) return [];
  if (!Array.isArray(rules)) return [fieldErrors.typeInvalid('rules', rules, 'must be a list')];
  const errs: FieldError[] = [];
  rules.forEach((r: Json, i: number) => {
    const p = `rules[${i}]`;
    if (!isObj(r)) return;
    const len = (x: Json) => (Array.isArray(x) ? x.length : 0);
    if (len(r.verbs) === 0) errs.push(fieldErrors.required(`${p}.verbs`, 'verbs must contain at least one value'));
    if (len(r.nonResourceURLs) > 0) {
      if (namespaced) errs.push(fieldErrors.invalid(`${p}.nonResourceURLs`, r.nonResourceURLs, 'namespaced rules cannot apply to non-resource URLs'));
      if (len(r.apiGroups) > 0 || len(r.resources) > 0 || len(r.resourceNames) > 0) {
        errs.push(fieldErrors.invalid(`${p}.nonResourceURLs`, r.nonResourceURLs, 'rules cannot apply to both regular resources and non-resource URLs'));
      }
      return;
    }
    if (len(r.apiGroups) === 0) errs.push(fieldErrors.required(`${p}.apiGroups`, 'resource rules must supply at least one api group'));
    if (len(r.resources) === 0) errs.push(fieldErrors.required(`${p}.resources`, 'resource rules must supply at least one resource'));
  });
  return errs;
}

function validateRoleRef(ref: Json, namespaced: boolean): FieldError[] {
  if (!isObj(ref)) return [fieldErrors.required('roleRef')];
  const errs: FieldError[] = [];
  if (ref.apiGroup !== GROUP) errs.push(fieldErrors.notSupported('roleRef.apiGroup', ref.apiGroup ?? '', [GROUP]));
  const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (!kinds.includes(ref.kind)) errs.push(fieldErrors.notSupported('roleRef.kind', ref.kind ?? '', kinds));
  if (!ref.name) errs.push(fieldErrors.required('roleRef.name'));
  else for (const m of isValidPathSegmentName(String(ref.name))) errs.push(fieldErrors.invalid('roleRef.name', ref.name, m));
  return errs;
}

function validateSubjects(subjects: Json, namespaced: boolean): FieldError[] {
  if (subjects === undefined || subjects === null) return [];
  if (!Array.isArray(subjects)) return [fieldErrors.typeInvalid('subjects', subjects, 'must be a list')];
  const errs: FieldError[] = [];
  subjects.forEach((s: Json, i: number) => {
    const p = `subjects[${i}]`;
    if (!isObj(s)) return;
    if (!s.name) errs.push(fieldErrors.required(`${p}.name`));
    switch (s.kind) {
      case 'ServiceAccount':
        if (s.name) for (const m of isDns1123Subdomain(String(s.name))) errs.push(fieldErrors.invalid(`${p}.name`, s.name, m));
        if (s.apiGroup) errs.push(fieldErrors.notSupported(`${p}.apiGroup`, s.apiGroup, ['']));
        if (!namespaced && !s.namespace) errs.push(fieldErrors.required(`${p}.namespace`));
        if (s.namespace) for (const m of isDns1123Label(String(s.namespace))) errs.push(fieldErrors.invalid(`${p}.namespace`, s.namespace, m));
        break;
      case 'User':
      case 'Group':
        if (s.apiGroup !== GROUP) errs.push(fieldErrors.notSupported(`${p}.apiGroup`, s.apiGroup ?? '', [GROUP]));
        break;
      default:
        errs.push(fieldErrors.notSupported(`${p}.kind`, s.kind ?? '', ['ServiceAccount', 'User', 'Group']));
    }
  });
  return errs;
}

function defaultBinding(obj: KObject): void {
  if (isObj(obj.roleRef) && !obj.roleRef.apiGroup) obj.roleRef.apiGroup = GROUP;
  for (const s of Array.isArray(obj.subjects) ? (obj.subjects as Json[]) : []) {
    if (!isObj(s)) continue;
    if ((s.kind === 'User' || s.kind === 'Group') && !s.apiGroup) s.apiGroup = GROUP;
    if (s.kind === 'ServiceAccount' && s.apiGroup === undefined) s.apiGroup = '';
  }
}

function createdAt(obj: KObject): string {
  return obj.metadata.creationTimestamp ?? '';
}

const roleTable: Table = {
  columns: [NAME_COLUMN, col('Created At', 'date', 'CreationTimestamp is a timestamp representing the server time when this object was created.')],
  cells: (obj) => [obj.metadata.name, createdAt(obj)],
};

function subjectNames(obj: KObject, kind: string): string {
  const subs: Json[] = Array.isArray(obj.subjects) ? (obj.subjects as Json[]) : [];
  return subs
    .filter((s) => isObj(s) && s.kind === kind)
    .map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? ''}/${s.name}` : String(s.name)))
    .join(', ');
}

const bindingTable: Table = {
  columns: [
    NAME_COLUMN,
    col('Role', 'string', 'RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.'),
    AGE_COLUMN,
    col('Users', 'string', 'Users in the roleBinding', 1),
    col('Groups', 'string', 'Groups in the roleBinding', 1),
    col('ServiceAccounts', 'string', 'ServiceAccounts in the roleBinding', 1),
  ],
  cells: (obj, now) => {
    const ref: Json = isObj(obj.roleRef) ? obj.roleRef : {};
    return [obj.metadata.name, `${str(ref.kind)}/${str(ref.name)}`, age(obj, now), subjectNames(obj, 'User'), subjectNames(obj, 'Group'), subjectNames(obj, 'ServiceAccount')];
  },
};

function bindingUpdate(obj: KObject, old: KObject): FieldError[] {
  return deepEqual(obj.roleRef, old.roleRef) ? [] : [fieldErrors.invalid('roleRef', obj.roleRef, 'cannot change roleRef')];
}

export const roleStrategy: Strategy = {
  info: info('Role', 'roles', true),
  nameValidator: isValidPathSegmentName,
  validate: (obj) => validateRules(obj.rules, true),
  table: roleTable,
};

export const clusterRoleStrategy: Strategy = {
  info: info('ClusterRole', 'clusterroles', false),
  nameValidator: isValidPathSegmentName,
  validate(obj) {
    const errs = validateRules(obj.rules, false);
    const agg: Json = obj.aggregationRule;
    if (isObj(agg)) {
      const sels: Json[] = Array.isArray(agg.clusterRoleSelectors) ? agg.clusterRoleSelectors : [];
      if (sels.length === 0) errs.push(fieldErrors.required('aggregationRule.clusterRoleSelectors', 'at least one clusterRoleSelector required if aggregationRule is non-nil'));
      sels.forEach((s, i) => errs.push(...validateLabelSelector(s, `aggregationRule.clusterRoleSelectors[${i}]`)));
    }
    return errs;
  },
  table: roleTable,
};

export const roleBindingStrategy: Strategy = {
  info: info('RoleBinding', 'rolebindings', true),
  nameValidator: isValidPathSegmentName,
  defaults: defaultBinding,
  validate: (obj) => [...validateRoleRef(obj.roleRef, true), ...validateSubjects(obj.subjects, true)],
  validateUpdate: bindingUpdate,
  table: bindingTable,
};

export const clusterRoleBindingStrategy: Strategy = {
  info: info('ClusterRoleBinding', 'clusterrolebindings', false),
  nameValidator: isValidPathSegmentName,
  defaults: defaultBinding,
  validate: (obj) => [...validateRoleRef(obj.roleRef, false), ...validateSubjects(obj.subjects, false)],
  validateUpdate: bindingUpdate,
  table: bindingTable,
};
