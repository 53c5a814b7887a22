// The `paths` of a group-version document: collection, item and subresource operations of each
// resource. kubectl decides whether the server validates fields from these: it needs, per kind, a
// patch operation carrying x-kubernetes-group-version-kind and its own `fieldValidation` parameter.
import { ref, DELETE_OPTIONS, PATCH, STATUS } from './schemas.js';

export interface PathResource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  subresources: string[];
  verbs?: string[];
  /** component schema of the kind and of its list */
  schema: string;
  listSchema?: string;
  /** custom resources take no strategic merge patch */
  custom: boolean;
}

type Op = Record<string, unknown>;
type Param = Record<string, unknown>;

const SCALE_SCHEMA = 'io.k8s.api.autoscaling.v1.Scale';
const BINDING_SCHEMA = 'io.k8s.api.core.v1.Binding';

function query(name: string, description: string, type = 'string', extra: Record<string, unknown> = {}): Param {
  return { name, in: 'query', description, schema: { type, uniqueItems: true }, ...extra };
}

const P = {
  name: (kind: string): Param => ({ name: 'name', in: 'path', required: true, description: `name of the ${kind}`, schema: { type: 'string', uniqueItems: true } }),
  namespace: { name: 'namespace', in: 'path', required: true, description: 'object name and auth scope, such as for teams and projects', schema: { type: 'string', uniqueItems: true } },
  pretty: query('pretty', "If 'true', the output is pretty printed."),
  dryRun: query('dryRun', 'When present, the modification is not persisted. The only valid value is All.'),
  fieldManager: query('fieldManager', 'The name of the actor making the change, recorded in managedFields.'),
  fieldValidation: query(
    'fieldValidation',
    'How to treat fields the schema does not know: Ignore drops them, Warn drops them and returns a warning, Strict rejects the request.',
  ),
  force: query('force', 'Apply requests only: take over fields owned by other managers.', 'boolean'),
  labelSelector: query('labelSelector', 'Restrict the list to objects whose labels match this selector.'),
  fieldSelector: query('fieldSelector', 'Restrict the list to objects whose fields match this selector.'),
  limit: query('limit', 'The maximum number of objects to return; more are available with continue.', 'integer'),
  continue: query('continue', 'The token returned by a previous limited list, to fetch the next chunk.'),
  resourceVersion: query('resourceVersion', 'The resource version a read must be at least as new as (or exactly, see resourceVersionMatch).'),
  resourceVersionMatch: query('resourceVersionMatch', 'How resourceVersion applies to a list: NotOlderThan or Exact.'),
  watch: query('watch', 'Stream add, update and delete events instead of returning a list.', 'boolean'),
  allowWatchBookmarks: query('allowWatchBookmarks', 'Ask for BOOKMARK events on a watch.', 'boolean'),
  timeoutSeconds: query('timeoutSeconds', 'End a list or watch after this many seconds.', 'integer'),
  sendInitialEvents: query('sendInitialEvents', 'Start a watch with synthetic ADDED events for existing objects.', 'boolean'),
  gracePeriodSeconds: query('gracePeriodSeconds', 'Seconds to wait before the object is deleted; 0 deletes at once.', 'integer'),
  propagationPolicy: query('propagationPolicy', 'Whether and how dependents are garbage collected: Orphan, Background or Foreground.'),
};

const LIST_PARAMS = [P.pretty, P.labelSelector, P.fieldSelector, P.limit, P.continue, P.resourceVersion, P.resourceVersionMatch, P.watch, P.allowWatchBookmarks, P.timeoutSeconds, P.sendInitialEvents];

function json(schema: string): Record<string, unknown> {
  const s = { schema: { $ref: ref(schema) } };
  return { 'application/json': s, 'application/yaml': s };
}

function ok(schema: string, codes: string[]): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  for (const c of codes) r[c] = { description: c === '201' ? 'Created' : c === '202' ? 'Accepted' : 'OK', content: json(schema) };
  r['401'] = { description: 'Unauthorized' };
  return r;
}

function camel(s: string): string {
  return s
    .split(/[.\-/]/)
    .filter((p) => p && p !== 'k8s' && p !== 'io')
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
}

const PATCH_TYPES_BUILTIN = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];
const PATCH_TYPES_CUSTOM = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'];

function patchBody(custom: boolean): Record<string, unknown> {
  const content: Record<string, unknown> = {};
  for (const t of custom ? PATCH_TYPES_CUSTOM : PATCH_TYPES_BUILTIN) content[t] = { schema: { $ref: ref(PATCH) } };
  return { content, required: true };
}

interface OpContext {
  r: PathResource;
  idPart: string;
  tag: string;
}

function op(c: OpContext, verb: string, action: string, gvk: { group: string; version: string; kind: string }, extra: Op): Op {
  return {
    tags: [c.tag],
    description: `${action} ${c.r.kind}`,
    operationId: `${verb}${c.idPart}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    ...extra,
  };
}

/** The path items of one resource, keyed by path. */
export function resourcePaths(r: PathResource): Record<string, Record<string, unknown>> {
  const prefix = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const collection = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.plural}` : `${prefix}/${r.plural}`;
  const item = `${collection}/{name}`;
  const gv = camel(r.group || 'core') + camel(r.version);
  const ns = r.namespaced ? 'Namespaced' : '';
  const gvk = { group: r.group, version: r.version, kind: r.kind };
  const tag = `${r.group ? camel(r.group).replace(/^./, (x) => x.toLowerCase()) : 'core'}_${r.version}`;
  const verbs = new Set(r.verbs ?? ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
  const scope = r.namespaced ? [P.namespace] : [];
  const out: Record<string, Record<string, unknown>> = {};
  const writeParams = [P.pretty, P.dryRun, P.fieldManager, P.fieldValidation];
  const patchParams = [P.pretty, P.dryRun, P.fieldManager, P.fieldValidation, P.force];

  const coll: Record<string, unknown> = { parameters: scope };
  const c = (id: string): OpContext => ({ r, idPart: `${gv}${id}`, tag });
  if (verbs.has('list')) coll.get = op(c(`${ns}${r.kind}`), 'list', 'list', gvk, { parameters: LIST_PARAMS, responses: ok(r.listSchema ?? r.schema, ['200']) });
  if (verbs.has('create')) {
    coll.post = op(c(`${ns}${r.kind}`), 'create', 'post', gvk, {
      parameters: writeParams,
      requestBody: { content: json(r.schema), required: true },
      responses: ok(r.schema, ['200', '201', '202']),
    });
  }
  if (verbs.has('deletecollection')) {
    coll.delete = op(c(`Collection${ns}${r.kind}`), 'delete', 'deletecollection', gvk, {
      parameters: [...LIST_PARAMS, P.dryRun, P.gracePeriodSeconds, P.propagationPolicy],
      requestBody: { content: json(DELETE_OPTIONS) },
      responses: ok(STATUS, ['200']),
    });
  }
  if (Object.keys(coll).length > 1) out[collection] = coll;
  if (r.namespaced && verbs.has('list')) {
    out[`${prefix}/${r.plural}`] = {
      get: op(c(`${r.kind}ForAllNamespaces`), 'list', 'list', gvk, { parameters: LIST_PARAMS, responses: ok(r.listSchema ?? r.schema, ['200']) }),
    };
  }

  const one: Record<string, unknown> = { parameters: [P.name(r.kind), ...scope] };
  if (verbs.has('get')) one.get = op(c(`${ns}${r.kind}`), 'read', 'get', gvk, { parameters: [P.pretty], responses: ok(r.schema, ['200']) });
  if (verbs.has('update')) {
    one.put = op(c(`${ns}${r.kind}`), 'replace', 'put', gvk, {
      parameters: writeParams,
      requestBody: { content: json(r.schema), required: true },
      responses: ok(r.schema, ['200', '201']),
    });
  }
  if (verbs.has('patch')) {
    one.patch = op(c(`${ns}${r.kind}`), 'patch', 'patch', gvk, { parameters: patchParams, requestBody: patchBody(r.custom), responses: ok(r.schema, ['200', '201']) });
  }
  if (verbs.has('delete')) {
    one.delete = op(c(`${ns}${r.kind}`), 'delete', 'delete', gvk, {
      parameters: [P.pretty, P.dryRun, P.gracePeriodSeconds, P.propagationPolicy],
      requestBody: { content: json(DELETE_OPTIONS) },
      responses: ok(STATUS, ['200', '202']),
    });
  }
  if (Object.keys(one).length > 1) out[item] = one;

  for (const sub of r.subresources) {
    const id = `${ns}${r.kind}${camel(sub)}`;
    const params = { parameters: [P.name(r.kind), ...scope] };
    if (sub === 'status' || sub === 'scale') {
      const schema = sub === 'scale' ? SCALE_SCHEMA : r.schema;
      const subGvk = sub === 'scale' ? { group: 'autoscaling', version: 'v1', kind: 'Scale' } : gvk;
      out[`${item}/${sub}`] = {
        ...params,
        get: op(c(id), 'read', 'get', subGvk, { parameters: [P.pretty], responses: ok(schema, ['200']) }),
        put: op(c(id), 'replace', 'put', subGvk, { parameters: writeParams, requestBody: { content: json(schema), required: true }, responses: ok(schema, ['200', '201']) }),
        patch: op(c(id), 'patch', 'patch', subGvk, { parameters: patchParams, requestBody: patchBody(r.custom), responses: ok(schema, ['200', '201']) }),
      };
    } else if (sub === 'binding' && !r.group && r.kind === 'Pod') {
      const bindingGvk = { group: '', version: 'v1', kind: 'Binding' };
      out[`${item}/binding`] = {
        ...params,
        post: op(c(id), 'create', 'post', bindingGvk, { parameters: writeParams, requestBody: { content: json(BINDING_SCHEMA), required: true }, responses: ok(BINDING_SCHEMA, ['200', '201', '202']) }),
      };
    } else if (sub === 'log') {
      out[`${item}/log`] = {
        ...params,
        get: op(c(id), 'read', 'get', gvk, {
          parameters: ['container', 'follow', 'previous', 'timestamps', 'tailLines', 'sinceSeconds', 'limitBytes'].map((n) =>
            query(n, `See kubectl logs --${n.replace(/[A-Z]/g, (x) => '-' + x.toLowerCase())}.`, /Lines|Seconds|Bytes/.test(n) ? 'integer' : n === 'container' ? 'string' : 'boolean'),
          ),
          responses: { '200': { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } }, '401': { description: 'Unauthorized' } },
        }),
      };
    }
    // exec, attach and portforward are streaming upgrades; kubectl does not look for them here.
  }
  return out;
}
