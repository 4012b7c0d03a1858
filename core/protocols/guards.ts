/**
 * Defences against hostile input that no model describes.
 */

/**
 * Deeper than any AWS model nests (SSM's recursive inventory aggregators stop at 10), and shallow
 * enough that reading a recursive shape cannot exhaust the stack.
 */
export const MAX_DEPTH = 64

/**
 * Map entries come from the client, so a key may be `__proto__`: plain assignment would set the
 * object's prototype instead of adding an entry.
 */
export function setEntry (map: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true })
  else map[key] = value
}
