// The `skiff` command line (DESIGN §3). Each subcommand parses its flags (each with an environment
// twin) and runs; bad usage is one line on stderr and exit code 2.
import { parseFlags, usage, UsageError, type FlagSpec } from './flags.js';
import { runServer, serverFlags } from './server.js';
import { readKubeconfig } from './kubeconfig.js';
import { controllerManagerFlags, runControllerManager } from './controller-manager.js';
import { agentFlags, runAgent } from './agent.js';
import { schedulerFlags, runScheduler } from './scheduler.js';
import { upFlags, runUp } from './up.js';
import { imagesFlags, runImages } from './images.js';
import { simulateFlags, runSimulate } from './simulate.js';
import { tokenFlags, runToken } from './token.js';
import { resetFlags, runReset } from './reset.js';
import { setRootLogger } from '../pkg/log/logger.js';
import { pino } from 'pino';

interface Command {
  summary: string;
  flags: FlagSpec[];
  run?: (values: Record<string, unknown>, positional: string[]) => Promise<void> | void;
  /** the issue that brings it, for commands not in this build yet */
  pending?: string;
  /** takes positional arguments (a subcommand) */
  args?: boolean;
}

const commands: Record<string, Command> = {
  server: { summary: 'Run the control plane (API server on embedded storage).', flags: serverFlags, run: (v) => runServer(v as never) },
  kubeconfig: {
    summary: 'Print the admin kubeconfig of a server.',
    flags: [{ name: 'data-dir', type: 'string', default: '/var/lib/skiff', help: 'the server\'s data dir' }],
    run: (v) => {
      process.stdout.write(readKubeconfig(String(v['data-dir'])));
    },
  },
  agent: { summary: 'Run a node agent: real containers (conmon + crun or runc) as root, or --runtime simulated.', flags: agentFlags, run: (v) => runAgent(v as never) },
  up: { summary: 'Server + apply manifests + re-apply on change.', flags: upFlags, run: (v) => runUp(v as never) },
  'controller-manager': { summary: 'Run the controllers alone against a server.', flags: controllerManagerFlags, run: (v) => runControllerManager(v as never) },
  scheduler: { summary: 'Run the scheduler alone against a server.', flags: schedulerFlags, run: (v) => runScheduler(v as never) },
  images: { summary: "Manage the node's image store: import PATH | list | rm REF.", flags: imagesFlags, args: true, run: (v, p) => runImages(v as never, p) },
  token: { summary: 'Create a bootstrap token for joining nodes (skiff token create).', flags: tokenFlags, args: true, run: (v, p) => runToken(v as never, p) },
  reset: { summary: 'Tear this node down: pods, containers, network devices and tables, cgroups, mounts (--purge: the data dir too).', flags: resetFlags, run: (v) => runReset(v as never) },
  simulate: { summary: 'Run N hollow nodes (simulated runtime) in one process.', flags: simulateFlags, run: (v) => runSimulate(v as never) },
};

function topUsage(): string {
  const lines = ['skiff — a lightweight Kubernetes-style orchestrator', '', 'Usage: skiff <command> [flags]', '', 'Commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(20)} ${c.summary}${c.pending ? ' (not in this build yet)' : ''}`);
  lines.push('', 'Run `skiff <command> --help` for the flags of a command.');
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topUsage());
    return;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write('skiff 0.1.0 (Kubernetes API v1.32)\n');
    return;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command "${name}" (run \`skiff --help\`)`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(usage(name, cmd.summary, cmd.flags));
    return;
  }
  if (cmd.pending) throw new UsageError(`skiff ${name}: not available in this build yet (${cmd.pending} comes with its own issue)`);
  const { values, positional } = parseFlags(rest, [...cmd.flags, { name: 'log-level', type: 'string', help: 'log level' } as FlagSpec].filter((f, i, a) => a.findIndex((x) => x.name === f.name) === i));
  if (positional.length && !cmd.args) throw new UsageError(`skiff ${name}: unexpected argument "${positional[0]}"`);
  setRootLogger(pino({ level: String(values['log-level'] ?? 'info'), base: undefined }));
  await cmd.run!(values, positional);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`skiff: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`skiff: ${(err as Error)?.message ?? String(err)}\n`);
  process.exit(1);
});
