// The OCI runtime spec built from a Kubernetes container: pure, no host needed.
import test from 'ava';
import {
  buildSpec,
  containerCgroupPath,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  expandVars,
  milliCpuToQuota,
  milliCpuToShares,
  SpecError,
  type SpecInput,
} from '../../../kubelet/runtime/oci/spec.js';
import type { Container } from '../../../kubelet/runtime/runtime.js';

const pod = { metadata: { name: 'web-0', namespace: 'default', uid: 'uid-1' }, spec: {} as Record<string, unknown> };

function input(container: Partial<Container> & Record<string, unknown>, extra: Partial<SpecInput> = {}): SpecInput {
  return {
    pod,
    container: { name: 'app', ...container },
    image: { Entrypoint: ['/entry'], Cmd: ['default-arg'], Env: ['PATH=/bin', 'A=image'], WorkingDir: '/srv' },
    rootfs: '/var/lib/skiff/ctr/x/rootfs',
    netnsPath: '/run/netns/skiff-uid-1',
    cgroupsPath: containerCgroupPath('uid-1', 'cid'),
    ...extra,
  };
}

test('command and args follow Kubernetes over image Entrypoint and Cmd', (t) => {
  t.deepEqual(buildSpec(input({})).process.args, ['/entry', 'default-arg']);
  t.deepEqual(buildSpec(input({ args: ['x', 'y'] })).process.args, ['/entry', 'x', 'y']);
  t.deepEqual(buildSpec(input({ command: ['/bin/sh'] })).process.args, ['/bin/sh']);
  t.deepEqual(buildSpec(input({ command: ['/bin/sh'], args: ['-c', 'echo'] })).process.args, ['/bin/sh', '-c', 'echo']);
  t.throws(() => buildSpec(input({}, { image: {} })), { instanceOf: SpecError });
});

test('env: image env, then container env with $(VAR) expansion; PATH and HOSTNAME', (t) => {
  const spec = buildSpec(
    input({
      env: [
        { name: 'A', value: 'container' },
        { name: 'B', value: '$(A)-b' },
        { name: 'C', value: '$$(A) $(MISSING)' },
      ],
      command: ['echo', '$(B)'],
    }),
  );
  t.deepEqual(spec.process.env, ['PATH=/bin', 'A=container', 'HOSTNAME=web-0', 'B=container-b', 'C=$(A) $(MISSING)']);
  t.deepEqual(spec.process.args, ['echo', 'container-b']);
  const noPath = buildSpec(input({}, { image: { Cmd: ['x'] } }));
  t.true(noPath.process.env.some((e) => e.startsWith('PATH=/usr/local/sbin:')));
  t.throws(() => buildSpec(input({ env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] })), {
    message: /valueFrom must be resolved/,
  });
  const resolved = buildSpec(input({ env: [{ name: 'S', valueFrom: {} }] }, { env: [{ name: 'S', value: 'secret' }] }));
  t.true(resolved.process.env.includes('S=secret'));
});

test('expandVars keeps unknown references and unterminated ones', (t) => {
  const vars = new Map([['X', '1']]);
  t.is(expandVars('$(X)$(Y)$$(X)$(X', vars), '1$(Y)$(X)$(X');
  t.is(expandVars('a$b$', vars), 'a$b$');
});

test('cwd, user and hostname', (t) => {
  t.is(buildSpec(input({})).process.cwd, '/srv');
  t.is(buildSpec(input({ workingDir: '/work' })).process.cwd, '/work');
  t.is(buildSpec(input({}, { image: { Cmd: ['x'] } })).process.cwd, '/');
  t.deepEqual(buildSpec(input({})).process.user, { uid: 0, gid: 0 });
  t.deepEqual(buildSpec(input({}, { image: { Cmd: ['x'], User: '1000:2000' } })).process.user, { uid: 1000, gid: 2000 });
  t.deepEqual(buildSpec(input({ securityContext: { runAsUser: 5, runAsGroup: 6 } })).process.user, { uid: 5, gid: 6 });
  const podLevel = { ...pod, spec: { securityContext: { runAsUser: 7, supplementalGroups: [10, 11], fsGroup: 12 } } };
  t.deepEqual(buildSpec({ ...input({}), pod: podLevel }).process.user, { uid: 7, gid: 0, additionalGids: [10, 11, 12] });
  t.throws(() => buildSpec(input({}, { image: { Cmd: ['x'], User: 'nginx' } })), { message: /resolveImageUser/ });
  t.deepEqual(buildSpec(input({}, { image: { Cmd: ['x'], User: 'nginx' }, imageUser: { uid: 101, gid: 101 } })).process.user, { uid: 101, gid: 101 });
  t.throws(() => buildSpec(input({ securityContext: { runAsNonRoot: true } })), { message: /runAsNonRoot/ });
  const spec = buildSpec(input({}));
  t.is(spec.hostname, 'web-0');
  t.is(spec.root.path, '/var/lib/skiff/ctr/x/rootfs');
  t.false(spec.root.readonly);
});

test('namespaces: pid, mount, ipc, uts and the pod netns by path; hostNetwork shares the host', (t) => {
  const spec = buildSpec(input({}));
  t.deepEqual(spec.linux.namespaces, [
    { type: 'mount' },
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'network', path: '/run/netns/skiff-uid-1' },
  ]);
  const host = buildSpec({ ...input({}), pod: { ...pod, spec: { hostNetwork: true } } });
  t.deepEqual(host.linux.namespaces.map((n) => n.type), ['mount', 'pid', 'ipc']);
  t.is(host.hostname, undefined);
  t.throws(() => buildSpec(input({}, { netnsPath: undefined })), { message: /netnsPath/ });
  t.is(spec.linux.cgroupsPath, '/skiff/poduid-1/cid');
});

test('resources: memory limit, cpu shares from requests, quota from limits, pids', (t) => {
  const spec = buildSpec(input({ resources: { requests: { cpu: '250m', memory: '8Mi' }, limits: { cpu: '500m', memory: '16Mi' } } }, { pidsLimit: 100 }));
  t.deepEqual(spec.linux.resources.memory, { limit: 16 * 1024 * 1024 });
  t.deepEqual(spec.linux.resources.cpu, { shares: 256, quota: 50_000, period: 100_000 });
  t.deepEqual(spec.linux.resources.pids, { limit: 100 });
  const onlyLimit = buildSpec(input({ resources: { limits: { cpu: '2' } } }));
  t.deepEqual(onlyLimit.linux.resources.cpu, { shares: 2048, quota: 200_000, period: 100_000 });
  const none = buildSpec(input({}));
  t.deepEqual(none.linux.resources.cpu, { shares: 2 });
  t.is(none.linux.resources.memory, undefined);
  t.is(milliCpuToShares(1), 2);
  t.is(milliCpuToShares(1000), 1024);
  t.is(milliCpuToQuota(1), 1000);
  t.is(milliCpuToQuota(0), 0);
});

test('capabilities: the default 14, add and drop, ALL', (t) => {
  t.is(DEFAULT_CAPABILITIES.length, 14);
  const plain = buildSpec(input({}));
  t.deepEqual([...plain.process.capabilities.bounding].sort(), [...DEFAULT_CAPABILITIES].sort());
  t.deepEqual(plain.process.capabilities.effective, plain.process.capabilities.bounding);
  const changed = buildSpec(input({ securityContext: { capabilities: { add: ['NET_ADMIN'], drop: ['NET_RAW', 'CAP_MKNOD'] } } }));
  const caps = changed.process.capabilities.bounding;
  t.true(caps.includes('CAP_NET_ADMIN'));
  t.false(caps.includes('CAP_NET_RAW'));
  t.false(caps.includes('CAP_MKNOD'));
  t.is(caps.length, 13);
  const minimal = buildSpec(input({ securityContext: { capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } } }));
  t.deepEqual(minimal.process.capabilities.bounding, ['CAP_NET_BIND_SERVICE']);
});

test('privileged, readOnlyRootFilesystem, allowPrivilegeEscalation, masked and readonly paths', (t) => {
  const plain = buildSpec(input({}));
  t.deepEqual(plain.linux.maskedPaths, DEFAULT_MASKED_PATHS);
  t.deepEqual(plain.linux.readonlyPaths, DEFAULT_READONLY_PATHS);
  t.false(plain.process.noNewPrivileges);
  t.deepEqual(plain.linux.resources.devices![0], { allow: false, access: 'rwm' });
  t.true(plain.mounts.find((m) => m.destination === '/sys')!.options!.includes('ro'));

  const locked = buildSpec(input({ securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false } }));
  t.true(locked.root.readonly);
  t.true(locked.process.noNewPrivileges);

  const priv = buildSpec(input({ securityContext: { privileged: true } }));
  t.true(priv.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
  t.is(priv.linux.maskedPaths, undefined);
  t.is(priv.linux.readonlyPaths, undefined);
  t.deepEqual(priv.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  t.true(priv.mounts.find((m) => m.destination === '/sys')!.options!.includes('rw'));
});

test('mounts: the standard set, then the caller bind mounts; rlimits within the host hard limit', (t) => {
  const spec = buildSpec(
    input({}, {
      mounts: [
        { destination: '/etc/hosts', source: '/var/lib/skiff/pods/uid-1/hosts', readOnly: true },
        { destination: '/data', source: '/var/lib/skiff/pods/uid-1/volumes/data', propagation: 'HostToContainer' },
      ],
      nofileHard: 20000,
    }),
  );
  t.deepEqual(spec.mounts.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hosts', '/data']);
  t.deepEqual(spec.mounts[7], { destination: '/etc/hosts', type: 'bind', source: '/var/lib/skiff/pods/uid-1/hosts', options: ['rbind', 'rprivate', 'ro'] });
  t.deepEqual(spec.mounts[8].options, ['rbind', 'rslave', 'rw']);
  t.deepEqual(spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 1024 }]);
  t.is(spec.annotations!['io.kubernetes.pod.uid'], 'uid-1');
});

test('sysctls from the pod security context', (t) => {
  const spec = buildSpec({ ...input({}), pod: { ...pod, spec: { securityContext: { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] } } } });
  t.deepEqual(spec.linux.sysctl, { 'net.ipv4.ip_unprivileged_port_start': '0' });
});
