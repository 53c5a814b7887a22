// Picks the runtime an agent runs with. Only the simulated runtime is in this build; asking for
// crun is a clear error rather than a runtime that pretends.
import { RuntimeNotAvailableError, RUNTIMES, type Runtime } from './runtime.js';
import { SimulatedRuntime, type SimulatedRuntimeOptions } from './simulated.js';

export function createRuntime(name: string, sim: SimulatedRuntimeOptions): Runtime {
  if (name === 'simulated') return new SimulatedRuntime(sim);
  if (name === 'crun') {
    throw new RuntimeNotAvailableError('runtime "crun" (conmon + crun) is not available in this build yet: use --runtime simulated');
  }
  throw new RuntimeNotAvailableError(`unknown runtime "${name}": choose one of ${RUNTIMES.join(', ')}`);
}
