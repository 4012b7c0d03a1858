import { AwsError } from './errors.js'

/** EC2's `Filter.N.Name` / `Filter.N.Value.M`, as the models parse it. */
export interface Filter {
  Name?: string
  Values?: string[]
}

/**
 * How a resource answers one filter name: the value(s) it has for it, or undefined when the name
 * is not known for that resource type (the filter then fails with InvalidParameterValue, as EC2 does).
 */
export type FilterFields<T> = Record<string, (item: T) => unknown>

/**
 * EC2 filter semantics: filters AND together, the values of one filter OR together, `*` and `?`
 * are wildcards, a list-valued field matches when any element does. `tag:<key>` and `tag-key` /
 * `tag-value` work on any item whose `tags` accessor is given.
 */
export function matchFilters<T> (items: T[], filters: Filter[] | undefined, fields: FilterFields<T>, tags?: (item: T) => Array<{ Key?: string, Value?: string }>): T[] {
  if (filters === undefined || filters.length === 0) return items
  const tests = filters.map(f => compile(f, fields, tags))
  return items.filter(item => tests.every(test => test(item)))
}

function compile<T> (f: Filter, fields: FilterFields<T>, tags?: (item: T) => Array<{ Key?: string, Value?: string }>): (item: T) => boolean {
  const name = f.Name ?? ''
  const patterns = (f.Values ?? []).map(wildcard)
  const any = (values: unknown): boolean => flat(values).some(v => patterns.some(p => p.test(v)))
  if (tags !== undefined && name.startsWith('tag:')) {
    const key = name.slice(4)
    return item => any(tags(item).filter(t => t.Key === key).map(t => t.Value ?? ''))
  }
  if (tags !== undefined && name === 'tag-key') return item => any(tags(item).map(t => t.Key ?? ''))
  if (tags !== undefined && name === 'tag-value') return item => any(tags(item).map(t => t.Value ?? ''))
  const field = fields[name]
  if (field === undefined) throw new AwsError('InvalidParameterValue', `The filter '${name}' is invalid`, 400)
  return item => any(field(item))
}

function flat (v: unknown): string[] {
  if (v === undefined || v === null) return []
  if (Array.isArray(v)) return v.flatMap(flat)
  return [String(v)]
}

function wildcard (pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '\\' && i + 1 < pattern.length) re += escape(pattern[++i])
    else if (c === '*') re += '.*'
    else if (c === '?') re += '.'
    else re += escape(c)
  }
  return new RegExp(`^${re}$`, 's')
}

function escape (c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
