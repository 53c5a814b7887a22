// Named, pinned network namespaces (`ip netns`): the file /run/netns/<name> is a bind mount of the
// namespace, so it outlives every process in it and can be handed to CNI and to the OCI runtime.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTool, ToolError } from './cni.js';

export const NETNS_DIR = '/run/netns';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const MAX_NAME = 40;

/** prefix + the first 12 alphanumerics of the uid: short enough for every tool, unique in practice. */
export function netnsNameFor(prefix: string, uid: string): string {
  const tail = uid.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 12);
  if (!tail) throw new Error(`pod uid ${JSON.stringify(uid)} has no letters or digits to name its network namespace`);
  const name = prefix + tail;
  checkNetnsName(name);
  return name;
}

export function checkNetnsName(name: string): void {
  if (!NAME_RE.test(name) || name.length > MAX_NAME) {
    throw new Error(`invalid network namespace name ${JSON.stringify(name)} (letters, digits, _ . -; at most ${MAX_NAME} chars)`);
  }
}

export function netnsPath(name: string): string {
  checkNetnsName(name);
  return join(NETNS_DIR, name);
}

/** True when /run/netns/<name> is a mounted namespace (a bare file left by a crash does not count). */
export function netnsExists(name: string): boolean {
  const p = netnsPath(name);
  if (!existsSync(p)) return false;
  return mountPoints().has(p);
}

function mountPoints(): Set<string> {
  const set = new Set<string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    // field 5 is the mount point, with spaces etc. octal-escaped; our names never need escaping
    if (f[4]) set.add(f[4]);
  }
  return set;
}

/** Creates the namespace unless it is there already; returns its path. */
export async function createNetns(name: string): Promise<string> {
  const p = netnsPath(name);
  if (netnsExists(name)) return p;
  // A file without a mount behind it (interrupted add) makes `ip netns add` fail: clear it first.
  if (existsSync(p)) await runTool('ip', ['netns', 'delete', name]).catch(() => undefined);
  try {
    await runTool('ip', ['netns', 'add', name]);
  } catch (e) {
    if (!(e instanceof ToolError && /exists/i.test(e.stderr) && netnsExists(name))) throw e;
  }
  return p;
}

/** Unmounts and removes the namespace; a missing one is fine. */
export async function deleteNetns(name: string): Promise<void> {
  const p = netnsPath(name);
  if (!existsSync(p)) return;
  try {
    await runTool('ip', ['netns', 'delete', name]);
  } catch (e) {
    if (existsSync(p)) throw e;
  }
}

/** Names of pinned namespaces starting with prefix. */
export function listNetns(prefix: string): string[] {
  if (!existsSync(NETNS_DIR)) return [];
  return readdirSync(NETNS_DIR).filter((n) => n.startsWith(prefix));
}
