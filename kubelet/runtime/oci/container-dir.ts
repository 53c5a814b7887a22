// One directory per container under <root>/containers/<id>: the bundle (config.json), conmon's
// files and meta.json, the agent's record of what the container is. Everything the agent needs
// after a restart is here; nothing lives only in memory.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ConmonPaths } from './conmon.js';

export interface ContainerMeta {
  id: string;
  /** the Kubernetes container name */
  name: string;
  pod: { uid: string; name: string; namespace: string };
  attempt: number;
  image?: string;
  imageID?: string;
  runtime: string;
  cgroupsPath: string;
  logPath: string;
  createdAt: string;
  startedAt?: string;
  labels?: Record<string, string>;
}

export interface Layout {
  root: string;
  containers: string;
  exits: string;
  sockets: string;
}

export function layoutOf(root: string): Layout {
  return { root, containers: join(root, 'containers'), exits: join(root, 'exits'), sockets: join(root, 'sockets') };
}

export function containerDir(layout: Layout, id: string): string {
  return join(layout.containers, id);
}

export function conmonPaths(layout: Layout, id: string, logPath: string): ConmonPaths {
  const dir = containerDir(layout, id);
  return {
    bundle: dir,
    containerPidFile: join(dir, 'pidfile'),
    conmonPidFile: join(dir, 'conmon.pid'),
    logPath,
    exitDir: layout.exits,
    socketDir: layout.sockets,
    persistDir: join(dir, 'persist'),
    conmonLog: join(dir, 'conmon.log'),
  };
}

/** Atomic so a crash never leaves a half-written record. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 2));
  await rename(tmp, file);
}

export async function writeMeta(layout: Layout, meta: ContainerMeta): Promise<void> {
  await writeJson(join(containerDir(layout, meta.id), 'meta.json'), meta);
}

export async function readMeta(layout: Layout, id: string): Promise<ContainerMeta | undefined> {
  try {
    return JSON.parse(await readFile(join(containerDir(layout, id), 'meta.json'), 'utf8')) as ContainerMeta;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function listIds(layout: Layout): Promise<string[]> {
  try {
    return (await readdir(layout.containers, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function ensureLayout(layout: Layout): Promise<void> {
  for (const d of [layout.containers, layout.exits, layout.sockets]) await mkdir(d, { recursive: true, mode: 0o700 });
}

export async function removeContainerFiles(layout: Layout, id: string): Promise<void> {
  await rm(containerDir(layout, id), { recursive: true, force: true });
  await rm(join(layout.exits, id), { force: true });
  await rm(join(layout.sockets, id), { recursive: true, force: true });
}
