/**
 * AWS service models in botocore's JSON layout (`models/<service>.json`, compacted from botocore by
 * scripts/compact-models.ts). The protocol layer reads every wire detail from here, so an action
 * in the model parses and serializes without code of its own.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export type ProtocolName = 'ec2' | 'query' | 'json' | 'rest-json' | 'rest-xml'
export type ShapeType = 'structure' | 'list' | 'map' | 'string' | 'integer' | 'long' | 'float' | 'double' |
'boolean' | 'timestamp' | 'blob'
export type TimestampFormat = 'iso8601' | 'rfc822' | 'unixTimestamp'
export type Location = 'uri' | 'querystring' | 'header' | 'headers' | 'statusCode'

export interface XmlNamespace { uri: string, prefix?: string }

/** A reference to a shape from a member, a list member, a map key/value or an operation's input/output. */
export interface ShapeRef {
  shape: string
  location?: Location
  locationName?: string
  /** EC2 only: the query name, winning over locationName. */
  queryName?: string
  flattened?: boolean
  xmlNamespace?: XmlNamespace
  xmlAttribute?: boolean
  idempotencyToken?: boolean
  hostLabel?: boolean
  jsonvalue?: boolean
  streaming?: boolean
  eventpayload?: boolean
  timestampFormat?: TimestampFormat
}

export interface Shape {
  type: ShapeType
  members?: Record<string, ShapeRef>
  required?: string[]
  payload?: string
  member?: ShapeRef
  key?: ShapeRef
  value?: ShapeRef
  enum?: string[]
  min?: number
  max?: number
  pattern?: string
  timestampFormat?: TimestampFormat
  flattened?: boolean
  locationName?: string
  xmlNamespace?: XmlNamespace
  sensitive?: boolean
  streaming?: boolean
  eventstream?: boolean
  union?: boolean
  document?: boolean
  exception?: boolean
  error?: { code?: string, httpStatusCode?: number, senderFault?: boolean }
}

export interface Operation {
  name: string
  http: { method: string, requestUri: string, responseCode?: number }
  input?: ShapeRef
  output?: ShapeRef & { resultWrapper?: string }
  deprecated?: boolean
  /** 'none' for actions AWS serves unsigned (STS AssumeRoleWithWebIdentity), 'v4-unsigned-body' for unsigned payloads. */
  authtype?: string
}

export interface ServiceMetadata {
  protocol: ProtocolName
  apiVersion: string
  endpointPrefix: string
  serviceId: string
  serviceFullName?: string
  signingName?: string
  signatureVersion?: string
  /** json protocol: the X-Amz-Target prefix, e.g. 'AmazonSSM'. */
  targetPrefix?: string
  /** json protocol: '1.0' or '1.1', naming the content type application/x-amz-json-<v>. */
  jsonVersion?: string
  xmlNamespace?: string
  uid?: string
}

interface ModelJson {
  metadata: ServiceMetadata
  operations: Record<string, Operation>
  shapes: Record<string, Shape>
}

const loaded = new Map<string, ServiceModel>()

export class ServiceModel {
  readonly metadata: ServiceMetadata
  private readonly operations: Map<string, Operation>
  private readonly shapes: Map<string, Shape>
  private errors?: Map<string, Shape>

  constructor (json: ModelJson) {
    this.metadata = json.metadata
    this.operations = new Map(Object.entries(json.operations))
    this.shapes = new Map(Object.entries(json.shapes))
  }

  /**
   * A bare name (/^[a-z0-9-]+$/, e.g. 'ec2') loads Hive's own `models/ec2.json`; a bare name not in
   * `available()` is refused with no further look at the disk, so untrusted service names may be
   * passed once they are known to be bare. Anything else is a path or file URL, loaded as is: a
   * third-party plugin ships its own model. Each file is read once per process.
   */
  static load (nameOrPath: string): ServiceModel {
    let file: string
    if (BARE_NAME.test(nameOrPath)) {
      const { dir, names } = shipped()
      if (!names.has(nameOrPath)) throw new Error(`no model named '${nameOrPath}' in ${dir}; the models are: ${[...names].join(', ')}`)
      file = join(dir, `${nameOrPath}.json`)
    } else {
      file = toPath(nameOrPath)
    }
    let model = loaded.get(file)
    if (model === undefined) {
      model = new ServiceModel(JSON.parse(readFileSync(file, 'utf8')) as ModelJson)
      loaded.set(file, model)
    }
    return model
  }

  /** The names of the models shipped in `models/`, sorted; the directory is read once per process. */
  static available (): string[] {
    return [...shipped().names]
  }

  /** undefined for names the model lacks, including inherited property names like 'constructor'. */
  operation (name: string): Operation | undefined {
    return this.operations.get(name)
  }

  operationNames (): string[] {
    return [...this.operations.keys()]
  }

  /** Throws for a name the model lacks: every reference inside a model must resolve. */
  shape (name: string): Shape {
    const s = this.shapes.get(name)
    if (s === undefined) throw new Error(`${this.metadata.serviceId} model has no shape ${name}`)
    return s
  }

  /** The exception shape an error code names (its `error.code`, else its shape name), if the model has one. */
  errorShape (code: string): Shape | undefined {
    if (this.errors === undefined) {
      this.errors = new Map()
      for (const [name, shape] of this.shapes) if (shape.exception === true) this.errors.set(shape.error?.code ?? name, shape)
    }
    return this.errors.get(code)
  }

  /** The input members an action accepts, by their model names; [] for an unknown action. */
  inputMembers (operationName: string): string[] {
    const input = this.operation(operationName)?.input
    return input === undefined ? [] : Object.keys(this.shape(input.shape).members ?? {})
  }

  hasMember (operationName: string, member: string): boolean {
    const input = this.operation(operationName)?.input
    return input !== undefined && Object.hasOwn(this.shape(input.shape).members ?? {}, member)
  }
}

function toPath (pathOrUrl: string): string {
  return pathOrUrl.startsWith('file:') ? fileURLToPath(pathOrUrl) : resolve(pathOrUrl)
}

const BARE_NAME = /^[a-z0-9-]+$/

let shippedModels: { dir: string, names: ReadonlySet<string> } | undefined

/**
 * Hive's `models/` directory and the models in it (`VERSION.json` aside), read once. Found by
 * walking up from this file to the first `models/VERSION.json`, so it is found whether run from
 * source or from `dist/core/`.
 */
function shipped (): { dir: string, names: ReadonlySet<string> } {
  if (shippedModels === undefined) {
    const dir = modelsDir()
    const names = readdirSync(dir).filter(f => f.endsWith('.json')).map(f => f.slice(0, -'.json'.length)).filter(n => BARE_NAME.test(n))
    shippedModels = { dir, names: new Set(names.sort()) }
  }
  return shippedModels
}

function modelsDir (): string {
  const here = fileURLToPath(import.meta.url)
  for (let dir = dirname(here); ; dir = dirname(dir)) {
    const candidate = join(dir, 'models')
    if (existsSync(join(candidate, 'VERSION.json'))) return candidate
    if (dirname(dir) === dir) throw new Error(`no models/ directory with a VERSION.json above ${here}`)
  }
}
