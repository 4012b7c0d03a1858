/**
 * Block maps on the TS side: a volume's or snapshot's answer to "where do block b's bytes live".
 * The serialized form is the native block store's (format: native/src/block_map_format.h), so a
 * map exported by a volume is stored as a snapshot as it is, and a snapshot's map is imported into
 * a new volume as it is. Here maps are read, overlaid (snapshot = frozen map + the blocks that
 * were still dirty), compared (ListChangedBlocks) and mined for the chunks they reference (reclaim).
 */
import { crc32c } from '../../core/index.js'

/** Blocks [first, first + count) live at slots [slot, slot + count) of chunk `chunk`. */
export interface Extent {
  first: number
  count: number
  slot: number
  chunk: number
}

/** A patch extent: like Extent, or chunk UNMAPPED for blocks that read as zeros again. */
export const UNMAPPED = -1

const MAGIC = 0x4d425648 // 'HVBM' read as a little-endian u32
const HEADER = 16
const EXTENT = 24

export class BlockMapError extends Error {
  override name = 'BlockMapError'
}

export function parseBlockMap (buf: Uint8Array): Extent[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (b.length < HEADER + 4 || b.readUInt32LE(0) !== MAGIC) throw new BlockMapError('not a block map')
  if (b.readUInt32LE(4) !== 1) throw new BlockMapError(`block map version ${b.readUInt32LE(4)} is unknown`)
  const count = Number(b.readBigUInt64LE(8))
  if (b.length !== HEADER + count * EXTENT + 4) throw new BlockMapError('block map length does not match its extent count')
  if (crc32c(b.subarray(0, b.length - 4)) !== b.readUInt32LE(b.length - 4)) throw new BlockMapError('block map checksum mismatch')
  const out: Extent[] = new Array(count)
  for (let i = 0, o = HEADER; i < count; i++, o += EXTENT) {
    out[i] = { first: Number(b.readBigUInt64LE(o)), count: b.readUInt32LE(o + 8), slot: b.readUInt32LE(o + 12), chunk: Number(b.readBigUInt64LE(o + 16)) }
  }
  return out
}

export function serializeBlockMap (extents: Extent[]): Buffer {
  const merged = mergeAdjacent(extents)
  const b = Buffer.alloc(HEADER + merged.length * EXTENT + 4)
  b.writeUInt32LE(MAGIC, 0)
  b.writeUInt32LE(1, 4)
  b.writeBigUInt64LE(BigInt(merged.length), 8)
  let o = HEADER
  for (const e of merged) {
    b.writeBigUInt64LE(BigInt(e.first), o)
    b.writeUInt32LE(e.count, o + 8)
    b.writeUInt32LE(e.slot, o + 12)
    b.writeBigUInt64LE(BigInt(e.chunk), o + 16)
    o += EXTENT
  }
  b.writeUInt32LE(crc32c(b.subarray(0, o)), o)
  return b
}

export const EMPTY_MAP = serializeBlockMap([])

/** Extents for `blocks` (ascending) stored at slots 0… of `chunk` (or UNMAPPED ones). */
export function extentsOf (blocks: ArrayLike<number>, chunk: number, firstSlot = 0): Extent[] {
  const out: Extent[] = []
  for (let i = 0; i < blocks.length; i++) {
    const last = out[out.length - 1]
    if (last !== undefined && last.first + last.count === blocks[i] && (chunk === UNMAPPED || last.slot + last.count === firstSlot + i)) last.count++
    else out.push({ first: blocks[i], count: 1, slot: chunk === UNMAPPED ? 0 : firstSlot + i, chunk })
  }
  return out
}

/**
 * `base` with `patch` laid over it: where a patch extent covers a block, the patch wins
 * (UNMAPPED ones remove the block). Both sorted and non-overlapping; so is the result.
 */
export function overlay (base: Extent[], patch: Extent[]): Extent[] {
  const sortedPatch = [...patch].sort((a, b) => a.first - b.first)
  const out: Extent[] = []
  let p = 0
  for (const e of base) {
    let start = e.first
    const end = e.first + e.count
    while (p < sortedPatch.length && sortedPatch[p].first + sortedPatch[p].count <= start) p++
    for (let q = p; q < sortedPatch.length && sortedPatch[q].first < end; q++) {
      const cut = sortedPatch[q]
      if (cut.first > start) out.push({ first: start, count: cut.first - start, slot: e.slot + (start - e.first), chunk: e.chunk })
      start = Math.max(start, cut.first + cut.count)
    }
    if (start < end) out.push({ first: start, count: end - start, slot: e.slot + (start - e.first), chunk: e.chunk })
  }
  for (const e of sortedPatch) if (e.chunk !== UNMAPPED) out.push(e)
  return mergeAdjacent(out.sort((a, b) => a.first - b.first))
}

function mergeAdjacent (extents: Extent[]): Extent[] {
  const out: Extent[] = []
  for (const e of extents) {
    const last = out[out.length - 1]
    if (last !== undefined && last.first + last.count === e.first && last.chunk === e.chunk && last.slot + last.count === e.slot) last.count += e.count
    else out.push({ ...e })
  }
  return out
}

/** The extents of `map` clipped to blocks [first, first + count). */
export function lookup (map: Extent[], first: number, count: number): Extent[] {
  const end = first + count
  let lo = 0
  let hi = map.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (map[mid].first + map[mid].count <= first) lo = mid + 1
    else hi = mid
  }
  const out: Extent[] = []
  for (let i = lo; i < map.length && map[i].first < end; i++) {
    const e = map[i]
    const s = Math.max(first, e.first)
    const t = Math.min(end, e.first + e.count)
    out.push({ first: s, count: t - s, slot: e.slot + (s - e.first), chunk: e.chunk })
  }
  return out
}

/**
 * The indexes of the `unit`-block groups (e.g. 128 blocks: the EBS direct API's 512 KiB block)
 * in which maps `a` and `b` place some block differently; ascending.
 */
export function changedUnits (a: Extent[], b: Extent[], unit: number): number[] {
  const changed = new Set<number>()
  const mark = (from: number, to: number): void => {
    for (let u = Math.floor(from / unit); u * unit < to; u++) changed.add(u)
  }
  // Sweep the boundaries of both maps: between two consecutive boundaries each map is one
  // extent piece or nothing, so one comparison settles the whole interval.
  const points = new Set<number>()
  for (const e of a) { points.add(e.first); points.add(e.first + e.count) }
  for (const e of b) { points.add(e.first); points.add(e.first + e.count) }
  const sorted = [...points].sort((x, y) => x - y)
  let i = 0
  let j = 0
  for (let k = 0; k + 1 < sorted.length; k++) {
    const from = sorted[k]
    const to = sorted[k + 1]
    while (i < a.length && a[i].first + a[i].count <= from) i++
    while (j < b.length && b[j].first + b[j].count <= from) j++
    const ea = i < a.length && a[i].first <= from ? a[i] : undefined
    const eb = j < b.length && b[j].first <= from ? b[j] : undefined
    if (ea === undefined && eb === undefined) continue
    if (ea === undefined || eb === undefined || ea.chunk !== eb.chunk || ea.slot - ea.first !== eb.slot - eb.first) mark(from, to)
  }
  return [...changed].sort((x, y) => x - y)
}

/** The `unit`-block groups in which `map` places at least one block; ascending. */
export function mappedUnits (map: Extent[], unit: number): number[] {
  const out: number[] = []
  for (const e of map) {
    for (let u = Math.floor(e.first / unit); u * unit < e.first + e.count; u++) if (out[out.length - 1] !== u) out.push(u)
  }
  return out
}

export function chunksOf (map: Extent[], into = new Set<number>()): Set<number> {
  for (const e of map) into.add(e.chunk)
  return into
}
