// Service address allocation on update, through the real kubectl: a type change allocates what the
// new type needs (node ports, a cluster IP) and drops what only the old one needed, kept values stay
// put, and a node port the client picks must be free and in range — as a Kubernetes user sees it.
import test from 'ava';
import { startServer, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let srv: TestServer;

test.before(async () => {
  srv = await startServer({ args: ['--disable-controllers'] });
});

test.after.always(async () => {
  await srv?.stop();
});

async function k(args: string[], input?: string): Promise<string> {
  const r = await srv.kubectl(args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function svc(name: string): Promise<Json> {
  return JSON.parse(await k(['get', 'svc', name, '-o', 'json'])) as Json;
}

const service = (name: string, spec: string) => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec: ${spec}
`;

test.serial('ClusterIP -> NodePort allocates node ports; back to ClusterIP drops them; the cluster IP never moves', async (t) => {
  await k(['apply', '-f', '-'], service('flip', '{selector: {app: flip}, ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}'));
  const before = await svc('flip');
  t.truthy(before.spec.clusterIP);
  t.false(before.spec.ports.some((p: Json) => p.nodePort));

  await k(['patch', 'svc', 'flip', '-p', '{"spec":{"type":"NodePort"}}']);
  const np = await svc('flip');
  t.is(np.spec.clusterIP, before.spec.clusterIP);
  const ports = np.spec.ports.map((p: Json) => p.nodePort as number);
  t.is(ports.length, 2);
  for (const p of ports) t.true(p >= 30000 && p <= 32767, `node port ${p}`);
  t.not(ports[0], ports[1]);
  t.is(np.spec.externalTrafficPolicy, 'Cluster');
  t.regex(await k(['get', 'svc', 'flip']), new RegExp(`80:${ports[0]}/TCP,53:${ports[1]}/UDP`));

  // A full replace that omits the node ports keeps them (kubectl apply of the original file).
  await k(['apply', '-f', '-'], service('flip', '{type: NodePort, selector: {app: flip}, ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]}'));
  t.deepEqual((await svc('flip')).spec.ports.map((p: Json) => p.nodePort), ports);

  await k(['patch', 'svc', 'flip', '-p', '{"spec":{"type":"ClusterIP"}}']);
  const back = await svc('flip');
  t.is(back.spec.type, 'ClusterIP');
  t.is(back.spec.clusterIP, before.spec.clusterIP);
  t.false(back.spec.ports.some((p: Json) => p.nodePort), JSON.stringify(back.spec.ports));
  t.is(back.spec.externalTrafficPolicy, undefined);

  // The freed ports can be taken by another Service.
  await k(['apply', '-f', '-'], service('taker', `{type: NodePort, selector: {app: t}, ports: [{port: 80, nodePort: ${ports[0]}}]}`));
  t.is((await svc('taker')).spec.ports[0].nodePort, ports[0]);
});

test.serial('a node port picked on update must be free and in range; the error names the field', async (t) => {
  await k(['apply', '-f', '-'], service('held', '{type: NodePort, selector: {app: held}, ports: [{port: 80}]}'));
  const held = (await svc('held')).spec.ports[0].nodePort as number;
  await k(['apply', '-f', '-'], service('mover', '{type: NodePort, selector: {app: mover}, ports: [{port: 80}]}'));
  const mine = (await svc('mover')).spec.ports[0].nodePort as number;

  const taken = await srv.kubectl(['patch', 'svc', 'mover', '--type=json', '-p', `[{"op":"replace","path":"/spec/ports/0/nodePort","value":${held}}]`]);
  t.not(taken.code, 0);
  t.regex(taken.stderr, new RegExp(`spec\\.ports\\[0\\]\\.nodePort: Invalid value: ${held}: provided port is already allocated`));
  const range = await srv.kubectl(['patch', 'svc', 'mover', '--type=json', '-p', '[{"op":"replace","path":"/spec/ports/0/nodePort","value":8080}]']);
  t.not(range.code, 0);
  t.regex(range.stderr, /spec\.ports\[0\]\.nodePort: Invalid value: 8080: provided port is not in the valid range\. The range of valid ports is 30000-32767/);
  t.is((await svc('mover')).spec.ports[0].nodePort, mine, 'a refused update changes nothing');

  // A new port on a NodePort Service gets its own node port; the existing one stays.
  await k(['patch', 'svc', 'mover', '--type=json', '-p', '[{"op":"add","path":"/spec/ports/-","value":{"name":"b","port":81}},{"op":"add","path":"/spec/ports/0/name","value":"a"}]']);
  const two = (await svc('mover')).spec.ports as Json[];
  t.is(two[0]!.nodePort, mine);
  t.true(two[1]!.nodePort >= 30000 && two[1]!.nodePort !== mine && two[1]!.nodePort !== held);
});

test.serial('ExternalName <-> ClusterIP: the cluster IP is dropped and allocated again', async (t) => {
  await k(['apply', '-f', '-'], service('ext', '{selector: {app: ext}, ports: [{port: 80}]}'));
  const ip = (await svc('ext')).spec.clusterIP as string;
  await k(['patch', 'svc', 'ext', '-p', '{"spec":{"type":"ExternalName","externalName":"example.com"}}']);
  const ext = await svc('ext');
  t.is(ext.spec.type, 'ExternalName');
  t.is(ext.spec.clusterIP, undefined);
  t.regex(await k(['get', 'svc', 'ext']), /ExternalName\s+<none>\s+example\.com/);

  await k(['patch', 'svc', 'ext', '--type=json', '-p', '[{"op":"replace","path":"/spec/type","value":"ClusterIP"},{"op":"remove","path":"/spec/externalName"}]']);
  const again = await svc('ext');
  t.regex(again.spec.clusterIP, /^\d+\.\d+\.\d+\.\d+$/);
  t.deepEqual(again.spec.clusterIPs, [again.spec.clusterIP]);
  t.log(`cluster IP ${ip} before ExternalName, ${again.spec.clusterIP as string} after`);
});

test.serial('the cluster IP stays immutable on update', async (t) => {
  await k(['apply', '-f', '-'], service('fixed', '{selector: {app: fixed}, ports: [{port: 80}]}'));
  const r = await srv.kubectl(['patch', 'svc', 'fixed', '-p', '{"spec":{"clusterIP":"10.43.200.200","clusterIPs":["10.43.200.200"]}}']);
  t.not(r.code, 0);
  t.regex(r.stderr, /spec\.clusterIP.*field is immutable/);
});
