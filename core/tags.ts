/**
 * EC2 tags, for every resource of the cluster whichever capability owns it: the owner stores the
 * tags a Create* request's TagSpecifications give, reads them back for its Describe* filters and
 * drops them with the resource; the ec2 capability's CreateTags, DeleteTags and DescribeTags work
 * on the same store, and ask the owner whether a resource exists.
 *
 *   hive_tags            <accountId>.<resourceId> → Tag[] (JSON), in the order the keys were first
 *                        set. Tags belong to the account that set them: another account shown a
 *                        shared snapshot or image does not see its owner's tags. Every change is a
 *                        compare-and-set on the revision read; a resource without tags has no entry.
 *   tags.exists.<prefix> internal bus call (hive.int.tags.exists.<prefix>, bus.ts serveInternal),
 *                        served by the capability owning the resources whose ids are `<prefix>-…`
 *                        (serveTaggedResources). Request headers { accountId, resourceId }; reply
 *                        headers { exists: 'true' | 'false' }. No node serving the prefix: no such
 *                        resource exists.
 *
 * EC2's limits (EC2 User Guide, "Tag restrictions"): 50 tags a resource; keys of 1–128 and values
 * of 0–256 Unicode characters; keys starting with `aws:` are AWS's.
 */
import { NodeCallError, type Bus } from './bus.js'
import { AwsError, CoreErrors } from './errors.js'
import { RevisionConflict, type Bucket, type KvStore } from './kv.js'
import { TAGS_BUCKET } from './subjects.js'

export interface Tag { Key: string, Value: string }

export interface TagSpecification { ResourceType?: string, Tags?: Array<{ Key?: string, Value?: string }> }

export const MAX_TAGS = 50

const invalid = (message: string): AwsError => new AwsError('InvalidParameterValue', message, 400)

/** The errors of tag requests, with EC2's codes and messages. */
export const TagErrors = {
  limitExceeded: () =>
    new AwsError('TagLimitExceeded', 'The maximum number of Tags for a resource has been reached.', 400),
  resourceType: (type: string) => invalid(`'${type}' is not a valid taggable resource type for this operation.`),
  noResourceType: () => new AwsError('InvalidParameter', 'Tag specification resource type must have a value', 400),
  noTags: () => invalid('Tag specification must have at least one tag'),
  duplicateKey: (key: string) => invalid(`Duplicate tag key '${key}' specified.`),
  /** CreateTags and DeleteTags name the parameter; TagSpecifications only say why. */
  key: (key: string, reason: string, named: boolean) => invalid(named ? `Value ( ${key} ) for parameter key is invalid. ${reason}` : reason),
  value: (value: string, reason: string, named: boolean) => invalid(named ? `Value ( ${value} ) for parameter value is invalid. ${reason}` : reason)
} as const

const chars = (s: string): number => [...s].length

/**
 * Checks one tag as EC2 does; `named` for CreateTags/DeleteTags, whose messages name the parameter.
 * A missing Value is the empty string (CreateTags requires one: its caller checks that first).
 */
export function checkTag (t: { Key?: string, Value?: string }, named = false): Tag {
  const Key = t.Key ?? ''
  const Value = t.Value ?? ''
  if (Key === '') throw TagErrors.key(Key, 'Tag key cannot be null or empty.', named)
  if (chars(Key) > 128) throw TagErrors.key(Key, 'Tag keys must be at most 128 characters long.', named)
  if (Key.toLowerCase().startsWith('aws:')) throw TagErrors.key(Key, 'Tag keys starting with \'aws:\' are reserved for internal use', named)
  if (chars(Value) > 256) throw TagErrors.value(Value, 'Tag values must be at most 256 characters long.', named)
  return { Key, Value }
}

/**
 * Validates the TagSpecifications of a create call the way EC2 does and returns the tags they give
 * `resourceType` ('instance', 'volume', 'image', 'snapshot', 'key-pair', 'import-image-task' …).
 * `creates` lists every type the action tags (RunInstances: instance, volume, network-interface …);
 * a specification for any other type is InvalidParameterValue, one for another of `creates` is
 * left to the call for that type.
 */
export function tagsForResource (specs: TagSpecification[] | undefined, resourceType: string, creates: string[] = [resourceType]): Tag[] {
  const tags: Tag[] = []
  for (const spec of specs ?? []) {
    if (spec.ResourceType === undefined || spec.ResourceType === '') throw TagErrors.noResourceType()
    if (!creates.includes(spec.ResourceType)) throw TagErrors.resourceType(spec.ResourceType)
    if (spec.Tags === undefined || spec.Tags.length === 0) throw TagErrors.noTags()
    if (spec.ResourceType !== resourceType) continue
    for (const t of spec.Tags) {
      const tag = checkTag(t)
      if (tags.some(x => x.Key === tag.Key)) throw TagErrors.duplicateKey(tag.Key)
      tags.push(tag)
    }
  }
  if (tags.length > MAX_TAGS) throw TagErrors.limitExceeded()
  return tags
}

/** Tags of every resource of the cluster, in JetStream KV (hive_tags), keyed by account and resource id. */
export class TagStore {
  constructor (private readonly kv: KvStore) {}

  async get (accountId: string, resourceId: string): Promise<Tag[]> {
    return (await (await this.bucket()).get(entryKey(accountId, resourceId)))?.value ?? []
  }

  /** The tags of each of `resourceIds` (an empty list for one without tags). */
  async getMany (accountId: string, resourceIds: string[]): Promise<Map<string, Tag[]>> {
    const bucket = await this.bucket()
    const ids = [...new Set(resourceIds)]
    const got = await Promise.all(ids.map(async id => (await bucket.get(entryKey(accountId, id)))?.value ?? []))
    return new Map(ids.map((id, i) => [id, got[i]]))
  }

  /** Every tagged resource of the account with its tags, sorted by resource id. */
  async list (accountId: string): Promise<Array<{ resourceId: string, tags: Tag[] }>> {
    const entries = await (await this.bucket()).list(accountId)
    return entries.map(e => ({ resourceId: e.key.slice(accountId.length + 1), tags: e.value })).filter(e => e.tags.length > 0)
  }

  /**
   * CreateTags: adds the tags, overwriting the value of a key the resource already has.
   * TagLimitExceeded when the resource would have more than 50.
   */
  async put (accountId: string, resourceId: string, tags: Tag[]): Promise<void> {
    if (tags.length === 0) return
    await (await this.bucket()).modify(entryKey(accountId, resourceId), cur => {
      const next = [...(cur ?? [])]
      for (const t of tags) {
        const at = next.findIndex(x => x.Key === t.Key)
        if (at === -1) next.push({ Key: t.Key, Value: t.Value })
        else next[at] = { Key: t.Key, Value: t.Value }
      }
      if (next.length > MAX_TAGS) throw TagErrors.limitExceeded()
      return next
    })
  }

  /**
   * DeleteTags: removes each key named, only when its value matches if a Value is given (the empty
   * string matches only an empty value). No tags named: removes them all.
   */
  async remove (accountId: string, resourceId: string, tags: Array<{ Key: string, Value?: string }>): Promise<void> {
    const bucket = await this.bucket()
    const key = entryKey(accountId, resourceId)
    const drop = (t: Tag): boolean => tags.length === 0 || tags.some(r => r.Key === t.Key && (r.Value === undefined || r.Value === t.Value))
    await casLoop(key, async () => {
      const cur = await bucket.get(key)
      if (cur === undefined) return
      const next = cur.value.filter(t => !drop(t))
      if (next.length === cur.value.length) return
      if (next.length === 0) await bucket.delete(key, cur.revision)
      else await bucket.update(key, next, cur.revision)
    })
  }

  /** The resource was deleted: its tags go with it. */
  async drop (accountId: string, resourceId: string): Promise<void> {
    await (await this.bucket()).delete(entryKey(accountId, resourceId))
  }

  private async bucket (): Promise<Bucket<Tag[]>> {
    return await this.kv.bucket<Tag[]>(TAGS_BUCKET)
  }
}

const entryKey = (accountId: string, resourceId: string): string => `${accountId}.${resourceId}`

/** Retries `attempt` while it loses a compare-and-set race. */
async function casLoop (key: string, attempt: () => Promise<void>, attempts = 50): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise(resolve => setTimeout(resolve, Math.random() * Math.min(50, 2 ** i)))
    try {
      await attempt()
      return
    } catch (e) {
      if (!(e instanceof RevisionConflict)) throw e
    }
  }
  throw CoreErrors.contention(key)
}

/** The `<prefix>` of an EC2 id `<prefix>-<hex>` ('vol', 'import-ami' …). */
export function resourcePrefix (resourceId: string): string {
  const dash = resourceId.lastIndexOf('-')
  return dash === -1 ? '' : resourceId.slice(0, dash)
}

const existsCall = (prefix: string): string => `tags.exists.${prefix}`

/**
 * Serves the existence check CreateTags/DeleteTags make for resource ids with these prefixes
 * ('i', 'ami', 'vol', …) over the bus, so the ec2 capability can answer InvalidVolume.NotFound etc.
 * for resources another capability owns. `exists` answers for the caller's account.
 */
export function serveTaggedResources (bus: Bus, resources: Record<string, (accountId: string, resourceId: string) => Promise<boolean>>): void {
  for (const [prefix, exists] of Object.entries(resources)) {
    bus.serveInternal(existsCall(prefix), async msg => {
      const found = await exists(msg.headers?.accountId ?? '', msg.headers?.resourceId ?? '')
      return { data: new Uint8Array(0), headers: { exists: String(found) } }
    })
  }
}

/** Whether the account has the resource, as the capability that owns its kind answers; false when none serves it. */
export async function taggedResourceExists (bus: Pick<Bus, 'callInternal'>, accountId: string, resourceId: string): Promise<boolean> {
  try {
    const reply = await bus.callInternal(existsCall(resourcePrefix(resourceId)), { data: new Uint8Array(0), headers: { accountId, resourceId } }, 30_000)
    return reply.headers?.exists === 'true'
  } catch (e) {
    if (e instanceof NodeCallError && e.unreachable) return false
    throw e
  }
}
