// Prefix queries become key ranges [prefix, end) so they can walk the (name, id) index instead of
// using LIKE, which SQLite cannot serve from an index with its default case-insensitive LIKE.

/**
 * The smallest string greater than every string starting with prefix, or undefined when there is
 * none (empty prefix, or a prefix of only U+FFFF). Increments by code point so that the bound
 * also holds in SQLite's UTF-8 byte order.
 */
export function prefixEnd(prefix: string): string | undefined {
  const points = Array.from(prefix);
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!;
    let next = last + 1;
    if (next >= 0xd800 && next <= 0xdfff) next = 0xe000;
    if (next <= 0x10ffff) return points.join('') + String.fromCodePoint(next);
  }
  return undefined;
}
