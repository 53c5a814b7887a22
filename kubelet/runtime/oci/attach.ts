// kubectl attach to a running container through conmon's attach socket. The socket is
// SOCK_SEQPACKET, which Node cannot open, so a few lines of Python (Debian's python3, in the
// node's packages) bridge it to pipes: packets from conmon carry their stream in the first byte
// (2 stdout, 3 stderr), and what is written to the socket is the container's stdin. Resizes go to
// conmon's control FIFO as "1 <rows> <cols>".
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { findExecutable } from './oci-binary.js';

const BRIDGE = `
import os, socket, sys, threading
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
def pump_in():
    while True:
        d = os.read(0, 8192)
        if not d:
            return
        s.sendall(d)
if sys.argv[2] == '1':
    threading.Thread(target=pump_in, daemon=True).start()
while True:
    d = s.recv(8193)
    if not d:
        break
    os.write(2 if d[0] == 3 else 1, d[1:])
`;

export class AttachError extends Error {}

export interface AttachHandle {
  child: ChildProcess;
  resize(rows: number, cols: number): Promise<void>;
}

function python(): string | undefined {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : findExecutable('python3');
}

export function spawnAttach(socketPath: string, controlFifo: string, withStdin: boolean): AttachHandle {
  const py = python();
  if (!py) throw new AttachError('attach needs python3 on the node (Debian: apt-get install python3)');
  if (!existsSync(socketPath)) throw new AttachError('the container has no attach socket (it is not running under conmon)');
  const child = spawn(py, ['-c', BRIDGE, socketPath, withStdin ? '1' : '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  return {
    child,
    resize: async (rows, cols) => {
      if (rows > 0 && cols > 0) await writeFile(controlFifo, `1 ${rows} ${cols}\n`);
    },
  };
}
