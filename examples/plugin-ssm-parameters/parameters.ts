import { setTimeout as sleep } from 'node:timers/promises'
import { isAwsError, paginate, RevisionConflict, type ActionContext, type ActionHandler, type ActionInput, type ActionOutput, type Bucket, type RequestContext } from 'hive-cloud'
import { SsmErrors } from './errors.js'

/*
 * State: one JetStream KV bucket, hive_ssm_parameters (kvBucketName('ssm', 'parameters')), of
 * StoredParameter values. Parameters belong to an account and a region, as in AWS.
 *
 *   param.<account>.<region>.<level>…<level>              the current version of a parameter
 *   history.<account>.<region>.<level>…<level>.<version>  an earlier version, while among the last 100
 *
 * The levels are the name's hierarchy, one KV token each; a name without hierarchy is one level, and
 * '/db' is the same parameter as 'db', as AWS treats it. A '.' inside a level is written '=' (names
 * cannot contain '='), so keys keep to [-_=.a-zA-Z0-9] and no two names share a key:
 *
 *   '/Dev/db.host', account 111122223333, us-east-1 → param.111122223333.us-east-1.Dev.db=host
 *   its version 3, once superseded                  → history.111122223333.us-east-1.Dev.db=host.3
 *   'db' or '/db'                                   → param.111122223333.us-east-1.db
 *
 * Because levels are KV tokens, GetParametersByPath '/Dev' reads the keys under `param.…Dev.>`, never
 * the rest of the bucket; a one-level listing still reads the keys of the whole subtree and fetches
 * only the direct children. DescribeParameters reads every key of the account's region, or only a
 * subtree when it has one Path filter of one value.
 *
 * PutParameter reads the current version and its revision, copies it to its history key (a blind put
 * of an immutable version, so racing writers write the same bytes), then compare-and-sets the next
 * version on the revision it read; a writer that lost the race reads again and retries. Each write
 * that succeeds therefore adds exactly one to the version. Afterwards the version that fell out of
 * the last 100 is deleted; if that delete is lost the entry lingers unread, because reads only look
 * at the last 100 versions. DeleteParameter removes the current version, then its history: a name
 * reused within moments of its deletion may find old history written over its own (AWS asks for 30
 * seconds before a deleted name is reused).
 */

/** One version of a parameter, as kept in the bucket. */
export interface StoredParameter {
  Name: string
  Type: ParameterType
  Value: string
  Version: number
  LastModifiedDate: Date
  /** ARN of the principal that wrote this version. */
  LastModifiedUser: string
  /** Intelligent-Tiering is resolved when the version is written. */
  Tier: 'Standard' | 'Advanced'
  DataType: string
  Description?: string
  AllowedPattern?: string
  /** SecureString only; recorded, never used: values are stored as given, without KMS. */
  KeyId?: string
  /** Set on creation; kept by later versions. */
  Tags: Tag[]
}

type ParameterType = 'String' | 'StringList' | 'SecureString'
type ParameterTier = 'Standard' | 'Advanced' | 'Intelligent-Tiering'
interface Tag { Key: string, Value: string }
interface ParameterStringFilter { Key: string, Option?: string, Values?: string[] }

/* Inputs as the core delivers them: parsed and validated against the ssm model. */
type PutParameterRequest = {
  Name: string
  Value: string
  Description?: string
  Type?: ParameterType
  KeyId?: string
  Overwrite?: boolean
  AllowedPattern?: string
  Tags?: Tag[]
  Tier?: ParameterTier
  DataType?: string
}
type GetParameterRequest = { Name: string }
type GetParametersRequest = { Names: string[] }
type GetParametersByPathRequest = { Path: string, Recursive?: boolean, ParameterFilters?: ParameterStringFilter[], MaxResults?: number, NextToken?: string }
type DeleteParameterRequest = { Name: string }
type DescribeParametersRequest = {
  Filters?: Array<{ Key: 'Name' | 'Type' | 'KeyId', Values: string[] }>
  ParameterFilters?: ParameterStringFilter[]
  MaxResults?: number
  NextToken?: string
}

const MAX_VERSIONS = 100
const MAX_LEVELS = 15
/** AWS counts the ARN up to and including the name against this limit. */
const MAX_ARN_LENGTH = 1011
const MAX_STANDARD_VALUE = 4096
const MAX_ADVANCED_VALUE = 8192
const DEFAULT_KEY_ID = 'alias/aws/ssm'
const WRITE_ATTEMPTS = 50
const NAME_CHARS = /^[a-zA-Z0-9_.\-/]+$/

/** The plugin's actions, keyed by the ssm model's operation names. */
export function parameterActions (bucket: Bucket<StoredParameter>): Record<string, ActionHandler> {
  const store = new ParameterStore(bucket)
  return {
    PutParameter: action<PutParameterRequest>(async (input, ctx) => await putParameter(store, input, ctx)),
    GetParameter: action<GetParameterRequest>(async (input, ctx) => await getParameter(store, input, ctx)),
    GetParameters: action<GetParametersRequest>(async (input, ctx) => await getParameters(store, input, ctx)),
    GetParametersByPath: action<GetParametersByPathRequest>(async (input, ctx) => await getParametersByPath(store, input, ctx)),
    DeleteParameter: action<DeleteParameterRequest>(async (input, ctx) => await deleteParameter(store, input, ctx)),
    DescribeParameters: action<DescribeParametersRequest>(async (input, ctx) => await describeParameters(store, input, ctx))
  }
}

/** The core validated the input against the model, so its members have the model's types. */
function action<I extends ActionInput> (handler: (input: I, ctx: ActionContext) => Promise<ActionOutput>): ActionHandler {
  return async (input, ctx) => await handler(input as I, ctx)
}

async function putParameter (store: ParameterStore, input: PutParameterRequest, ctx: RequestContext): Promise<ActionOutput> {
  const name = parseNewName(input.Name, ctx)
  if (input.Overwrite === true && (input.Tags?.length ?? 0) > 0) throw SsmErrors.tagsWithOverwrite()
  if (input.Value === '') throw SsmErrors.emptyValue()
  if (input.DataType !== undefined) checkDataType(input.DataType)
  if (input.AllowedPattern !== undefined) compilePattern(input.AllowedPattern)
  const written = await store.write(ctx, name, current => {
    if (current !== undefined && input.Overwrite !== true) throw SsmErrors.parameterAlreadyExists()
    const type = input.Type ?? current?.Type
    if (type === undefined) throw SsmErrors.typeRequired()
    const allowedPattern = input.AllowedPattern ?? current?.AllowedPattern
    if (allowedPattern !== undefined && !compilePattern(allowedPattern).test(input.Value)) throw SsmErrors.parameterPatternMismatch(allowedPattern)
    return {
      Name: name.name,
      Type: type,
      Value: input.Value,
      Version: (current?.Version ?? 0) + 1,
      LastModifiedDate: new Date(),
      LastModifiedUser: ctx.principalArn,
      Tier: tierOf(input.Tier, current?.Tier, input.Value),
      DataType: input.DataType ?? current?.DataType ?? 'text',
      Description: input.Description ?? current?.Description,
      AllowedPattern: allowedPattern,
      KeyId: keyIdOf(type, input.KeyId, current),
      Tags: current?.Tags ?? input.Tags ?? []
    }
  })
  return { Version: written.Version, Tier: written.Tier }
}

async function getParameter (store: ParameterStore, input: GetParameterRequest, ctx: RequestContext): Promise<ActionOutput> {
  const ref = parseReference(input.Name)
  return { Parameter: parameterOf(await store.resolve(ctx, ref), ctx, ref.selector) }
}

async function getParameters (store: ParameterStore, input: GetParametersRequest, ctx: RequestContext): Promise<ActionOutput> {
  const names = [...new Set(input.Names)]
  const refs = names.map(parseReference)
  const found = await Promise.all(refs.map(async ref => await store.resolve(ctx, ref).catch(undefinedIfMissing)))
  return {
    Parameters: refs.flatMap((ref, i) => {
      const p = found[i]
      return p === undefined ? [] : [parameterOf(p, ctx, ref.selector)]
    }),
    InvalidParameters: names.filter((_, i) => found[i] === undefined)
  }
}

async function getParametersByPath (store: ParameterStore, input: GetParametersByPathRequest, ctx: RequestContext): Promise<ActionOutput> {
  const path = parsePath(input.Path)
  const filters = checkFilters(input.ParameterFilters ?? [], BY_PATH_FILTERS)
  const found = (await store.under(ctx, path, input.Recursive === true)).filter(p => filters.every(f => matches(p, f)))
  const page = paginate(found, input, { pageSize: 10, invalidTokenCode: 'InvalidNextToken' }, p => p.Name)
  return { Parameters: page.items.map(p => parameterOf(p, ctx)), NextToken: page.nextToken }
}

async function deleteParameter (store: ParameterStore, input: DeleteParameterRequest, ctx: RequestContext): Promise<ActionOutput> {
  const name = parseName(input.Name)
  if (!await store.remove(ctx, name)) throw SsmErrors.parameterNotFound(name.name)
  return {}
}

async function describeParameters (store: ParameterStore, input: DescribeParametersRequest, ctx: RequestContext): Promise<ActionOutput> {
  const legacy = input.Filters ?? []
  const given = input.ParameterFilters ?? []
  if (legacy.length > 0 && given.length > 0) throw SsmErrors.filtersAndParameterFilters()
  const filters = legacy.length > 0
    ? legacy.map(f => ({ Key: f.Key, Option: f.Key === 'Name' ? 'BeginsWith' : 'Equals', Values: f.Values }))
    : checkFilters(given, DESCRIBE_FILTERS)
  const pathFilter = filters.find(f => f.Key === 'Path')
  const scope = pathFilter?.Values.length === 1 ? parsePath(pathFilter.Values[0]) : []
  const found = (await store.under(ctx, scope, true)).filter(p => filters.every(f => matches(p, f)))
  const page = paginate(found, input, { pageSize: 10, invalidTokenCode: 'InvalidNextToken' }, p => p.Name)
  return { Parameters: page.items.map(metadataOf), NextToken: page.nextToken }
}

/** The bucket, in the key format described at the top of this file. */
class ParameterStore {
  constructor (private readonly bucket: Bucket<StoredParameter>) {}

  /** The version a reference names, or the error AWS answers when there is none. */
  async resolve (ctx: RequestContext, ref: ParameterReference): Promise<StoredParameter> {
    const current = (await this.bucket.get(currentKey(ctx, ref.levels)))?.value
    if (current === undefined) throw SsmErrors.parameterNotFound(ref.name)
    if (ref.label !== undefined) throw SsmErrors.parameterLabelNotFound(ref.name, ref.label)
    if (ref.version === undefined || ref.version === current.Version) return current
    const kept = ref.version >= 1 && ref.version < current.Version && ref.version > current.Version - MAX_VERSIONS
    const earlier = kept ? (await this.bucket.get(historyKey(ctx, ref.levels, ref.version)))?.value : undefined
    if (earlier === undefined) throw SsmErrors.parameterVersionNotFound(ref.name, ref.version)
    return earlier
  }

  /** The parameters below a path (all of them, or only its direct children), sorted by name. */
  async under (ctx: RequestContext, path: string[], recursive: boolean): Promise<StoredParameter[]> {
    const prefix = currentKey(ctx, path)
    const childTokens = prefix.split('.').length + 1
    const keys = (await this.bucket.keys(prefix)).filter(k => recursive || k.split('.').length === childTokens)
    const found = await Promise.all(keys.map(async k => (await this.bucket.get(k))?.value))
    return found.filter((p): p is StoredParameter => p !== undefined).sort((a, b) => a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0)
  }

  /**
   * Writes the next version by compare-and-set. `next` builds it from the current version (undefined
   * when there is none) or throws to refuse the write; it runs again after every lost race.
   */
  async write (ctx: RequestContext, name: ParameterName, next: (current: StoredParameter | undefined) => StoredParameter): Promise<StoredParameter> {
    const key = currentKey(ctx, name.levels)
    for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
      const current = await this.bucket.get(key)
      const version = next(current?.value)
      try {
        if (current === undefined) {
          if (await this.bucket.create(key, version) !== undefined) return version
        } else {
          await this.bucket.put(historyKey(ctx, name.levels, current.value.Version), current.value)
          await this.bucket.update(key, version, current.revision)
          if (version.Version > MAX_VERSIONS) await this.bucket.delete(historyKey(ctx, name.levels, version.Version - MAX_VERSIONS))
          return version
        }
      } catch (e) {
        if (!(e instanceof RevisionConflict)) throw e
      }
      // Writers that lost a race retry at scattered moments, so the next round is not the same race.
      await sleep(Math.random() * 5 * attempt)
    }
    throw SsmErrors.tooManyUpdates(name.name)
  }

  /** Deletes a parameter and its history; false when there was none. */
  async remove (ctx: RequestContext, name: ParameterName): Promise<boolean> {
    const key = currentKey(ctx, name.levels)
    let current: StoredParameter | undefined
    // Deleted only at the revision read, so a PutParameter landing in between is not erased unseen.
    for (let attempt = 1; current === undefined; attempt++) {
      const entry = await this.bucket.get(key)
      if (entry === undefined) return false
      try {
        await this.bucket.delete(key, entry.revision)
        current = entry.value
      } catch (e) {
        if (!(e instanceof RevisionConflict) || attempt === WRITE_ATTEMPTS) throw e instanceof RevisionConflict ? SsmErrors.tooManyUpdates(name.name) : e
      }
    }
    const first = Math.max(1, current.Version - MAX_VERSIONS + 1)
    const kept = Array.from({ length: current.Version - first }, (_, i) => first + i)
    await Promise.all(kept.map(async v => { await this.bucket.delete(historyKey(ctx, name.levels, v)) }))
    return true
  }
}

function currentKey (ctx: RequestContext, levels: string[]): string {
  return ['param', ctx.accountId, ctx.region, ...levels.map(token)].join('.')
}

function historyKey (ctx: RequestContext, levels: string[], version: number): string {
  return ['history', ctx.accountId, ctx.region, ...levels.map(token), String(version)].join('.')
}

function token (level: string): string {
  return level.replaceAll('.', '=')
}

/** A parameter name as stored, and its hierarchy levels. */
interface ParameterName { name: string, levels: string[] }

/** `name`, `name:version` or `name:label`, as GetParameter and GetParameters take them. */
interface ParameterReference extends ParameterName {
  /** As GetParameter echoes it back: ':3'. */
  selector?: string
  version?: number
  label?: string
}

/** '/a/b' has the levels a, b; 'db' and '/db' are both the root-level parameter 'db'. AWS drops spaces around a name. */
function parseName (raw: string): ParameterName {
  const name = raw.trim()
  if (!NAME_CHARS.test(name)) throw SsmErrors.invalidName()
  if (!name.includes('/')) return { name, levels: [name] }
  const levels = name.split('/').slice(1)
  if (!name.startsWith('/') || levels.includes('')) throw SsmErrors.invalidName()
  return { name: levels.length === 1 ? levels[0] : name, levels }
}

/** A name PutParameter may create: not reserved, at most 15 levels deep, its ARN at most 1011 characters. */
function parseNewName (raw: string, ctx: RequestContext): ParameterName {
  const parsed = parseName(raw)
  const top = parsed.levels[0].toLowerCase()
  const hierarchy = parsed.levels.length > 1
  if (hierarchy && top.startsWith('aws')) throw SsmErrors.reservedPath(parsed.name)
  if (top.startsWith('aws') || top.startsWith('ssm')) throw hierarchy ? SsmErrors.invalidName() : SsmErrors.reservedName()
  if (parsed.levels.length > MAX_LEVELS) throw SsmErrors.hierarchyLevelLimitExceeded(parsed.name, parsed.levels.length, MAX_LEVELS)
  const arn = arnOf(parsed.name, ctx)
  if (arn.length > MAX_ARN_LENGTH) throw SsmErrors.nameTooLong(arn, MAX_ARN_LENGTH)
  return parsed
}

function parseReference (raw: string): ParameterReference {
  const [name, selector, ...rest] = raw.trim().split(':')
  if (selector === undefined) return parseName(name)
  if (selector === '' || rest.length > 0) throw SsmErrors.invalidName()
  return /^\d+$/.test(selector)
    ? { ...parseName(name), selector: `:${selector}`, version: Number(selector) }
    : { ...parseName(name), selector: `:${selector}`, label: selector }
}

/** A GetParametersByPath path or a Path filter value: '/', '/a' or '/a/b/' (levels a, b). */
function parsePath (path: string): string[] {
  if (!/^\/[a-zA-Z0-9_.\-/]*$/.test(path) || path.includes('//')) throw SsmErrors.invalidPath(path)
  return path.split('/').filter(level => level !== '')
}

function levelsOf (name: string): string[] {
  return name.startsWith('/') ? name.slice(1).split('/') : [name]
}

function arnOf (name: string, ctx: RequestContext): string {
  return `arn:aws:ssm:${ctx.region}:${ctx.accountId}:parameter/${name.replace(/^\//, '')}`
}

const AWS_DATA_TYPES = ['aws:ec2:image', 'aws:ssm:integration']

/** Only text: AWS checks aws:ec2:image values against the account's AMIs, which this plugin cannot see. */
function checkDataType (dataType: string): void {
  if (dataType === 'text') return
  throw AWS_DATA_TYPES.includes(dataType) ? SsmErrors.unsupportedDataType(dataType) : SsmErrors.unknownDataType(dataType)
}

/** AllowedPattern is a regular expression searched for in the value, as AWS's own `^\d+$` example needs. */
function compilePattern (pattern: string): RegExp {
  for (const flags of ['u', '']) {
    try {
      return new RegExp(pattern, flags)
    } catch {}
  }
  throw SsmErrors.invalidAllowedPattern(pattern)
}

/**
 * Without a Tier a parameter keeps its own, and a new one starts Standard (the default tier of an
 * account that never changed it). Intelligent-Tiering picks Advanced only for values above 4 KB.
 * Advanced never goes back to Standard, as in AWS.
 */
function tierOf (requested: ParameterTier | undefined, current: StoredParameter['Tier'] | undefined, value: string): StoredParameter['Tier'] {
  if (requested === 'Standard' && current === 'Advanced') throw SsmErrors.tierDowngrade()
  const size = Buffer.byteLength(value)
  const advanced = requested === 'Advanced' || current === 'Advanced' || (requested === 'Intelligent-Tiering' && size > MAX_STANDARD_VALUE)
  if (!advanced && size > MAX_STANDARD_VALUE) throw SsmErrors.valueTooLarge('Standard', MAX_STANDARD_VALUE)
  if (size > MAX_ADVANCED_VALUE) throw SsmErrors.valueTooLarge('Advanced', MAX_ADVANCED_VALUE)
  return advanced ? 'Advanced' : 'Standard'
}

/** A SecureString keeps its key unless given another; AWS's default is the account's aws/ssm key. */
function keyIdOf (type: ParameterType, requested: string | undefined, current: StoredParameter | undefined): string | undefined {
  if (type !== 'SecureString') {
    if (requested !== undefined) throw SsmErrors.keyIdWithoutSecureString(type)
    return undefined
  }
  return requested ?? (current?.Type === 'SecureString' ? current.KeyId : undefined) ?? DEFAULT_KEY_ID
}

/** GetParameters lists what it cannot find instead of failing on it. */
function undefinedIfMissing (e: unknown): undefined {
  if (isAwsError(e) && (e.code === 'ParameterNotFound' || e.code === 'ParameterVersionNotFound')) return undefined
  throw e
}

function parameterOf (p: StoredParameter, ctx: RequestContext, selector?: string): Record<string, unknown> {
  return {
    Name: p.Name,
    Type: p.Type,
    Value: p.Value,
    Version: p.Version,
    Selector: selector,
    LastModifiedDate: p.LastModifiedDate,
    ARN: arnOf(p.Name, ctx),
    DataType: p.DataType
  }
}

function metadataOf (p: StoredParameter): Record<string, unknown> {
  return {
    Name: p.Name,
    Type: p.Type,
    KeyId: p.KeyId,
    LastModifiedDate: p.LastModifiedDate,
    LastModifiedUser: p.LastModifiedUser,
    Description: p.Description,
    AllowedPattern: p.AllowedPattern,
    Version: p.Version,
    Tier: p.Tier,
    Policies: [],
    DataType: p.DataType
  }
}

/** A ParameterStringFilter after checkFilters: its option defaulted, its values present. */
interface Filter { Key: string, Option: string, Values: string[] }

/** The filter keys an action takes; `tag:<key>` filters are either all allowed or none. */
interface FilterRules { keys: readonly string[], tags: boolean }

const DESCRIBE_FILTERS: FilterRules = { keys: ['Path', 'Name', 'Type', 'KeyId', 'Tier', 'DataType'], tags: true }
const BY_PATH_FILTERS: FilterRules = { keys: ['Type', 'KeyId', 'Label'], tags: false }

const FILTER_VALUES = new Map<string, readonly string[]>([
  ['Type', ['String', 'StringList', 'SecureString']],
  ['Tier', ['Standard', 'Advanced', 'Intelligent-Tiering']]
])

/** The options a filter key takes, its default first. */
function optionsOf (key: string): readonly string[] {
  switch (key) {
    case 'Path': return ['OneLevel', 'Recursive']
    case 'Name': return ['Equals', 'BeginsWith', 'Contains']
    case 'Label': return ['Equals']
    default: return ['Equals', 'BeginsWith']
  }
}

function checkFilters (filters: ParameterStringFilter[], rules: FilterRules): Filter[] {
  const seen = new Set<string>()
  return filters.map(f => {
    const tag = f.Key.startsWith('tag:')
    if (tag ? !rules.tags : !rules.keys.includes(f.Key)) throw SsmErrors.invalidFilterKey(f.Key, rules.keys)
    if (seen.has(f.Key)) throw SsmErrors.duplicateFilterKey(f.Key)
    seen.add(f.Key)
    const options = optionsOf(f.Key)
    const option = f.Option ?? options[0]
    if (!options.includes(option)) throw SsmErrors.invalidFilterOption(option, options)
    const values = f.Values ?? []
    if (values.length === 0 && !tag) throw SsmErrors.missingFilterValues(f.Key)
    // A BeginsWith value is a prefix, so only Equals values must be whole Types or Tiers.
    const valid = option === 'Equals' ? FILTER_VALUES.get(f.Key) : undefined
    const invalid = valid === undefined ? undefined : values.find(v => !valid.includes(v))
    if (valid !== undefined && invalid !== undefined) throw SsmErrors.invalidFilterValue(invalid, valid)
    if (f.Key === 'Path') {
      for (const v of values) if (/^\/(aws|ssm)/i.test(v)) throw SsmErrors.reservedPathFilter()
      values.forEach(parsePath)
    }
    return { Key: f.Key, Option: option, Values: values }
  })
}

/**
 * Filters AND together and the values of one filter OR together. Names compare fully qualified, so
 * 'db' matches Name Equals '/db'. A tag filter without values asks only whether the tag is there.
 */
function matches (p: StoredParameter, f: Filter): boolean {
  if (f.Key === 'Path') {
    const levels = levelsOf(p.Name)
    return f.Values.some(value => {
      const path = parsePath(value)
      const below = path.every((level, i) => levels[i] === level)
      return below && (f.Option === 'Recursive' ? levels.length > path.length : levels.length === path.length + 1)
    })
  }
  const fields = fieldOf(p, f.Key)
  if (f.Values.length === 0) return fields.length > 0
  const wanted = f.Key === 'Name' && f.Option !== 'Contains' ? f.Values.map(qualified) : f.Values
  return fields.some(field => wanted.some(v =>
    f.Option === 'BeginsWith' ? field.startsWith(v) : f.Option === 'Contains' ? field.includes(v) : field === v))
}

/** A filter key's values on one parameter; Label has none, as this store keeps no labels. */
function fieldOf (p: StoredParameter, key: string): string[] {
  if (key.startsWith('tag:')) return p.Tags.filter(t => t.Key === key.slice(4)).map(t => t.Value)
  switch (key) {
    case 'Name': return [qualified(p.Name)]
    case 'Type': return [p.Type]
    case 'KeyId': return p.KeyId === undefined ? [] : [p.KeyId]
    case 'Tier': return [p.Tier]
    case 'DataType': return [p.DataType]
    default: return []
  }
}

function qualified (name: string): string {
  return name.startsWith('/') ? name : `/${name}`
}
