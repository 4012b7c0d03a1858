import type { JetStreamClient, JetStreamManager, KV } from 'nats'
import { decode, encode } from './codec.js'
import { CoreErrors } from './errors.js'
import { inParallel } from './parallel.js'

/** A value read from the store with the revision a compare-and-set update must name. */
export interface Versioned<T> {
  value: T
  revision: number
}

/** Thrown when a compare-and-set lost a race: somebody wrote the key since it was read. */
export class RevisionConflict extends Error {
  constructor (readonly key: string) {
    super(`revision conflict on ${key}`)
    this.name = 'RevisionConflict'
  }
}

export interface BucketOptions {
  /** Entries expire this long after their last write (0: never). */
  ttlMs?: number
}

/**
 * Reads a listing keeps in flight. The subject index also names every key ever deleted (its delete
 * marker stays), so a listing reads those too: bounded, a bucket with a long past does not flood the
 * server with requests at once.
 */
const LIST_READS_IN_FLIGHT = 64

/**
 * One JetStream KV bucket of JSON values. All control-plane state goes through here so every
 * write is either a blind put or a compare-and-set on the revision it read.
 */
export class Bucket<T> {
  constructor (private readonly kv: KV, private readonly jsm: JetStreamManager, readonly name: string) {}

  async get (key: string): Promise<Versioned<T> | undefined> {
    const e = await this.kv.get(key)
    if (e === null || e.operation !== 'PUT' || e.value.length === 0) return undefined
    return { value: decode(e.value) as T, revision: e.revision }
  }

  async put (key: string, value: T): Promise<number> {
    return await this.kv.put(key, encode(value))
  }

  /** Writes only if the key does not exist; false when it does. */
  async create (key: string, value: T): Promise<number | undefined> {
    try {
      return await this.kv.create(key, encode(value))
    } catch (e) {
      if (isWrongSequence(e)) return undefined
      throw e
    }
  }

  /** Compare-and-set: writes only if the key is still at `revision`. */
  async update (key: string, value: T, revision: number): Promise<number> {
    try {
      return await this.kv.update(key, encode(value), revision)
    } catch (e) {
      if (isWrongSequence(e)) throw new RevisionConflict(key)
      throw e
    }
  }

  /**
   * Read-modify-write with retries on conflict, backing off with jitter so contending writers spread
   * out. `fn` gets the current value (undefined when absent) and returns the new one, or undefined to
   * leave the key alone. Still losing after `attempts` → ServiceUnavailable, which clients retry.
   */
  async modify (key: string, fn: (current: T | undefined) => T | undefined, attempts = 50): Promise<T | undefined> {
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await new Promise(resolve => setTimeout(resolve, Math.random() * Math.min(50, 2 ** i)))
      const cur = await this.get(key)
      const next = fn(cur?.value)
      if (next === undefined) return cur?.value
      try {
        if (cur === undefined) {
          if (await this.create(key, next) !== undefined) return next
        } else {
          await this.update(key, next, cur.revision)
          return next
        }
      } catch (e) {
        if (!(e instanceof RevisionConflict)) throw e
      }
    }
    throw CoreErrors.contention(key)
  }

  /** Deletes the key; with `revision`, only if it is still at that revision (else RevisionConflict). */
  async delete (key: string, revision?: number): Promise<void> {
    try {
      await this.kv.delete(key, revision === undefined ? undefined : { previousSeq: revision })
    } catch (e) {
      if (revision !== undefined && isWrongSequence(e)) throw new RevisionConflict(key)
      throw e
    }
  }

  /**
   * Keys, optionally those under a dotted prefix (`'vol.'` matches `vol.>`), of live entries.
   *
   * Read from the stream's subject index in one request rather than with nats.js `kv.keys()`: its
   * ordered consumer waits for a message with no more pending, and a key rewritten while it runs
   * can leave it waiting for good (seen as describes hanging while an import task changed state).
   * The index also names keys whose last entry is a delete marker, so each key is read back. A
   * bucket of more than 100k keys (nats-server's page) is listed in pages that are not one snapshot:
   * a key created meanwhile can shift another across a page boundary, out of the listing.
   */
  async keys (prefix = ''): Promise<string[]> {
    return (await this.list(prefix)).map(e => e.key)
  }

  /** The revision of the bucket's last write (0 when never written): what a watcher must reach to be current. */
  async lastRevision (): Promise<number> {
    const status = await this.kv.status()
    return status.streamInfo.state.last_seq
  }

  /**
   * Calls `onEntry` for every write from revision `fromRevision` on (1: the whole bucket's latest
   * values), in revision order, and then for each new one as it happens; a delete comes with
   * `value` undefined. Returns the function that stops watching.
   */
  async watch (fromRevision: number, onEntry: (key: string, value: T | undefined, revision: number) => void): Promise<() => void> {
    const it = await this.kv.watch(fromRevision > 1 ? { key: '>', resumeFromRevision: fromRevision } : { key: '>' })
    ;(async () => {
      for await (const e of it) {
        onEntry(e.key, e.operation === 'PUT' && e.value.length > 0 ? decode(e.value) as T : undefined, e.revision)
      }
    })().catch(() => {
      // The watch ended with the connection (shutdown); a watcher that must know asks lastRevision.
    })
    return () => { it.stop() }
  }

  /** Every live entry, sorted by key. */
  async list (prefix = ''): Promise<Array<{ key: string } & Versioned<T>>> {
    const under = prefix === '' ? '>' : `${prefix.replace(/\.$/, '')}.>`
    const info = await this.jsm.streams.info(`KV_${this.name}`, { subjects_filter: `$KV.${this.name}.${under}` })
    const keys = Object.keys(info.state.subjects ?? {}).map(subject => subject.slice(`$KV.${this.name}.`.length)).sort()
    const entries = new Array<Versioned<T> | undefined>(keys.length)
    await inParallel(keys.length, LIST_READS_IN_FLIGHT, async i => { entries[i] = await this.get(keys[i]) })
    return keys.flatMap((key, i) => {
      const entry = entries[i]
      return entry === undefined ? [] : [{ key, ...entry }]
    })
  }
}

/** Opens (creating when missing) the KV buckets of one NATS connection. */
export class KvStore {
  private readonly open = new Map<string, Promise<Bucket<unknown>>>()
  private manager: Promise<JetStreamManager> | undefined

  constructor (private readonly js: JetStreamClient, private readonly replicas = 1) {}

  bucket<T> (name: string, opts: BucketOptions = {}): Promise<Bucket<T>> {
    let b = this.open.get(name)
    if (b === undefined) {
      const manager = this.manager ??= this.js.jetstreamManager()
      manager.catch(() => { if (this.manager === manager) this.manager = undefined })
      b = Promise.all([this.js.views.kv(name, { history: 1, replicas: this.replicas, ttl: opts.ttlMs ?? 0 }), manager])
        .then(([kv, jsm]) => new Bucket<unknown>(kv, jsm, name))
      b.catch(() => this.open.delete(name))
      this.open.set(name, b)
    }
    return b as Promise<Bucket<T>>
  }
}

function isWrongSequence (e: unknown): boolean {
  const msg = e instanceof Error ? e.message : String(e)
  return /wrong last sequence|key exists/i.test(msg)
}
