import test from 'ava';
import { runTcpProbe } from '../../../kubelet/prober/real.js';
import { closedPort, container, tcpServer, waitFor } from './helpers.js';

const ctx = (ports?: { name?: string; containerPort: number }[]) => ({ podIP: '127.0.0.1', container: container({ ports }) });

test('an open port succeeds and the connection is closed again', async (t) => {
  const s = await tcpServer();
  t.teardown(() => s.close());
  let opened = 0;
  let closed = 0;
  s.server.on('connection', (sock) => {
    opened++;
    sock.on('close', () => closed++);
  });
  t.deepEqual(await runTcpProbe({ port: s.port }, ctx(), 5000), { result: 'success', message: '' });
  await waitFor(() => opened === 1 && closed === 1, 'probe connection to close');
  t.pass();
});

test('a closed port fails like Go says it', async (t) => {
  const port = await closedPort();
  t.deepEqual(await runTcpProbe({ port }, ctx(), 5000), {
    result: 'failure',
    message: `dial tcp 127.0.0.1:${port}: connect: connection refused`,
  });
});

test('host overrides the pod IP; named ports resolve; unknown names are errors', async (t) => {
  const s = await tcpServer();
  t.teardown(() => s.close());
  const c = { podIP: '192.0.2.1', container: container({ ports: [{ name: 'db', containerPort: s.port }] }) };
  t.is((await runTcpProbe({ host: '127.0.0.1', port: 'db' }, c, 5000)).result, 'success');
  t.deepEqual(await runTcpProbe({ host: '127.0.0.1', port: 'cache' }, c, 5000), { result: 'error', message: 'port cache not found' });
});
