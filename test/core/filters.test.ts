import t from 'tap'
import { matchFilters } from '../../core/filters.js'

const items = [{ id: 'i-abc', type: 't3.micro', tags: [{ Key: 'Name', Value: 'web-1' }] }, { id: 'i-def', type: 'm5.large', tags: [] }]
const fields = { 'instance-id': (i: typeof items[0]) => i.id, 'instance-type': (i: typeof items[0]) => i.type }
const ids = (filters: Array<{ Name: string, Values: string[] }>): string[] => matchFilters(items, filters, fields, i => i.tags).map(i => i.id)

t.test('filters - * and ? wildcards, values OR, filters AND', async t => {
  t.same(ids([{ Name: 'instance-type', Values: ['t3.*'] }]), ['i-abc'])
  t.same(ids([{ Name: 'instance-type', Values: ['t3.micr?', 'm5.*'] }]), ['i-abc', 'i-def'])
  t.same(ids([{ Name: 'instance-type', Values: ['*'] }, { Name: 'instance-id', Values: ['i-d*'] }]), ['i-def'])
  t.same(ids([{ Name: 'instance-type', Values: ['t3\\*'] }]), [])
})

t.test('filters - tag:<key>, tag-key and tag-value', async t => {
  t.same(ids([{ Name: 'tag:Name', Values: ['web-*'] }]), ['i-abc'])
  t.same(ids([{ Name: 'tag-key', Values: ['Name'] }]), ['i-abc'])
  t.same(ids([{ Name: 'tag-value', Values: ['web-1'] }]), ['i-abc'])
})

t.test('filters - an unknown name → InvalidParameterValue, even one Object.prototype has', async t => {
  for (const name of ['bogus', 'hasOwnProperty', 'constructor', '__proto__']) {
    t.throws(() => ids([{ Name: name, Values: ['x'] }]), { code: 'InvalidParameterValue', message: `The filter '${name}' is invalid` })
  }
})

// A regex built from these wildcards would backtrack for hours here; the glob matcher finishes at once.
t.test('filters - a pathological pattern does not hang the node', async t => {
  const evil = { 'instance-id': () => 'a'.repeat(5000) + 'b' }
  t.same(matchFilters([1], [{ Name: 'instance-id', Values: ['*a*a*a*a*a*a*a*a*a*a*a*a*c'] }], evil), [])
})
