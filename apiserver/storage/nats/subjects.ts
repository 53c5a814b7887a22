// Keys become NATS subjects one-to-one. Kubernetes keys hold '.', which separates subject
// tokens, so the key is carried as one base64url token; base64url's alphabet is all legal in a
// subject and it never yields a 1-character token, so '_' can stand for the empty key.

export interface Subjects {
  /** every subject of the stream */
  all: string;
  /** the subject of compaction markers */
  compacted: string;
  forKey(key: string): string;
  /** the key of a write subject, or undefined for any other subject */
  keyOf(subject: string): string | undefined;
}

export function subjectsFor(root: string): Subjects {
  const keyPrefix = `${root}.k.`;
  return {
    all: `${root}.>`,
    compacted: `${root}.compacted`,
    forKey(key) {
      return keyPrefix + (key === '' ? '_' : Buffer.from(key, 'utf8').toString('base64url'));
    },
    keyOf(subject) {
      if (!subject.startsWith(keyPrefix)) return undefined;
      const token = subject.slice(keyPrefix.length);
      return token === '_' ? '' : Buffer.from(token, 'base64url').toString('utf8');
    },
  };
}
