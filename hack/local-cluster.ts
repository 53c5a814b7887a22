// `hack/local-cluster`: a multi-host skiff cluster on one machine (DESIGN §7), as root.
//
//   hack/local-cluster up --hosts N [--dir D] [--name TAG] [--server-arg A]... [--agent-arg A]...
//   hack/local-cluster kill|start|cut|heal HOST [--dir D]
//   hack/local-cluster status [--dir D]
//   hack/local-cluster down [--dir D]
//
// Design: `up` starts the server and the agents as detached processes (output in D/*.log), records
// their pids and the network layout in D/state.json, waits until every Node is Ready, and returns;
// the cluster keeps running without it. The other commands read D/state.json and act directly:
// kill = SIGKILL the agent + underlay link down, start = link up + a new detached agent, cut/heal =
// link down/up, down = delete pods through the API, stop everything, force-clean what is left. No
// supervisor process: nothing has to stay alive besides the cluster itself, and a state file
// survives the shell that started it. D defaults to $SKIFF_LOCAL_CLUSTER_DIR or
// /tmp/skiff-local-cluster; `down` removes D if `up` created it.
import { attachLocalCluster, describeLocalCluster, startLocalCluster } from '../test/helpers/local-cluster.js';

const USAGE = `usage: hack/local-cluster up --hosts N [--dir D] [--name TAG] [--server-arg A]... [--agent-arg A]...
       hack/local-cluster kill|start|cut|heal HOST [--dir D]
       hack/local-cluster status [--dir D]
       hack/local-cluster down [--dir D]`;

class Usage extends Error {}

interface Args {
  cmd: string;
  positional: string[];
  dir: string;
  hosts?: number;
  name?: string;
  serverArgs: string[];
  agentArgs: string[];
}

function parse(argv: string[]): Args {
  const a: Args = { cmd: argv[0] ?? '', positional: [], dir: process.env.SKIFF_LOCAL_CLUSTER_DIR || '/tmp/skiff-local-cluster', serverArgs: [], agentArgs: [] };
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const [flag, inline] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Usage(`${flag} needs a value`);
      return v;
    };
    if (flag === '--dir') a.dir = value();
    else if (flag === '--hosts') {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new Usage(`invalid value "${v}" for --hosts: a positive integer`);
      a.hosts = Number(v);
    } else if (flag === '--name') a.name = value();
    else if (flag === '--server-arg') a.serverArgs.push(value());
    else if (flag === '--agent-arg') a.agentArgs.push(value());
    else if (flag === '-h' || flag === '--help') a.cmd = 'help';
    else if (flag.startsWith('-')) throw new Usage(`unknown flag ${flag}`);
    else a.positional.push(arg);
  }
  return a;
}

async function main(argv: string[]): Promise<number> {
  const a = parse(argv);
  switch (a.cmd) {
    case 'up': {
      if (a.hosts === undefined) throw new Usage('up needs --hosts N');
      if (a.positional.length) throw new Usage(`unexpected argument ${a.positional[0]}`);
      const c = await startLocalCluster({ hosts: a.hosts, dir: a.dir, name: a.name, serverArgs: a.serverArgs, agentArgs: a.agentArgs });
      process.stdout.write(`${describeLocalCluster(c)}\n\nexport KUBECONFIG=${c.kubeconfig}\n`);
      return 0;
    }
    case 'kill':
    case 'start':
    case 'cut':
    case 'heal': {
      if (a.positional.length !== 1) throw new Usage(`${a.cmd} needs one HOST`);
      const c = attachLocalCluster(a.dir);
      await c[a.cmd](a.positional[0]!);
      return 0;
    }
    case 'status':
      process.stdout.write(`${describeLocalCluster(attachLocalCluster(a.dir))}\n`);
      return 0;
    case 'down': {
      const left = await attachLocalCluster(a.dir).down();
      for (const l of left) process.stderr.write(`forced: ${l}\n`);
      return 0;
    }
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new Usage(a.cmd ? `unknown command ${a.cmd}` : 'a command is needed');
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof Usage) {
      process.stderr.write(`local-cluster: ${e.message}\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`local-cluster: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
