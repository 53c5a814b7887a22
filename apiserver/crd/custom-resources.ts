// Serving CustomResourceDefinitions: when a CRD is created or changed, its served versions become
// resources (discovery, CRUD, watch, status/scale subresources, printer columns, schema
// validation and pruning); its status reports NamesAccepted and Established. Deleting a CRD
// deletes its custom resources first (the customresourcecleanup finalizer), then the CRD.
import type { FieldError, KObject } from '../../pkg/api/types.js';
import type { CacheEvent, WatchCache } from '../cache/watch-cache.js';
import type { ResourceRegistry, SchemaHooks } from '../registry/generic.js';
import type { ResourceInfo, Strategy, Table, TableColumn } from '../registry/strategy.js';
import { labelSelectorToString } from '../../pkg/api/labels.js';
import { jsonPathValues } from '../../pkg/api/jsonpath.js';
import { humanDuration } from '../../pkg/api/duration.js';
import { systemContext } from '../bootstrap.js';
import { logger } from '../../pkg/log/logger.js';
import { StatusError } from '../status.js';
import { customResourceHooks, type CrdSchemaSource } from './schema-hooks.js';

const CRD_PREFIX = '/registry/apiextensions.k8s.io/customresourcedefinitions/';
export const CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: Record<string, unknown> };
  subresources?: { status?: object; scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string } };
  additionalPrinterColumns?: { name: string; type: string; format?: string; description?: string; priority?: number; jsonPath: string }[];
}

interface CrdSpec {
  group: string;
  names: { plural: string; singular?: string; kind: string; listKind?: string; shortNames?: string[]; categories?: string[] };
  scope: 'Namespaced' | 'Cluster';
  versions: CrdVersion[];
}

export interface CustomResourcesEnv {
  cache: WatchCache;
  add(s: Strategy, hooks: SchemaHooks): void;
  remove(info: ResourceInfo): void;
  registry(group: string, version: string, plural: string): ResourceRegistry | undefined;
  changed(): void;
}

const VERBS = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];

function printerTable(v: CrdVersion): Table {
  const cols = v.additionalPrinterColumns;
  if (!cols || cols.length === 0) {
    return {
      columns: [
        { name: 'Name', type: 'string', format: 'name' },
        { name: 'Age', type: 'date' },
      ],
      cells: (o, now) => [o.metadata.name ?? '', o.metadata.creationTimestamp ? humanDuration(now - Date.parse(o.metadata.creationTimestamp)) : '<unknown>'],
    };
  }
  const columns: TableColumn[] = [
    { name: 'Name', type: 'string', format: 'name' },
    ...cols.map((c) => ({ name: c.name, type: c.type as TableColumn['type'], format: c.format, description: c.description, priority: c.priority })),
  ];
  return {
    columns,
    cells: (o, now) => [
      o.metadata.name ?? '',
      ...cols.map((c) => {
        let vals: unknown[];
        try {
          vals = jsonPathValues(c.jsonPath, o);
        } catch {
          return '<error>';
        }
        if (vals.length === 0) return null;
        const v = vals.length === 1 ? vals[0] : vals;
        if (c.type === 'date' && typeof v === 'string') {
          const t = Date.parse(v);
          return Number.isNaN(t) ? v : humanDuration(now - t);
        }
        if (typeof v === 'object') return JSON.stringify(v);
        return v;
      }),
    ],
  };
}

function getPath(obj: unknown, path: string): unknown {
  const vals = jsonPathValues(path, obj);
  return vals[0];
}

export function strategyForVersion(spec: CrdSpec, v: CrdVersion): Strategy {
  const n = spec.names;
  const subresources: string[] = [];
  if (v.subresources?.status) subresources.push('status');
  if (v.subresources?.scale) subresources.push('scale');
  const scale = v.subresources?.scale;
  const strategy: Strategy = {
    info: {
      group: spec.group,
      version: v.name,
      kind: n.kind,
      listKind: n.listKind ?? `${n.kind}List`,
      plural: n.plural,
      singular: n.singular || n.kind.toLowerCase(),
      namespaced: spec.scope === 'Namespaced',
      shortNames: n.shortNames,
      categories: n.categories,
      verbs: VERBS,
      subresources,
    },
    table: printerTable(v),
    hasGeneration: true,
  };
  if (scale) {
    strategy.scale = {
      specReplicasPath: scale.specReplicasPath,
      statusReplicasPath: scale.statusReplicasPath,
      selector: (o) => {
        if (!scale.labelSelectorPath) return '';
        const s = getPath(o, scale.labelSelectorPath);
        if (typeof s === 'string') return s;
        return s && typeof s === 'object' ? labelSelectorToString(s as never) : '';
      },
    };
  }
  return strategy;
}

export class CustomResources {
  private readonly installed = new Map<string, ResourceInfo[]>();
  private readonly sources = new Map<string, CrdSchemaSource[]>();
  private unsubscribe?: () => void;
  private readonly log = logger('crd');
  private readonly busy = new Set<string>();

  constructor(private readonly env: CustomResourcesEnv) {}

  start(): void {
    for (const c of this.env.cache.list(CRD_PREFIX)) this.install(c.obj, false);
    this.env.changed();
    this.unsubscribe = this.env.cache.subscribe((ev) => this.onEvent(ev));
    for (const c of this.env.cache.list(CRD_PREFIX)) void this.reconcile(c.obj.metadata.name!);
  }

  stop(): void {
    this.unsubscribe?.();
  }

  schemas(): CrdSchemaSource[] {
    return [...this.sources.values()].flat();
  }

  private onEvent(ev: CacheEvent): void {
    if (ev.resource !== CRD_PREFIX) return;
    const name = ev.cur.obj.metadata.name!;
    if (ev.type === 'DELETED') this.uninstall(name);
    else this.install(ev.cur.obj, true);
    this.env.changed();
    if (ev.type !== 'DELETED') void this.reconcile(name);
  }

  private uninstall(name: string): void {
    for (const info of this.installed.get(name) ?? []) this.env.remove(info);
    this.installed.delete(name);
    this.sources.delete(name);
  }

  private install(crd: KObject, _live: boolean): void {
    const name = crd.metadata.name!;
    this.uninstall(name);
    const spec = crd.spec as CrdSpec | undefined;
    if (!spec?.names?.plural || !spec.group || !Array.isArray(spec.versions)) return;
    // Built-in resources win a name clash; the CRD then reports NamesAccepted=False.
    if (this.clashesWithBuiltin(spec)) return;
    const infos: ResourceInfo[] = [];
    const sources: CrdSchemaSource[] = [];
    for (const v of spec.versions) {
      if (!v.served) continue;
      const strategy = strategyForVersion(spec, v);
      const schema = v.schema?.openAPIV3Schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
      const source: CrdSchemaSource = {
        group: spec.group,
        version: v.name,
        kind: spec.names.kind,
        plural: spec.names.plural,
        namespaced: spec.scope === 'Namespaced',
        schema,
        subresources: strategy.info.subresources,
      };
      this.env.add(strategy, customResourceHooks(source));
      infos.push(strategy.info);
      sources.push(source);
    }
    this.installed.set(name, infos);
    this.sources.set(name, sources);
  }

  private clashesWithBuiltin(spec: CrdSpec): boolean {
    for (const v of spec.versions) {
      const r = this.env.registry(spec.group, v.name, spec.names.plural);
      if (r && !this.isCustom(r.info)) return true;
    }
    return false;
  }

  private isCustom(info: ResourceInfo): boolean {
    for (const list of this.installed.values()) if (list.includes(info)) return true;
    return false;
  }

  /** Status conditions, the cleanup finalizer, and deletion of instances when the CRD goes. */
  private async reconcile(name: string): Promise<void> {
    if (this.busy.has(name)) return;
    this.busy.add(name);
    try {
      const crds = this.env.registry('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
      const cur = this.env.cache.get(`${CRD_PREFIX}${name}`)?.obj;
      if (!cur) return;
      const spec = cur.spec as CrdSpec;
      if (cur.metadata.deletionTimestamp) {
        await this.deleteInstances(spec);
        await crds.modifyWith(systemContext('apiextensions-controller'), undefined, name, (o) => {
          o.metadata.finalizers = (o.metadata.finalizers ?? []).filter((f) => f !== CLEANUP_FINALIZER);
          return o;
        });
        return;
      }
      if (!(cur.metadata.finalizers ?? []).includes(CLEANUP_FINALIZER)) {
        await crds.modifyWith(systemContext('apiextensions-controller'), undefined, name, (o) => {
          o.metadata.finalizers = [...(o.metadata.finalizers ?? []), CLEANUP_FINALIZER];
          return o;
        });
      }
      const accepted = this.installed.has(name);
      const wanted = crdStatus(cur, accepted);
      const have = cur.status as Record<string, unknown> | undefined;
      if (JSON.stringify(stripTimes(have)) !== JSON.stringify(stripTimes(wanted))) {
        await crds.modifyWith(
          systemContext('apiextensions-controller'),
          undefined,
          name,
          (o) => {
            o.status = crdStatus(o, accepted, o.status as Record<string, unknown> | undefined);
            return o;
          },
          undefined,
          'status',
        );
      }
    } catch (err) {
      if (!(err instanceof StatusError && (err.code === 404 || err.code === 409))) this.log.error({ err, crd: name }, 'reconciling CRD failed');
    } finally {
      this.busy.delete(name);
    }
  }

  private async deleteInstances(spec: CrdSpec): Promise<void> {
    const v = spec.versions.find((x) => x.storage) ?? spec.versions[0];
    if (!v) return;
    const reg = this.env.registry(spec.group, v.name, spec.names.plural);
    if (!reg) return;
    const ctx = systemContext('apiextensions-controller');
    for (const c of this.env.cache.list(reg.prefix)) {
      try {
        await reg.delete(ctx, c.obj.metadata.namespace, c.obj.metadata.name!, {});
        if (c.obj.metadata.finalizers?.length) {
          await reg.modifyWith(ctx, c.obj.metadata.namespace, c.obj.metadata.name!, (o) => {
            o.metadata.finalizers = [];
            return o;
          });
        }
      } catch (err) {
        if (!(err instanceof StatusError && err.code === 404)) throw err;
      }
    }
  }
}

function stripTimes(s: Record<string, unknown> | undefined): unknown {
  if (!s) return s;
  const conds = (s.conditions as Record<string, unknown>[] | undefined)?.map(({ lastTransitionTime: _t, ...rest }) => rest);
  return { ...s, conditions: conds };
}

function crdStatus(crd: KObject, accepted: boolean, prev?: Record<string, unknown>): Record<string, unknown> {
  const spec = crd.spec as CrdSpec;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const prevConds = (prev?.conditions ?? (crd.status as { conditions?: unknown[] } | undefined)?.conditions ?? []) as { type: string; status: string; lastTransitionTime?: string }[];
  const cond = (type: string, status: string, reason: string, message: string) => {
    const old = prevConds.find((c) => c.type === type);
    return { type, status, lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now, reason, message };
  };
  const storage = spec.versions?.find((v) => v.storage)?.name;
  const stored = new Set<string>(((crd.status as { storedVersions?: string[] } | undefined)?.storedVersions ?? []).concat(storage ? [storage] : []));
  return {
    acceptedNames: accepted ? { ...spec.names, singular: spec.names.singular || spec.names.kind.toLowerCase(), listKind: spec.names.listKind ?? `${spec.names.kind}List` } : { plural: '', kind: '' },
    conditions: accepted
      ? [cond('NamesAccepted', 'True', 'NoConflicts', 'no conflicts found'), cond('Established', 'True', 'InitialNamesAccepted', 'the initial names have been accepted')]
      : [cond('NamesAccepted', 'False', 'NameConflict', `"${spec.names.plural}" is already in use by a built-in resource`), cond('Established', 'False', 'NotAccepted', 'not all names are accepted')],
    storedVersions: [...stored],
  };
}

export type { FieldError };
