// Service accounts on a real node: the pod's kube-api-access volume holds a token, the cluster CA
// and its namespace at /var/run/secrets/kubernetes.io/serviceaccount; its environment names the
// API server (KUBERNETES_SERVICE_*) and the namespace's Services; the token it was given
// authenticates as its ServiceAccount, bound to the pod. Needs root (see realNodeMissing()).
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realNodeMissing, startRealCluster, type RealCluster } from '../helpers/real-node.js';
import { waitFor } from '../helpers/wait.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const missing = realNodeMissing();
let c: RealCluster | undefined;
const scratch = mkdtempSync(join(tmpdir(), 'skiff-e2e-sa-'));
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function tokenKubeconfig(token: string): string {
  const ca = readFileSync(join(c!.server.dataDir, 'tls', 'ca.crt')).toString('base64');
  const path = join(scratch, `kc-${Date.now()}`);
  writeFileSync(path, `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: "${c!.server.url}", certificate-authority-data: ${ca}}\nusers:\n- name: u\n  user: {token: "${token}"}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n`);
  return path;
}

if (missing) {
  test.skip(`service accounts on a real node (skipped: ${missing})`, (t) => t.pass());
} else {
  test.before(async () => {
    // Bound to every address, the API server's endpoint is the host's own IP, which pods reach
    // (a server bound to 127.0.0.1 would name the pods' own loopback).
    c = await startRealCluster({ args: ['--bind', '0.0.0.0'] });
  });
  test.after.always(async (t) => {
    const left = c ? await c.stop() : [];
    rmSync(scratch, { recursive: true, force: true });
    t.deepEqual(left, [], 'nothing of the node is left behind');
  });

  test.serial('a pod sees its token, the CA, its namespace and the API server address; the token is the pod\'s', async (t) => {
    const k = c!.k;
    await k(['create', 'namespace', 'sa-e2e']);
    await k(['-n', 'sa-e2e', 'create', 'service', 'clusterip', 'web', '--tcp=80:8080']);
    await k(['-n', 'sa-e2e', 'apply', '-f', '-'], {
      input: `apiVersion: v1\nkind: Pod\nmetadata: {name: client}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox:latest\n    imagePullPolicy: IfNotPresent\n    command: ["sleep", "3600"]\n`,
    });
    await waitFor('the pod to run', 60_000, async () => (await k(['-n', 'sa-e2e', 'get', 'pod', 'client', '-o', 'jsonpath={.status.phase}'])) === 'Running');
    const exec = (cmd: string) => k(['-n', 'sa-e2e', 'exec', 'client', '--', 'sh', '-c', cmd]);

    t.is(await exec(`cat ${SA_DIR}/namespace`), 'sa-e2e');
    t.is(await exec(`cat ${SA_DIR}/ca.crt`), readFileSync(join(c!.server.dataDir, 'tls', 'ca.crt'), 'utf8'));
    t.regex(await exec(`ls ${SA_DIR}`), /^ca\.crt\nnamespace\ntoken\n$/);
    // Read-only, as every API-data volume.
    t.not((await c!.server.kubectl(['-n', 'sa-e2e', 'exec', 'client', '--', 'sh', '-c', `echo x > ${SA_DIR}/token`])).code, 0);

    const apiIP = await k(['-n', 'default', 'get', 'service', 'kubernetes', '-o', 'jsonpath={.spec.clusterIP}']);
    const webIP = await k(['-n', 'sa-e2e', 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}']);
    const env = Object.fromEntries((await exec('env')).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    t.like(env, {
      KUBERNETES_SERVICE_HOST: apiIP,
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: `tcp://${apiIP}:443`,
      KUBERNETES_PORT_443_TCP_ADDR: apiIP,
      WEB_SERVICE_HOST: webIP,
      WEB_SERVICE_PORT: '80',
      WEB_PORT_80_TCP: `tcp://${webIP}:80`,
    });

    const token = await exec(`cat ${SA_DIR}/token`);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Json;
    const podUid = await k(['-n', 'sa-e2e', 'get', 'pod', 'client', '-o', 'jsonpath={.metadata.uid}']);
    t.deepEqual(claims['kubernetes.io'].pod, { name: 'client', uid: podUid });
    t.is(claims.exp - claims.iat, 3607);
    const who = await c!.server.kubectl(['--kubeconfig', tokenKubeconfig(token), 'auth', 'whoami', '-o', 'json'], { env: { KUBECONFIG: '' } });
    t.is(who.code, 0, who.stderr);
    const info = (JSON.parse(who.stdout) as Json).status.userInfo;
    t.is(info.username, 'system:serviceaccount:sa-e2e:default');
    t.deepEqual(info.extra['authentication.kubernetes.io/pod-name'], ['client']);

    // The kubernetes Service leads to the API server from inside the pod. busybox's wget cannot
    // speak TLS to it (it crashes on the EC certificate), so the pod checks the connection and the
    // test process checks the pod's token against the API server.
    t.regex(await exec('nc -w 5 $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT </dev/null && echo reached'), /reached/);
    await k(['-n', 'sa-e2e', 'delete', 'pod', 'client', '--grace-period=1']);
    const after = await c!.server.kubectl(['--kubeconfig', tokenKubeconfig(token), 'get', 'pods'], { env: { KUBECONFIG: '' } });
    t.regex(after.stderr, /Unauthorized/);
  });
}
