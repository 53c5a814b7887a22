// A real registry for tests: Debian's docker-registry (distribution v2) serving plain HTTP on a
// free loopback port with its storage in a given folder, and skopeo to push into it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { waitFor } from './wait.js';
import { findExecutable } from '../../kubelet/runtime/oci/oci-binary.js';

export interface TestRegistry {
  /** host:port */
  host: string;
  stop(): Promise<void>;
}

export function registryMissing(): string | undefined {
  if (!findExecutable('docker-registry')) return 'docker-registry is not installed (apt-get install -y docker-registry)';
  if (!findExecutable('skopeo')) return 'skopeo is not installed (apt-get install -y skopeo)';
  return undefined;
}

/** A TCP port free on loopback now. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function v2Status(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(`http://${host}/v2/`, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

export async function startTestRegistry(dir: string): Promise<TestRegistry> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const host = `127.0.0.1:${await freePort()}`;
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\nhttp:\n  addr: ${host}\n`);
  const log = join(dir, 'registry.log');
  const fd = openSync(log, 'w');
  const proc: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
    }
  };
  try {
    await waitFor(`docker-registry on ${host}`, 15_000, async () => {
      if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${readFileSync(log, 'utf8').slice(-2000)}`);
      return (await v2Status(host)) === 200;
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { host, stop };
}

/** skopeo copy into a plain-HTTP registry; resolves with the pushed manifest's digest. */
export function skopeoPush(src: string, dest: string, digestFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--digestfile', digestFile, src, dest], (err, _o, stderr) => {
      if (err) reject(new Error(`skopeo copy ${src} ${dest}: ${String(stderr).trim() || err.message}`));
      else resolve(readFileSync(digestFile, 'utf8').trim());
    });
  });
}
