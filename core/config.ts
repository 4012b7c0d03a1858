import { randomBytes, randomInt } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir, hostname } from 'node:os'
import { dirname, join, resolve } from 'node:path'

/**
 * A node's config, `<data-dir>/hive.json`, written by `hive admin init` (mode 0600: it holds the
 * root secret). Fields:
 *   nodeId         stable name of this node in the cluster (default: host name)
 *   region, az     what DescribeRegions/AvailabilityZones answer and credential scopes expect
 *   listen         host:port of the AWS edge
 *   accountId      the 12-digit account every resource belongs to
 *   rootAccessKeyId, rootSecretAccessKey   the root credentials (AKIA…, 40 chars)
 */
export interface NodeConfig {
  nodeId: string
  region: string
  az: string
  listen: string
  accountId: string
  rootAccessKeyId: string
  rootSecretAccessKey: string
}

/** What every node of a cluster shares: one account, one root key (kept in hive_cluster, subjects.ts). */
export type ClusterIdentity = Pick<NodeConfig, 'accountId' | 'rootAccessKeyId' | 'rootSecretAccessKey'>

export const DEFAULTS = {
  region: 'us-east-1',
  listen: '127.0.0.1:9999',
  profile: 'hive'
} as const

export function defaultDataDir (): string {
  return resolve(process.env.HIVE_DATA_DIR ?? join(homedir(), '.hive'))
}

function configPath (dataDir: string): string {
  return join(dataDir, 'hive.json')
}

export function readConfig (dataDir: string): NodeConfig | undefined {
  const p = configPath(dataDir)
  if (!existsSync(p)) return undefined
  return JSON.parse(readFileSync(p, 'utf8')) as NodeConfig
}

export interface InitOptions {
  dataDir: string
  listen?: string
  region?: string
  az?: string
  nodeId?: string
  /** Write the `hive` profile into ~/.aws (default true). */
  awsProfile?: boolean
}

export interface InitResult {
  config: NodeConfig
  created: boolean
  profileWritten: boolean
}

/**
 * Idempotent: keeps the keys and account of an existing config, applies any flag given, and
 * (re)writes the aws CLI profile so it always points at the current endpoint.
 */
export function initNode (opts: InitOptions): InitResult {
  mkdirSync(opts.dataDir, { recursive: true })
  const old = readConfig(opts.dataDir)
  const region = opts.region ?? old?.region ?? DEFAULTS.region
  const config: NodeConfig = {
    nodeId: opts.nodeId ?? old?.nodeId ?? hostname().replace(/[^A-Za-z0-9_-]/g, '-'),
    region,
    az: opts.az ?? (opts.region !== undefined && opts.region !== old?.region ? undefined : old?.az) ?? `${region}a`,
    listen: opts.listen ?? old?.listen ?? DEFAULTS.listen,
    accountId: old?.accountId ?? String(randomInt(100_000, 999_999)) + String(randomInt(100_000, 999_999)),
    rootAccessKeyId: old?.rootAccessKeyId ?? newAccessKeyId(),
    rootSecretAccessKey: old?.rootSecretAccessKey ?? randomBytes(30).toString('base64')
  }
  if (JSON.stringify(config) !== JSON.stringify(old)) writeAtomic(configPath(opts.dataDir), JSON.stringify(config, null, 2) + '\n', 0o600)
  const profileWritten = opts.awsProfile !== false
  if (profileWritten) writeAwsProfile(config)
  return { config, created: old === undefined, profileWritten }
}

/**
 * A node joining a cluster takes the cluster's account and root key, so the `hive` profile works
 * against any node. Rewrites the config and the profile when they differ.
 */
export function adoptIdentity (dataDir: string, identity: ClusterIdentity): NodeConfig {
  const old = readConfig(dataDir)
  if (old === undefined) throw new Error(`no node config in ${dataDir}`)
  const config = { ...old, ...identity }
  if (JSON.stringify(config) !== JSON.stringify(old)) {
    writeAtomic(configPath(dataDir), JSON.stringify(config, null, 2) + '\n', 0o600)
    writeAwsProfile(config)
  }
  return config
}

const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

function newAccessKeyId (): string {
  const b = randomBytes(16)
  let s = 'AKIA'
  for (const x of b) s += KEY_ALPHABET[x % 32]
  return s
}

export function endpointUrl (config: NodeConfig): string {
  return `http://${config.listen}`
}

/**
 * Adds or replaces the `hive` profile: keys in ~/.aws/credentials, region and endpoint in ~/.aws/config.
 * `serve` rewrites it with the endpoint it really listens on (scheme, bound port).
 */
export function writeAwsProfile (config: NodeConfig, endpoint = endpointUrl(config)): void {
  const dir = process.env.AWS_CONFIG_FILE !== undefined ? dirname(process.env.AWS_CONFIG_FILE) : join(homedir(), '.aws')
  const credsFile = process.env.AWS_SHARED_CREDENTIALS_FILE ?? join(dir, 'credentials')
  const configFile = process.env.AWS_CONFIG_FILE ?? join(dir, 'config')
  upsertIniSection(credsFile, DEFAULTS.profile, {
    aws_access_key_id: config.rootAccessKeyId,
    aws_secret_access_key: config.rootSecretAccessKey
  })
  upsertIniSection(configFile, `profile ${DEFAULTS.profile}`, {
    region: config.region,
    endpoint_url: endpoint,
    output: 'json'
  })
}

export function upsertIniSection (file: string, section: string, values: Record<string, string>): void {
  mkdirSync(dirname(file), { recursive: true })
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : []
  const out: string[] = []
  let skipping = false
  for (const line of lines) {
    const header = /^\s*\[(.+)\]\s*$/.exec(line)
    if (header !== null) skipping = header[1].trim() === section
    if (!skipping) out.push(line)
  }
  while (out.length > 0 && out[out.length - 1].trim() === '') out.pop()
  if (out.length > 0) out.push('')
  out.push(`[${section}]`, ...Object.entries(values).map(([k, v]) => `${k} = ${v}`), '')
  writeAtomic(file, out.join('\n'), 0o600)
}

function writeAtomic (file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, text, { mode })
  renameSync(tmp, file)
}
