// Claiming: a controller owns the objects its selector matches and that no other controller owns
// (adopting orphans), and lets go of the ones it owns that no longer match (release). Kubernetes'
// ControllerRefManager, over any kind with a merge-patchable metadata.
import type { KObject } from '../../pkg/api/types.js';
import type { LabelMatcher } from '../../pkg/api/labels.js';
import { isNotFound, type RestClient } from '../../pkg/client/rest.js';
import { adoptPatch, controllerRefOf, releasePatch, type OwnerKind } from './controller-ref.js';

export interface ClaimOptions {
  client: RestClient;
  owner: KObject;
  ownerKind: OwnerKind;
  matches: LabelMatcher;
  /** API path of one candidate object */
  pathOf(obj: KObject): string;
}

/**
 * Returns the candidates the owner controls after adoption and release. Failed adoptions are
 * left out (the caller requeues on the thrown error after the others were handled).
 */
export async function claimObjects<T extends KObject>(candidates: T[], o: ClaimOptions): Promise<T[]> {
  const claimed: T[] = [];
  const errors: unknown[] = [];
  const ownerDeleting = !!o.owner.metadata.deletionTimestamp;
  const work: Promise<void>[] = [];
  for (const obj of candidates) {
    const ref = controllerRefOf(obj);
    const labels = obj.metadata.labels;
    if (ref) {
      if (ref.uid !== o.owner.metadata.uid) continue;
      if (o.matches(labels)) {
        claimed.push(obj);
      } else if (!ownerDeleting) {
        work.push(
          o.client.patch(o.pathOf(obj), releasePatch(obj, o.owner), 'merge').then(
            () => undefined,
            (e) => {
              if (!isNotFound(e)) errors.push(e);
            },
          ),
        );
      }
      continue;
    }
    // An orphan: adopt it only if it matches, and neither side is on its way out.
    if (ownerDeleting || obj.metadata.deletionTimestamp || !o.matches(labels)) continue;
    work.push(
      o.client.patch<T>(o.pathOf(obj), adoptPatch(obj, o.owner, o.ownerKind), 'merge').then(
        (adopted) => void claimed.push(adopted),
        (e) => {
          if (!isNotFound(e)) errors.push(e);
        },
      ),
    );
  }
  await Promise.all(work);
  if (errors.length) throw errors[0];
  return claimed;
}
