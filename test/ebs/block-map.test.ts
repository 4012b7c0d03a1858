import fc from 'fast-check'
import t from 'tap'
import { BlockMapError, changedUnits, extentsOf, lookup, mappedUnits, overlay, parseBlockMap, serializeBlockMap, UNMAPPED, type Extent } from '../../plugins/ebs/block-map.js'

type Model = Map<number, string>

function modelOf (map: Extent[]): Model {
  const m: Model = new Map()
  for (const e of map) for (let i = 0; i < e.count; i++) m.set(e.first + i, `${e.chunk}:${e.slot + i}`)
  return m
}

const patchArb = fc.array(fc.record({
  first: fc.integer({ min: 0, max: 300 }),
  count: fc.integer({ min: 1, max: 40 }),
  chunk: fc.integer({ min: -1, max: 5 })
}), { maxLength: 12 })

/** Applies patches one by one, each a contiguous run in a fresh chunk slot range (or UNMAPPED). */
function build (patches: Array<{ first: number, count: number, chunk: number }>): { map: Extent[], model: Model } {
  let map: Extent[] = []
  const model: Model = new Map()
  patches.forEach((p, n) => {
    const blocks = Array.from({ length: p.count }, (_, i) => p.first + i)
    const chunk = p.chunk === UNMAPPED ? UNMAPPED : p.chunk * 100 + n
    map = overlay(map, extentsOf(blocks, chunk, 7))
    for (const b of blocks) {
      if (chunk === UNMAPPED) model.delete(b)
      else model.set(b, `${chunk}:${7 + b - p.first}`)
    }
  })
  return { map, model }
}

t.test('overlay - agrees with a per-block model and keeps extents sorted, disjoint and merged', async t => {
  fc.assert(fc.property(patchArb, patches => {
    const { map, model } = build(patches)
    t.same(modelOf(map), model)
    for (let i = 1; i < map.length; i++) {
      const a = map[i - 1]
      const b = map[i]
      if (a.first + a.count > b.first) return false
      if (a.first + a.count === b.first && a.chunk === b.chunk && a.slot + a.count === b.slot) return false
    }
    return true
  }), { numRuns: 300 })
})

t.test('serialize/parse - round trip; a flipped byte is refused', async t => {
  const { map } = build([{ first: 5, count: 10, chunk: 1 }, { first: 100, count: 3, chunk: 2 }, { first: 7, count: 2, chunk: -1 }])
  const bytes = serializeBlockMap(map)
  t.same(parseBlockMap(bytes), map)
  bytes[20] ^= 1
  t.throws(() => parseBlockMap(bytes), BlockMapError)
  t.throws(() => parseBlockMap(Buffer.from('nope')), BlockMapError)
  t.same(parseBlockMap(serializeBlockMap([])), [])
})

t.test('lookup - clips extents to the range asked', async t => {
  const map: Extent[] = [{ first: 0, count: 10, slot: 0, chunk: 1 }, { first: 20, count: 10, slot: 50, chunk: 2 }]
  t.same(lookup(map, 5, 20), [{ first: 5, count: 5, slot: 5, chunk: 1 }, { first: 20, count: 5, slot: 50, chunk: 2 }])
  t.same(lookup(map, 10, 10), [])
})

t.test('changedUnits - exactly the groups where some block differs', async t => {
  fc.assert(fc.property(patchArb, patchArb, fc.integer({ min: 1, max: 64 }), (pa, pb, unit) => {
    const a = build(pa)
    const b = build([...pa, ...pb])
    const expected = new Set<number>()
    for (const k of new Set([...a.model.keys(), ...b.model.keys()])) if (a.model.get(k) !== b.model.get(k)) expected.add(Math.floor(k / unit))
    t.same(changedUnits(a.map, b.map, unit), [...expected].sort((x, y) => x - y))
  }), { numRuns: 200 })
})

t.test('mappedUnits - the groups holding a mapped block', async t => {
  t.same(mappedUnits([{ first: 3, count: 2, slot: 0, chunk: 1 }, { first: 127, count: 130, slot: 0, chunk: 2 }], 128), [0, 1, 2])
})
