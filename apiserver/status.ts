// API errors are Status objects (metav1.Status). Everything the apiserver rejects is a StatusError,
// so the HTTP layer turns it into the body kubectl knows how to print.
import type { FieldError } from '../pkg/api/types.js';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { reason?: string; message?: string; field?: string }[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): Status {
    const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code };
    if (this.details) s.details = this.details;
    return s;
  }
}

/** "deployments.apps" style qualified resource name used in messages. */
export function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const errors = {
  notFound(resource: string, group: string, name: string): StatusError {
    return new StatusError(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, group: group || undefined, kind: resource });
  },
  alreadyExists(resource: string, group: string, name: string): StatusError {
    return new StatusError(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, { name, group: group || undefined, kind: resource });
  },
  conflict(resource: string, group: string, name: string, why: string): StatusError {
    return new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`, {
      name,
      group: group || undefined,
      kind: resource,
    });
  },
  invalid(kind: string, group: string, name: string, causes: FieldError[]): StatusError {
    const list = causes.map((c) => `${c.field}: ${c.message}`);
    const msg = `${kind}${group ? '.' + group : ''} "${name}" is invalid: ${list.length === 1 ? list[0] : '[' + list.join(', ') + ']'}`;
    return new StatusError(422, 'Invalid', msg, { name, group: group || undefined, kind, causes });
  },
  badRequest(message: string, causes?: FieldError[]): StatusError {
    return new StatusError(400, 'BadRequest', message, causes ? { causes } : undefined);
  },
  gone(message: string): StatusError {
    return new StatusError(410, 'Expired', message);
  },
  unauthorized(): StatusError {
    return new StatusError(401, 'Unauthorized', 'Unauthorized');
  },
  forbidden(message: string): StatusError {
    return new StatusError(403, 'Forbidden', message);
  },
  methodNotAllowed(message: string): StatusError {
    return new StatusError(405, 'MethodNotAllowed', message);
  },
  notAcceptable(message: string): StatusError {
    return new StatusError(406, 'NotAcceptable', message);
  },
  tooLarge(limit: number): StatusError {
    return new StatusError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);
  },
  unsupportedMediaType(type: string): StatusError {
    return new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${type || 'none'})`);
  },
  notFoundPath(): StatusError {
    // Kubernetes sends empty details here, and kubectl reads them (kubectl debug dereferences
    // details.name to say ephemeral containers are not available).
    return new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
  },
  internal(message: string): StatusError {
    return new StatusError(500, 'InternalError', `Internal error occurred: ${message}`);
  },
  timeout(message: string): StatusError {
    return new StatusError(504, 'Timeout', message);
  },
};
