/**
 * Where shards go: the s3 members of the cluster and a rendezvous (highest-random-weight) hash over
 * them — consistent hashing without a ring to maintain: a stripe's targets are the members that
 * score highest for its key, so a member joining or leaving moves only the stripes it wins or held.
 *
 * Members, not live nodes: a node that is down keeps its place, its shards of new stripes are simply
 * not written (the write quorum decides whether the PUT succeeds), and heal writes them when it is
 * back. KV bucket:
 *   hive_s3_members   <nodeId> → MemberRecord, written by each s3 node at start; never expires
 *
 * A stripe of n shards goes to n distinct nodes when there are that many; with fewer nodes, to
 * distinct data directories of the best-scoring nodes; with fewer directories than shards, some
 * directory takes two shards (a single disk protects against a corrupt shard, not its own loss).
 */
import { createHash } from 'node:crypto'
import type { Bucket, KvStore } from '../../core/index.js'
import { kvBucketName } from '../../core/index.js'

export interface MemberRecord {
  nodeId: string
  /** How many shard directories the node has (--s3-dirs). */
  dirs: number
  /** ISO-8601. */
  joinedAt: string
}

/** `<nodeId>/<dir index>`: one place a shard can live. */
export type Target = string

export function target (nodeId: string, dir: number): Target {
  return `${nodeId}/${dir}`
}

export function parseTarget (t: Target): { nodeId: string, dir: number } {
  const slash = t.lastIndexOf('/')
  return { nodeId: t.slice(0, slash), dir: Number(t.slice(slash + 1)) }
}

/** Rendezvous weight of `who` for `key`: the first 8 bytes of SHA-1(key NUL who), compared big-endian. */
function score (key: string, who: string): Buffer {
  return createHash('sha1').update(`${key}\0${who}`).digest().subarray(0, 8)
}

/** Highest score first; equal scores keep their order (the sort is stable). */
function byScore<T> (items: T[], scoreOf: (item: T) => Buffer): T[] {
  if (items.length < 2) return items
  return items.map(item => ({ item, s: scoreOf(item) })).sort((a, b) => Buffer.compare(b.s, a.s)).map(x => x.item)
}

export class Ring {
  private members = new Map<string, MemberRecord>()
  private stop: (() => void) | undefined

  private constructor (private readonly bucket: Bucket<MemberRecord>) {}

  /** Joins this node to the s3 members and follows the membership. */
  static async join (kv: KvStore, self: MemberRecord): Promise<Ring> {
    const bucket = await kv.bucket<MemberRecord>(kvBucketName('s3', 'members'))
    const ring = new Ring(bucket)
    const current = await bucket.get(self.nodeId)
    if (current?.value.dirs !== self.dirs) await bucket.put(self.nodeId, { ...self, joinedAt: current?.value.joinedAt ?? self.joinedAt })
    for (const { value } of await bucket.list()) ring.members.set(value.nodeId, value)
    ring.stop = await bucket.watch(1, (key, value) => {
      if (value === undefined) ring.members.delete(key)
      else ring.members.set(key, value)
    })
    return ring
  }

  close (): void {
    this.stop?.()
  }

  get size (): number {
    return this.members.size
  }

  nodes (): MemberRecord[] {
    return [...this.members.values()]
  }

  /** The n targets of the stripe named `key`, in shard order. */
  place (key: string, n: number): Target[] {
    const nodes = byScore([...this.members.values()], m => score(key, m.nodeId))
    if (nodes.length === 0) throw new Error('no s3 members')
    const out: Target[] = []
    // Round r takes each node's r-th best directory: distinct nodes first, then distinct directories.
    const dirOrder = new Map(nodes.map(m => [m.nodeId, byScore(Array.from({ length: Math.max(1, m.dirs) }, (_, d) => d), d => score(key, `${m.nodeId}/${d}`))]))
    for (let round = 0; out.length < n; round++) {
      let added = false
      for (const m of nodes) {
        const dirs = dirOrder.get(m.nodeId) as number[]
        if (round >= dirs.length) continue
        out.push(target(m.nodeId, dirs[round]))
        added = true
        if (out.length === n) break
      }
      // Fewer directories than shards: start over, doubling up.
      if (!added) round = -1
    }
    return out
  }
}

/**
 * The erasure code for new blobs, followed as it changes. A code set with --s3-code (`explicit`)
 * is written for the whole cluster; without one the code follows the cluster's shape: RS(2,1) once
 * the members have three shard directories between them (three nodes, or one node with
 * --s3-dirs a,b,c), else 1+0 — one copy, its CRCs still checked, as a single disk can offer.
 */
export async function followClusterCode (kv: KvStore, ring: Ring, explicit: string | undefined): Promise<{ current: () => string, stop: () => void }> {
  const bucket = await kv.bucket<string>(kvBucketName('s3', 'config'))
  if (explicit !== undefined) await bucket.put('code', explicit)
  let set = (await bucket.get('code'))?.value
  const stop = await bucket.watch(1, (key, value) => { if (key === 'code') set = value })
  const byShape = (): string => ring.nodes().reduce((n, m) => n + Math.max(1, m.dirs), 0) >= 3 ? '2+1' : '1+0'
  return { current: () => set ?? byShape(), stop }
}
