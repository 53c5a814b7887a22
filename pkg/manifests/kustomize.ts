// Rendering a kustomization with the kustomize that kubectl embeds (`kubectl kustomize DIR`), so
// skiff needs no kustomize of its own and renders exactly what `kubectl apply -k` would.
import { execFile } from 'node:child_process';

export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

export function kustomize(dir: string, kubectl = process.env.SKIFF_KUBECTL ?? 'kubectl'): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(kubectl, ['kustomize', dir], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ENOENT') reject(new Error(`${kubectl} not found: kustomize folders are rendered with \`kubectl kustomize\``));
        else reject(new Error(String(stderr).trim().split('\n').pop() || e.message));
        return;
      }
      resolve(String(stdout));
    });
  });
}
