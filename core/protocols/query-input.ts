/**
 * Query-style input (EC2 and IAM/STS): flat dotted names such as
 *
 *   Filter.1.Name=instance-type&Filter.1.Value.1=t3.micro        (ec2: every list is `Name.N`)
 *   Tags.member.1.Key=k&Attributes.entry.1.key=a                  (query: `.member.N`, `.entry.N`)
 *
 * are folded into a tree by their dots and read against the input shape, then checked against
 * the model as the service checks (parseQuery). Each structure's wire names are worked out once
 * per shape and dialect.
 */
import { CoreErrors } from '../errors.js'
import type { HttpRequest } from '../http.js'
import type { Operation, ServiceModel, Shape, ShapeRef } from '../model.js'
import { MAX_DEPTH, setEntry } from './guards.js'
import { ProtocolErrors } from './errors.js'
import type { ParsedRequest } from './index.js'
import { memoize } from './memoize.js'
import { formPairs } from './querystring.js'
import { INVALID, parseScalar, timestampFormatOf } from './scalars.js'
import { validate, type Checks, type Violation } from './validate.js'

export interface ParamNode {
  value?: string
  children?: Map<string, ParamNode>
}

export interface QueryDialect {
  /** The name a structure member goes by on the wire. */
  wireName: (model: ServiceModel, name: string, ref: ShapeRef) => string
  /** EC2 writes every list as `Name.N`; the query protocol only those marked flattened. */
  flattensAllLists: boolean
}

interface MemberPlan { name: string, ref: ShapeRef, shape: Shape }

/** What any query request may carry besides its action's members: the action, the API version, and SigV2/SigV4 query authentication. */
const COMMON_PARAMETERS = new Set(['Action', 'Version', 'AWSAccessKeyId', 'Signature', 'SignatureMethod', 'SignatureVersion',
  'Timestamp', 'Expires', 'SecurityToken', 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires',
  'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Security-Token'])

const NO_INPUT: Shape = { type: 'structure', members: {} }

/**
 * Folds pairs into a tree by their dots; the top level is returned as a map. A repeated name keeps
 * its last value, as the services do.
 */
function paramTree (pairs: Array<[string, string]>): Map<string, ParamNode> {
  const top = new Map<string, ParamNode>()
  for (const [name, value] of pairs) {
    let children = top
    let node: ParamNode | undefined
    let start = 0
    for (;;) {
      const dot = name.indexOf('.', start)
      const part = dot === -1 ? name.slice(start) : name.slice(start, dot)
      node = children.get(part)
      if (node === undefined) {
        node = {}
        children.set(part, node)
      }
      if (dot === -1) break
      children = node.children ??= new Map()
      start = dot + 1
    }
    node.value = value
  }
  return top
}

/** A GET carries its parameters in the query string, a POST in its form body; both are read. */
function queryParams (req: HttpRequest): Map<string, ParamNode> {
  const pairs = formPairs(req.query)
  return paramTree(req.body.length === 0 ? pairs : pairs.concat(formPairs(req.body.toString('utf8'))))
}

function actionOf (model: ServiceModel, params: Map<string, ParamNode>): Operation {
  const action = params.get('Action')?.value
  if (action === undefined) throw ProtocolErrors.missingAction()
  const operation = model.operation(action)
  if (operation === undefined) throw CoreErrors.invalidAction(action)
  return operation
}

class QueryReader {
  private static readonly byDialect = memoize((dialect: QueryDialect) => memoize((model: ServiceModel) => new QueryReader(model, dialect)))

  private constructor (private readonly model: ServiceModel, private readonly dialect: QueryDialect) {}

  /** One per model and dialect: wire names are worked out once per shape. */
  static for (model: ServiceModel, dialect: QueryDialect): QueryReader {
    return QueryReader.byDialect(dialect)(model)
  }

  private readonly plan = memoize((shape: Shape): Map<string, MemberPlan> => {
    const plan = new Map<string, MemberPlan>()
    for (const [name, ref] of Object.entries(shape.members ?? {})) {
      plan.set(this.dialect.wireName(this.model, name, ref), { name, ref, shape: this.model.shape(ref.shape) })
    }
    return plan
  })

  readInput (operation: Operation, params: Map<string, ParamNode>): Record<string, unknown> {
    const shape = operation.input === undefined ? NO_INPUT : this.model.shape(operation.input.shape)
    return this.readStructure(shape, params, '', 0, COMMON_PARAMETERS)
  }

  private readStructure (shape: Shape, children: Map<string, ParamNode>, prefix: string, depth: number, ignored?: ReadonlySet<string>): Record<string, unknown> {
    const plan = this.plan(shape)
    const out: Record<string, unknown> = {}
    for (const [wire, node] of children) {
      const member = plan.get(wire)
      if (member === undefined) {
        if (ignored?.has(wire) === true) continue
        throw CoreErrors.unknownParameter(prefix + wire)
      }
      out[member.name] = this.readValue(member.ref, member.shape, node, prefix + wire, depth + 1)
    }
    return out
  }

  private readValue (ref: ShapeRef, shape: Shape, node: ParamNode, name: string, depth: number): unknown {
    if (depth > MAX_DEPTH) throw CoreErrors.invalidParameterValue(`Parameter ${name.slice(0, 256)} nests deeper than ${MAX_DEPTH} levels`)
    switch (shape.type) {
      case 'structure':
        rejectValue(node, name)
        return this.readStructure(shape, node.children ?? new Map(), name + '.', depth)
      case 'list':
        return this.readList(ref, shape, node, name, depth)
      case 'map':
        return this.readMap(ref, shape, node, name, depth)
      default: {
        if (node.children !== undefined) throw CoreErrors.unknownParameter(`${name}.${node.children.keys().next().value ?? ''}`)
        const raw = node.value ?? ''
        const v = parseScalar(shape, raw, timestampFormatOf(ref, shape, 'iso8601'))
        if (v === INVALID) throw CoreErrors.invalidParameterValue(`Value (${raw}) for parameter ${name} is invalid. ${expectation(shape)}`)
        return v
      }
    }
  }

  private readList (ref: ShapeRef, shape: Shape, node: ParamNode, name: string, depth: number): unknown[] {
    const member = shape.member as ShapeRef
    let items = node
    let prefix = name
    if (!this.dialect.flattensAllLists && ref.flattened !== true && shape.flattened !== true) {
      // The query protocol sends an empty list as `Name=`.
      if (node.children === undefined && node.value === '') return []
      const wrapper = member.locationName ?? 'member'
      items = only(node, wrapper, name)
      prefix = `${name}.${wrapper}`
    }
    rejectValue(items, prefix)
    const itemShape = this.model.shape(member.shape)
    return indexed(items, prefix).map(([i, child]) => this.readValue(member, itemShape, child, `${prefix}.${i}`, depth + 1))
  }

  private readMap (ref: ShapeRef, shape: Shape, node: ParamNode, name: string, depth: number): Record<string, unknown> {
    const keyName = shape.key?.locationName ?? 'key'
    const valueRef = shape.value as ShapeRef
    const valueName = valueRef.locationName ?? 'value'
    let entries = node
    let prefix = name
    if (ref.flattened !== true && shape.flattened !== true) {
      entries = only(node, 'entry', name)
      prefix = `${name}.entry`
    }
    rejectValue(entries, prefix)
    const valueShape = this.model.shape(valueRef.shape)
    const out: Record<string, unknown> = {}
    for (const [i, entry] of indexed(entries, prefix)) {
      const at = `${prefix}.${i}`
      for (const part of entry.children?.keys() ?? []) {
        if (part !== keyName && part !== valueName) throw CoreErrors.unknownParameter(`${at}.${part}`)
      }
      const key = entry.children?.get(keyName)?.value
      const value = entry.children?.get(valueName)
      if (key === undefined) throw CoreErrors.missingParameter(`${at}.${keyName}`)
      if (value === undefined) throw CoreErrors.missingParameter(`${at}.${valueName}`)
      setEntry(out, key, this.readValue(valueRef, valueShape, value, `${at}.${valueName}`, depth + 1))
    }
    return out
  }
}

function expectation (shape: Shape): string {
  switch (shape.type) {
    case 'boolean': return 'Expecting true or false.'
    case 'integer': case 'long': return 'Expecting an integer.'
    case 'float': case 'double': return 'Expecting a number.'
    case 'timestamp': return 'Expecting an ISO 8601 timestamp.'
    default: return 'Expecting base64-encoded data.'
  }
}

/** An aggregate may be sent bare and empty (`Name=`); any other value on it is not a parameter. */
function rejectValue (node: ParamNode, name: string): void {
  if (node.value !== undefined && node.value !== '') throw CoreErrors.unknownParameter(name)
}

function only (node: ParamNode, part: string, name: string): ParamNode {
  for (const key of node.children?.keys() ?? []) if (key !== part) throw CoreErrors.unknownParameter(`${name}.${key}`)
  return node.children?.get(part) ?? {}
}

/**
 * A query-style request's action and input, checked for the `checks` its service runs; `refuse`
 * words the error for what they found, as each service words it.
 */
export function parseQuery (model: ServiceModel, req: HttpRequest, dialect: QueryDialect, checks: Checks, refuse: (violations: Violation[]) => Error): ParsedRequest {
  const params = queryParams(req)
  const operation = actionOf(model, params)
  const input = QueryReader.for(model, dialect).readInput(operation, params)
  if (operation.input !== undefined) {
    const violations = validate(model, operation.input.shape, input, checks)
    if (violations.length > 0) throw refuse(violations)
  }
  return { operation, input }
}

const INDEX = /^[1-9]\d{0,8}$/

/** List and map positions are 1-based; gaps are allowed and order is by number. */
function indexed (node: ParamNode, name: string): Array<[number, ParamNode]> {
  const out: Array<[number, ParamNode]> = []
  for (const [key, child] of node.children ?? []) {
    if (!INDEX.test(key)) throw CoreErrors.unknownParameter(`${name}.${key}`)
    out.push([Number(key), child])
  }
  return out.sort((a, b) => a[0] - b[0])
}
