import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { ActionHandler, Bus, ServeOptions } from './bus.js'
import type { KvStore } from './kv.js'
import type { NodeRecord } from './nodes.js'
import type { AdminCommand } from './admin.js'

/** What a capability may say about one action it serves, for docs/COMPATIBILITY.md. */
export interface ActionSpec {
  /** Input members accepted but not acted on (every other member of the model's input is honoured). */
  unsupported?: string[]
  note?: string
}

export interface ServiceSpec {
  /**
   * The service model: a name of a model shipped in Hive's `models/` (default: the service key), or
   * a path or file URL to a compacted botocore model the plugin ships itself.
   */
  model?: string | URL
  /** The model operations this capability serves. */
  actions: Record<string, ActionSpec>
}

/** The node facts a capability may read. Secrets stay in the core. */
export interface NodeInfo {
  nodeId: string
  region: string
  az: string
  accountId: string
  dataDir: string
  /** Capability settings given on the command line, by flag name without dashes ('s3-code'). */
  settings: Record<string, string>
}

/** The host API a capability gets in `register`: everything it may use of the core at run time. */
export interface Hive {
  readonly node: NodeInfo
  readonly bus: Bus
  readonly kv: KvStore
  readonly log: Logger
  /** Serves one of the actions this capability declared; the core refuses undeclared ones. */
  serve: (service: string, action: string, handler: ActionHandler, opts?: ServeOptions) => void
  /** The live nodes of the cluster and what each serves. */
  nodes: () => Promise<NodeRecord[]>
}

export interface CapabilityDefinition {
  /** Package-style name, unique per cluster ('hive-ec2', 'hive-plugin-ssm-parameters'). */
  name: string
  /** The capability it provides, as `--cap` spells it. */
  capability: string
  /** Capabilities that must be served by this node or another in the cluster. */
  dependsOn?: string[]
  /** Service models and actions served, keyed by the service's signing name ('ec2', 'ssm'). */
  services: Record<string, ServiceSpec>
  /** Operator commands: `hive admin <capability> <command>` (core/admin.ts). */
  admin?: Record<string, AdminCommand>
  /** Wires handlers and services. `app` is an encapsulated fastify instance for this capability. */
  register: (app: FastifyInstance, hive: Hive) => Promise<void>
}

const CAPABILITY = Symbol.for('hive-cloud.capability')

/** A capability as the loader sees it: the definition, marked so it is recognized across package copies. */
export interface Capability extends CapabilityDefinition {
  readonly [CAPABILITY]: true
}

/** Declares a capability plugin. Its module's default export must be the returned value. */
export function defineCapability (def: CapabilityDefinition): Capability {
  return { ...def, [CAPABILITY]: true }
}

export function isCapability (x: unknown): x is Capability {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[CAPABILITY] === true
}
