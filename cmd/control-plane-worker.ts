// The controller manager and the scheduler of `skiff server`, run in a worker thread: they are
// API clients like any other (loopback HTTPS, admin token) and, on their own thread, use the
// second core instead of competing with the API server's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { ControllerManager } from '../controllers/manager.js';
import { controllerFactories } from '../controllers/index.js';
import { schedulerFactory, SCHEDULER_LEASE, type Strategy } from '../controllers/scheduler/index.js';
import type { ControllerOptions } from '../controllers/controller.js';
import { RestClient } from '../pkg/client/rest.js';
import { setRootLogger } from '../pkg/log/logger.js';

export interface ControlPlaneWorkerData {
  server: string;
  ca: string;
  token: string;
  logLevel: string;
  options: Partial<ControllerOptions>;
  strategy: Strategy;
}

const data = workerData as ControlPlaneWorkerData;
setRootLogger(pino({ level: data.logLevel, base: undefined }));
const client = new RestClient({ server: data.server, ca: data.ca, token: data.token, userAgent: 'skiff-controller-manager' });
const managers = [
  new ControllerManager(client, { leaseName: 'kube-controller-manager', factories: controllerFactories, options: data.options }),
  new ControllerManager(client, { leaseName: SCHEDULER_LEASE, factories: [schedulerFactory({ strategy: data.strategy })] }),
];
for (const m of managers) m.start();

parentPort!.on('message', (msg: unknown) => {
  if (msg !== 'stop') return;
  void Promise.all(managers.map((m) => m.stop())).finally(() => {
    client.close();
    parentPort!.postMessage('stopped');
    process.exit(0);
  });
});
