// One pino logger per component, as DESIGN §10 asks. Level from the caller (cmd/ reads flags/env).
import { pino, type Logger } from 'pino';

let root: Logger | undefined;

export function setRootLogger(l: Logger): void {
  root = l;
}

export function rootLogger(): Logger {
  if (!root) root = pino({ level: process.env.SKIFF_LOG_LEVEL ?? 'info', base: undefined });
  return root;
}

export function logger(component: string): Logger {
  return rootLogger().child({ component });
}

export type { Logger };
