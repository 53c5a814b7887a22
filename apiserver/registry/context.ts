// What one API request carries into the registry: who asks, with which write options.
import type { UserInfo } from '../auth/tokens.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface RequestContext {
  user: UserInfo;
  userAgent: string;
  now: Date;
  dryRun: boolean;
  fieldManager?: string;
  fieldValidation: FieldValidation;
  /** Warning headers to send back (already plain text; the HTTP layer quotes them) */
  warnings: string[];
}

/** The field manager Kubernetes records when the client names none: the user agent's program. */
export function managerOf(ctx: RequestContext): string {
  if (ctx.fieldManager) return ctx.fieldManager;
  const ua = ctx.userAgent || 'unknown';
  const slash = ua.indexOf('/');
  return (slash > 0 ? ua.slice(0, slash) : ua).slice(0, 128);
}
