import { CoreErrors } from './errors.js'

/** EC2's `Filter.N.Name` / `Filter.N.Value.M`, as the models parse it. */
export interface Filter {
  Name?: string
  Values?: string[]
}

/**
 * How a resource answers one filter name: the value(s) it has for it. A name not in the table
 * fails with InvalidParameterValue, as EC2 does.
 */
export type FilterFields<T> = Record<string, (item: T) => unknown>

type Tags = Array<{ Key?: string, Value?: string }>

/**
 * EC2 filter semantics: filters AND together, the values of one filter OR together, `*` and `?`
 * are wildcards (`\` escapes them), a list-valued field matches when any element does. `tag:<key>`,
 * `tag-key` and `tag-value` work on any item whose `tags` accessor is given.
 */
export function matchFilters<T> (items: T[], filters: Filter[] | undefined, fields: FilterFields<T>, tags?: (item: T) => Tags): T[] {
  if (filters === undefined || filters.length === 0) return items
  const tests = filters.map(f => compile(f, fields, tags))
  return items.filter(item => tests.every(test => test(item)))
}

function compile<T> (f: Filter, fields: FilterFields<T>, tags?: (item: T) => Tags): (item: T) => boolean {
  const name = f.Name ?? ''
  const patterns = (f.Values ?? []).map(parsePattern)
  const any = (values: unknown): boolean => flat(values).some(v => patterns.some(p => globMatch(p, v)))
  if (tags !== undefined && name.startsWith('tag:')) {
    const key = name.slice(4)
    return item => any(tags(item).filter(t => t.Key === key).map(t => t.Value ?? ''))
  }
  if (tags !== undefined && name === 'tag-key') return item => any(tags(item).map(t => t.Key ?? ''))
  if (tags !== undefined && name === 'tag-value') return item => any(tags(item).map(t => t.Value ?? ''))
  if (!Object.hasOwn(fields, name)) throw CoreErrors.invalidFilter(name)
  const field = fields[name]
  return item => any(field(item))
}

function flat (v: unknown): string[] {
  if (v === undefined || v === null) return []
  if (Array.isArray(v)) return v.flatMap(flat)
  return [String(v)]
}

/** A pattern as tokens: a literal character, '?' (any one) or '*' (any run); runs of '*' fold into one. */
type Token = { lit: string } | '?' | '*'

function parsePattern (pattern: string): Token[] {
  const out: Token[] = []
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '\\' && i + 1 < pattern.length) out.push({ lit: pattern[++i] })
    else if (c === '*') { if (out[out.length - 1] !== '*') out.push('*') } else if (c === '?') out.push('?')
    else out.push({ lit: c })
  }
  return out
}

/**
 * Iterative glob match with single-star backtracking: linear in practice and never exponential,
 * whatever the pattern (a regex built from user wildcards can backtrack catastrophically).
 */
function globMatch (p: Token[], s: string): boolean {
  let pi = 0
  let si = 0
  let star = -1
  let mark = 0
  while (si < s.length) {
    const t = p[pi]
    if (t !== undefined && t !== '*' && (t === '?' || t.lit === s[si])) { pi++; si++ } else if (t === '*') { star = pi++; mark = si } else if (star !== -1) { pi = star + 1; si = ++mark } else return false
  }
  while (p[pi] === '*') pi++
  return pi === p.length
}
