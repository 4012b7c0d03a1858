/**
 * Compacts the botocore service models shipped by Debian's `awscli` package into `models/<svc>.json`:
 * the same JSON layout as botocore (so a plugin may ship a full botocore model instead), minus
 * documentation, examples, endpoint rules and every shape no operation reaches. What stays is what
 * the protocol layer reads: metadata, operations' HTTP bindings, and shapes with their wire and
 * validation traits. `models/VERSION.json` records where each model came from.
 *
 *   npx tsx scripts/compact-models.ts
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SOURCE = '/usr/lib/python3/dist-packages/awscli/botocore/data'
const SERVICES = ['ec2', 'ssm', 's3', 'iam', 'sts', 'ebs']
const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'models')

type Json = Record<string, any>

const METADATA_KEYS = ['apiVersion', 'endpointPrefix', 'jsonVersion', 'protocol', 'serviceFullName', 'serviceId',
  'signatureVersion', 'signingName', 'targetPrefix', 'uid', 'xmlNamespace']
const OPERATION_KEYS = ['name', 'http', 'input', 'output', 'deprecated', 'authtype']
const HTTP_KEYS = ['method', 'requestUri', 'responseCode']
const IO_KEYS = ['shape', 'locationName', 'xmlNamespace', 'resultWrapper']
const SHAPE_KEYS = ['type', 'members', 'required', 'payload', 'member', 'key', 'value', 'enum', 'min', 'max', 'pattern',
  'timestampFormat', 'flattened', 'locationName', 'xmlNamespace', 'error', 'exception', 'union', 'document',
  'sensitive', 'streaming', 'eventstream']
const REF_KEYS = ['shape', 'location', 'locationName', 'queryName', 'flattened', 'xmlNamespace', 'xmlAttribute',
  'idempotencyToken', 'hostLabel', 'jsonvalue', 'streaming', 'eventpayload', 'timestampFormat']

/**
 * botocore lacks the `@xmlName` Smithy gives S3's output structures, so without these the response
 * roots would be named after the shape (`ListObjectsV2Output`) where S3 says `ListBucketResult`.
 */
const S3_RESPONSE_ROOTS: Record<string, string> = {
  ListBucketsOutput: 'ListAllMyBucketsResult',
  ListObjectsOutput: 'ListBucketResult',
  ListObjectsV2Output: 'ListBucketResult',
  ListObjectVersionsOutput: 'ListVersionsResult',
  ListMultipartUploadsOutput: 'ListMultipartUploadsResult',
  ListPartsOutput: 'ListPartsResult',
  CreateMultipartUploadOutput: 'InitiateMultipartUploadResult',
  CompleteMultipartUploadOutput: 'CompleteMultipartUploadResult',
  DeleteObjectsOutput: 'DeleteResult',
  GetBucketAclOutput: 'AccessControlPolicy',
  GetObjectAclOutput: 'AccessControlPolicy',
  GetBucketTaggingOutput: 'Tagging',
  GetObjectTaggingOutput: 'Tagging',
  GetBucketCorsOutput: 'CORSConfiguration',
  GetBucketVersioningOutput: 'VersioningConfiguration',
  GetBucketLifecycleOutput: 'LifecycleConfiguration',
  GetBucketLifecycleConfigurationOutput: 'LifecycleConfiguration',
  GetBucketLocationOutput: 'LocationConstraint',
  GetBucketLoggingOutput: 'BucketLoggingStatus',
  GetBucketWebsiteOutput: 'WebsiteConfiguration',
  GetBucketRequestPaymentOutput: 'RequestPaymentConfiguration',
  GetBucketAccelerateConfigurationOutput: 'AccelerateConfiguration',
  GetObjectAttributesOutput: 'GetObjectAttributesResponse',
  ListBucketAnalyticsConfigurationsOutput: 'ListBucketAnalyticsConfigurationResult',
  ListBucketInventoryConfigurationsOutput: 'ListInventoryConfigurationsResult',
  ListBucketMetricsConfigurationsOutput: 'ListMetricsConfigurationsResult'
}

function pick (o: Json, keys: string[]): Json {
  const out: Json = {}
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k]
  return out
}

function refsOf (shape: Json): Json[] {
  return [...Object.values<Json>(shape.members ?? {}), ...['member', 'key', 'value'].filter(k => shape[k] !== undefined).map(k => shape[k])]
}

function compactShape (shape: Json): Json {
  const out = pick(shape, SHAPE_KEYS)
  if (out.members !== undefined) {
    out.members = Object.fromEntries(Object.entries<Json>(out.members).map(([name, ref]) => [name, pick(ref, REF_KEYS)]))
  }
  for (const k of ['member', 'key', 'value']) if (out[k] !== undefined) out[k] = pick(out[k], REF_KEYS)
  return out
}

/** The namespace most members declare: S3's metadata names none, yet every S3 response root carries it. */
function dominantNamespace (shapes: Json): string | undefined {
  const counts = new Map<string, number>()
  for (const shape of Object.values<Json>(shapes)) {
    for (const ref of refsOf(shape)) {
      const uri = ref.xmlNamespace?.uri
      if (typeof uri === 'string') counts.set(uri, (counts.get(uri) ?? 0) + 1)
    }
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0]
}

function compact (svc: string, model: Json): Json {
  const operations: Json = {}
  const reachable = new Set<string>()
  const visit = (name: string): void => {
    if (reachable.has(name)) return
    reachable.add(name)
    for (const ref of refsOf(model.shapes[name])) visit(ref.shape)
  }
  for (const [name, op] of Object.entries<Json>(model.operations)) {
    const out = pick(op, OPERATION_KEYS)
    out.http = pick(op.http, HTTP_KEYS)
    for (const io of ['input', 'output']) {
      if (op[io] === undefined) continue
      out[io] = pick(op[io], IO_KEYS)
      visit(op[io].shape)
    }
    operations[name] = out
  }
  for (const [name, shape] of Object.entries<Json>(model.shapes)) if (shape.exception === true) visit(name)

  const shapes: Json = {}
  for (const name of Object.keys(model.shapes)) if (reachable.has(name)) shapes[name] = compactShape(model.shapes[name])
  const metadata = pick(model.metadata, METADATA_KEYS)
  if (svc === 's3') {
    metadata.xmlNamespace ??= dominantNamespace(model.shapes)
    for (const [shape, root] of Object.entries(S3_RESPONSE_ROOTS)) if (shapes[shape] !== undefined) shapes[shape].locationName ??= root
  }
  return { metadata, operations, shapes }
}

function main (): void {
  const pkgVersion = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'awscli'], { encoding: 'utf8' }).trim()
  const models: Json = {}
  for (const svc of SERVICES) {
    const versions = readdirSync(join(SOURCE, svc)).sort()
    const apiVersion = versions[versions.length - 1]
    const sourcePath = join(SOURCE, svc, apiVersion, 'service-2.json')
    const source = readFileSync(sourcePath, 'utf8')
    const model = compact(svc, JSON.parse(source))
    const text = JSON.stringify(model)
    writeFileSync(join(OUT, `${svc}.json`), text)
    models[svc] = {
      apiVersion: model.metadata.apiVersion,
      uid: model.metadata.uid,
      protocol: model.metadata.protocol,
      operations: Object.keys(model.operations).length,
      sourceBytes: Buffer.byteLength(source),
      bytes: Buffer.byteLength(text)
    }
    console.log(`${svc}: ${models[svc].operations} operations, ${models[svc].sourceBytes} → ${models[svc].bytes} bytes`)
  }
  const version = { source: { package: 'awscli', version: pkgVersion, path: SOURCE }, models }
  writeFileSync(join(OUT, 'VERSION.json'), JSON.stringify(version, null, 2) + '\n')
}

main()
