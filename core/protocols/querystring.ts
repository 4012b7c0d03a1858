/**
 * application/x-www-form-urlencoded, as query strings and query-protocol bodies carry it: pairs
 * joined by '&', name and value split at the first '=', '+' meaning a space, %XX escapes of UTF-8.
 */
import { ProtocolErrors } from './errors.js'

function decodeFormComponent (s: string): string {
  if (s.includes('+')) s = s.replaceAll('+', ' ')
  if (!s.includes('%')) return s
  try {
    return decodeURIComponent(s)
  } catch {
    throw ProtocolErrors.malformedQueryString(`invalid percent-encoding in '${s.slice(0, 64)}'`)
  }
}

/** Decoded pairs in order; a name without '=' has the value ''. Empty pieces ('a&&b') are skipped. */
export function formPairs (raw: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = []
  if (raw === '') return pairs
  for (const piece of raw.split('&')) {
    if (piece === '') continue
    const eq = piece.indexOf('=')
    pairs.push(eq === -1
      ? [decodeFormComponent(piece), '']
      : [decodeFormComponent(piece.slice(0, eq)), decodeFormComponent(piece.slice(eq + 1))])
  }
  return pairs
}

/** name → every value given for it, for REST query strings where lists repeat the name. */
export function formValues (raw: string): Map<string, string[]> {
  const values = new Map<string, string[]>()
  for (const [name, value] of formPairs(raw)) {
    const list = values.get(name)
    if (list === undefined) values.set(name, [value])
    else list.push(value)
  }
  return values
}
