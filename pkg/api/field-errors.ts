// Constructors for FieldError in the wording Kubernetes uses, so kubectl users see familiar text.
import type { FieldError } from './types.js';

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'null';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s;
}

export const fieldErrors = {
  invalid(field: string, value: unknown, detail: string): FieldError {
    return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${show(value)}: ${detail}` };
  },
  required(field: string, detail = ''): FieldError {
    return { reason: 'FieldValueRequired', field, message: detail ? `Required value: ${detail}` : 'Required value' };
  },
  notSupported(field: string, value: unknown, valid: string[]): FieldError {
    return {
      reason: 'FieldValueNotSupported',
      field,
      message: `Unsupported value: ${show(value)}: supported values: ${valid.map((v) => JSON.stringify(v)).join(', ')}`,
    };
  },
  duplicate(field: string, value: unknown): FieldError {
    return { reason: 'FieldValueDuplicate', field, message: `Duplicate value: ${show(value)}` };
  },
  forbidden(field: string, detail: string): FieldError {
    return { reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` };
  },
  tooLong(field: string, value: unknown, max: number): FieldError {
    return { reason: 'FieldValueTooLong', field, message: `Too long: may not be more than ${max} bytes` };
  },
  typeInvalid(field: string, value: unknown, detail: string): FieldError {
    return { reason: 'FieldValueTypeInvalid', field, message: `Invalid value: ${show(value)}: ${detail}` };
  },
  immutable(field: string, value: unknown): FieldError {
    return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${show(value)}: field is immutable` };
  },
};
