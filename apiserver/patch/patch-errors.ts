// The two ways a patch can be refused, as the Kubernetes apiserver answers them: a patch body that
// is not well-formed is a 400, a well-formed patch that cannot be applied to this object is a 422.
// kubectl prints details.causes for a 422 ("The request is invalid: <cause>"), so the explanation
// goes there as well as in the message.
import { StatusError, errors } from '../status.js';

export function malformedPatch(message: string): StatusError {
  return errors.badRequest(message);
}

export function unprocessablePatch(message: string): StatusError {
  return new StatusError(422, 'Invalid', message, { causes: [{ reason: 'UnexpectedServerResponse', message }] });
}
