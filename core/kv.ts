import { headers as natsHeaders, type JetStreamManager, type KV, type Msg, type MsgHdrs, type NatsConnection } from 'nats'
import { decode, encode } from './codec.js'
import { CoreErrors } from './errors.js'
import { inParallel } from './parallel.js'
import { Requester, type NoReply } from './requester.js'

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

/** How long a read or write waits for JetStream (nats.js's own default for its API). */
const KV_TIMEOUT_MS = 5_000

/** JetStream's error code for a write whose expected last sequence of the key no longer holds. */
const WRONG_LAST_SEQUENCE = 10071

const EMPTY = new Uint8Array(0)
const td = new TextDecoder()

/**
 * One JetStream KV bucket of JSON values. All control-plane state goes through here so every
 * write is either a blind put or a compare-and-set on the revision it read.
 *
 * Reads and writes — one or two per AWS request — are plain NATS requests on JetStream's own
 * subjects, through the node's Requester, rather than nats.js's KV methods, which cost several
 * times as much CPU per call (an Error object per request among it):
 *   read   `$JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>`, empty body: the key's last entry as
 *          stored (headers Nats-Sequence, and KV-Operation DEL|PURGE for a delete marker), or
 *          status 404 when the key was never written. Needs the stream's allow_direct, which
 *          nats.js sets on every bucket it creates on nats-server ≥ 2.9; a bucket without it is
 *          read through nats.js.
 *   write  `$KV.<bucket>.<key>`, the value as body (empty with KV-Operation: DEL for a delete),
 *          Nats-Expected-Last-Subject-Sequence for a compare-and-set (0: the key must not exist);
 *          the reply is JetStream's publish ack, `{"stream","seq"}` or `{"error":{"err_code",…}}`.
 */
export class Bucket<T> {
  private readonly prefix: string
  private readonly directPrefix: string | undefined

  constructor (private readonly kv: KV, private readonly jsm: JetStreamManager, private readonly requester: Requester, readonly name: string, direct: boolean) {
    this.prefix = `$KV.${name}.`
    this.directPrefix = direct ? `$JS.API.DIRECT.GET.KV_${name}.${this.prefix}` : undefined
  }

  async get (key: string): Promise<Versioned<T> | undefined> {
    const e = await this.last(key)
    return e === undefined || e.deleted || e.value.length === 0 ? undefined : { value: decode(e.value) as T, revision: e.revision }
  }

  async put (key: string, value: T): Promise<number> {
    return await this.write(key, encode(value))
  }

  /** Writes only if the key does not exist; false when it does. */
  async create (key: string, value: T): Promise<number | undefined> {
    const data = encode(value)
    try {
      return await this.write(key, data, 0)
    } catch (e) {
      if (!(e instanceof RevisionConflict)) throw e
    }
    // A deleted key keeps its delete marker as last entry: creating it again replaces the marker.
    const marker = await this.last(key)
    if (marker?.deleted !== true) return undefined
    try {
      return await this.write(key, data, marker.revision)
    } catch (e) {
      if (e instanceof RevisionConflict) return undefined
      throw e
    }
  }

  /** Compare-and-set: writes only if the key is still at `revision`. */
  async update (key: string, value: T, revision: number): Promise<number> {
    // 0 would mean "only if absent": that is create's.
    if (!(revision > 0)) throw new RangeError('revision must be greater than 0')
    return await this.write(key, encode(value), revision)
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
    await this.write(key, EMPTY, revision === 0 ? undefined : revision, 'DEL')
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

  /** One write; with `expected`, only if the key's last entry is at that revision (else RevisionConflict). */
  private async write (key: string, data: Uint8Array, expected?: number, operation?: 'DEL'): Promise<number> {
    checkKey(key)
    if (data.length > this.requester.maxPayload) throw new Error(`kv ${this.name}: ${key}: ${data.length} bytes exceed the server's max_payload`)
    let h: MsgHdrs | undefined
    if (expected !== undefined || operation !== undefined) {
      h = natsHeaders()
      if (expected !== undefined) h.set('Nats-Expected-Last-Subject-Sequence', String(expected))
      if (operation !== undefined) h.set('KV-Operation', operation)
    }
    const m = answered(await this.requester.request(this.prefix + key, data, KV_TIMEOUT_MS, h), this.name, key)
    if (m.headers?.code === 503) throw new Error(`kv ${this.name}: write of ${key}: JetStream is not available`)
    const ack = JSON.parse(td.decode(m.data)) as { seq?: number, error?: { err_code?: number, description?: string } }
    if (ack.error?.err_code === WRONG_LAST_SEQUENCE) throw new RevisionConflict(key)
    if (ack.error !== undefined || typeof ack.seq !== 'number') throw new Error(`kv ${this.name}: write of ${key}: ${ack.error?.description ?? 'no ack'}`)
    return ack.seq
  }

  /** The key's last entry, a value or a delete marker; undefined when the key was never written. */
  private async last (key: string): Promise<{ revision: number, value: Uint8Array, deleted: boolean } | undefined> {
    checkKey(key)
    if (this.directPrefix === undefined) {
      const e = await this.kv.get(key)
      return e === null ? undefined : { revision: e.revision, value: e.value, deleted: e.operation !== 'PUT' }
    }
    const m = answered(await this.requester.request(this.directPrefix + key, EMPTY, KV_TIMEOUT_MS), this.name, key)
    const status = m.headers?.code ?? 0
    if (status === 404) return undefined
    if (status !== 0) throw new Error(`kv ${this.name}: read of ${key}: ${status} ${m.headers?.description ?? ''}`)
    return { revision: Number(m.headers?.get('Nats-Sequence')), value: m.data, deleted: (m.headers?.get('KV-Operation') ?? '') !== '' }
  }
}

/** Opens (creating when missing) the KV buckets of one NATS connection. */
export class KvStore {
  private readonly open = new Map<string, Promise<Bucket<unknown>>>()
  private manager: Promise<JetStreamManager> | undefined

  private readonly requester: Requester

  constructor (private readonly nc: NatsConnection, private readonly replicas = 1) {
    this.requester = new Requester(nc)
  }

  bucket<T> (name: string, opts: BucketOptions = {}): Promise<Bucket<T>> {
    let b = this.open.get(name)
    if (b === undefined) {
      const manager = this.manager ??= this.nc.jetstreamManager()
      manager.catch(() => { if (this.manager === manager) this.manager = undefined })
      b = Promise.all([this.nc.jetstream().views.kv(name, { history: 1, replicas: this.replicas, ttl: opts.ttlMs ?? 0 }), manager])
        .then(async ([kv, jsm]) => {
          const { config } = await jsm.streams.info(`KV_${name}`)
          return new Bucket<unknown>(kv, jsm, this.requester, name, config.allow_direct === true)
        })
      b.catch(() => this.open.delete(name))
      this.open.set(name, b)
    }
    return b as Promise<Bucket<T>>
  }
}

/**
 * The keys JetStream KV allows (nats.js's own rule): on a raw subject anything else would be a
 * wildcard that reads another key, or break the protocol line the connection shares with the bus.
 */
const KEY = /^[-/=.\w]+$/

function checkKey (key: string): void {
  if (!KEY.test(key) || key.startsWith('.') || key.endsWith('.')) throw new Error(`invalid KV key '${key}'`)
}

function answered (reply: Msg | NoReply, bucket: string, key: string): Msg {
  if (reply === 'timeout') throw new Error(`kv ${bucket}: no answer for ${key} in time`)
  if (reply === 'lost') throw new Error(`kv ${bucket}: the request for ${key} was lost (the connection closed or refused it)`)
  return reply
}
