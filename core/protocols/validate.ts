/**
 * Checks a parsed input against its shapes' constraints and reports every violation with where it
 * was found; each protocol turns the violations into the error its AWS services answer.
 *
 * Constraint sets, by how much of the model a service enforces:
 *  - 'required': required members only (S3)
 *  - 'ranges':   plus min/max of numbers (EC2)
 *  - 'all':      plus string/list/map/blob lengths, patterns and enums (Coral services: IAM, STS, SSM, EBS)
 */
import type { ServiceModel, Shape, ShapeRef } from '../model.js'
import { memoize } from './memoize.js'

export type Checks = 'required' | 'ranges' | 'all'

/** A structure member, a 0-based list index, or a map key. */
export type PathSegment = { member: string, ref: ShapeRef } | number | { key: string }

export interface Violation {
  path: PathSegment[]
  constraint: 'required' | 'min' | 'max' | 'minLength' | 'maxLength' | 'pattern' | 'enum'
  value: unknown
  shape: Shape
}

const patterns = new Map<string, RegExp | null>()

/**
 * Model patterns are Java regexes that Coral matches against the whole value. Those JS cannot
 * compile are not enforced rather than guessed at.
 */
function patternOf (source: string): RegExp | null {
  let re = patterns.get(source)
  if (re === undefined) {
    re = null
    for (const flags of ['u', '']) {
      try {
        re = new RegExp(`^(?:${source})$`, flags)
        break
      } catch {}
    }
    patterns.set(source, re)
  }
  return re
}

function codePoints (s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xd800 || c > 0xdbff) n++
  }
  return n
}

function sizeOf (shape: Shape, value: unknown): number | undefined {
  switch (shape.type) {
    case 'string': return typeof value === 'string' ? codePoints(value) : undefined
    case 'blob': return Buffer.isBuffer(value) ? value.length : undefined
    case 'list': return Array.isArray(value) ? value.length : undefined
    case 'map': return typeof value === 'object' && value !== null ? Object.keys(value).length : undefined
    default: return undefined
  }
}

const isNumeric = (shape: Shape): boolean => shape.type === 'integer' || shape.type === 'long' || shape.type === 'float' || shape.type === 'double'

function hasOwnConstraints (shape: Shape, checks: Checks): boolean {
  if (checks === 'required') return false
  if (isNumeric(shape)) return shape.min !== undefined || shape.max !== undefined
  return checks === 'all' && (shape.enum !== undefined || shape.pattern !== undefined || shape.min !== undefined || shape.max !== undefined)
}

/** What to check for one shape: its own constraints, and only those parts of it that can fail. */
interface Plan {
  shape: Shape
  own: boolean
  members?: MemberPlan[]
  item?: Plan
  key?: Plan
  value?: Plan
}

interface MemberPlan { name: string, ref: ShapeRef, required: boolean, plan?: Plan }

/** Paths are built only when something fails: most inputs are valid. */
interface PathNode { parent: PathNode | undefined, segment: PathSegment }

function pathOf (node: PathNode | undefined): PathSegment[] {
  const out: PathSegment[] = []
  for (let n = node; n !== undefined; n = n.parent) out.unshift(n.segment)
  return out
}

/** Per model and constraint set, plans are compiled once per shape; checking walks the value only where a plan says it can fail. */
class Validator {
  private static readonly byModel = memoize((model: ServiceModel): Record<Checks, Validator> => ({
    required: new Validator(model, 'required'),
    ranges: new Validator(model, 'ranges'),
    all: new Validator(model, 'all')
  }))

  private readonly plans = new WeakMap<Shape, Plan | null>()

  private constructor (private readonly model: ServiceModel, private readonly checks: Checks) {}

  static for (model: ServiceModel, checks: Checks): Validator {
    return Validator.byModel(model)[checks]
  }

  private children (shape: Shape): Shape[] {
    const refs = [...Object.values(shape.members ?? {}), shape.member, shape.key, shape.value]
    return refs.filter((r): r is ShapeRef => r !== undefined).map(r => this.model.shape(r.shape))
  }

  /** Whether anything reachable from `shape` can fail; recursive shapes are walked to their closure. */
  private readonly relevant = memoize((shape: Shape): boolean => {
    let r = false
    const seen = new Set<Shape>([shape])
    const todo = [shape]
    while (!r && todo.length > 0) {
      const s = todo.pop() as Shape
      r = hasOwnConstraints(s, this.checks) || (s.type === 'structure' && (s.required?.length ?? 0) > 0)
      for (const c of this.children(s)) if (!seen.has(c)) { seen.add(c); todo.push(c) }
    }
    return r
  })

  plan (shape: Shape): Plan | undefined {
    const cached = this.plans.get(shape)
    if (cached !== undefined) return cached ?? undefined
    if (!this.relevant(shape)) {
      this.plans.set(shape, null)
      return undefined
    }
    const plan: Plan = { shape, own: hasOwnConstraints(shape, this.checks) }
    this.plans.set(shape, plan)
    if (shape.type === 'structure') {
      plan.members = Object.entries(shape.members ?? {})
        .map(([name, ref]) => ({ name, ref, required: shape.required?.includes(name) === true, plan: this.plan(this.model.shape(ref.shape)) }))
        .filter(m => m.required || m.plan !== undefined)
    } else if (shape.type === 'list' && shape.member !== undefined) {
      plan.item = this.plan(this.model.shape(shape.member.shape))
    } else if (shape.type === 'map' && shape.key !== undefined && shape.value !== undefined) {
      plan.key = this.plan(this.model.shape(shape.key.shape))
      plan.value = this.plan(this.model.shape(shape.value.shape))
    }
    return plan
  }

  check (plan: Plan, value: unknown, at: PathNode | undefined, out: Violation[]): void {
    if (plan.own) ownViolations(plan.shape, value, at, this.checks, out)
    if (typeof value !== 'object' || value === null) return
    if (plan.members !== undefined) {
      const struct = value as Record<string, unknown>
      for (const m of plan.members) {
        const v = struct[m.name]
        if (v === undefined) {
          if (m.required) out.push({ path: pathOf({ parent: at, segment: { member: m.name, ref: m.ref } }), constraint: 'required', value: null, shape: plan.shape })
        } else if (m.plan !== undefined) {
          this.check(m.plan, v, { parent: at, segment: { member: m.name, ref: m.ref } }, out)
        }
      }
    } else if (plan.item !== undefined && Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) this.check(plan.item, value[i], { parent: at, segment: i }, out)
    } else if (plan.key !== undefined || plan.value !== undefined) {
      for (const [k, v] of Object.entries(value)) {
        const node = { parent: at, segment: { key: k } }
        if (plan.key !== undefined) this.check(plan.key, k, node, out)
        if (plan.value !== undefined) this.check(plan.value, v, node, out)
      }
    }
  }
}

function ownViolations (shape: Shape, value: unknown, at: PathNode | undefined, checks: Checks, out: Violation[]): void {
  const found: Array<Violation['constraint']> = []
  if (isNumeric(shape)) {
    if (typeof value === 'number') {
      if (shape.min !== undefined && value < shape.min) found.push('min')
      if (shape.max !== undefined && value > shape.max) found.push('max')
    }
  } else if (checks === 'all') {
    if (shape.enum !== undefined && typeof value === 'string' && !shape.enum.includes(value)) found.push('enum')
    if (shape.pattern !== undefined && typeof value === 'string' && patternOf(shape.pattern)?.test(value) === false) found.push('pattern')
    const size = sizeOf(shape, value)
    if (size !== undefined) {
      if (shape.min !== undefined && size < shape.min) found.push('minLength')
      if (shape.max !== undefined && size > shape.max) found.push('maxLength')
    }
  }
  for (const constraint of found) out.push({ path: pathOf(at), constraint, value, shape })
}

export function validate (model: ServiceModel, shapeName: string, value: Record<string, unknown>, checks: Checks): Violation[] {
  const out: Violation[] = []
  const validator = Validator.for(model, checks)
  const plan = validator.plan(model.shape(shapeName))
  if (plan !== undefined) validator.check(plan, value, undefined, out)
  return out
}

/** Coral and EC2 both name members lower-camel in their messages. */
export const lcfirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1)

/** Coral names members lower-camel and list items `<list>.<n>.member`, counting from 1. */
function coralPath (path: PathSegment[]): string {
  return path.map(s => typeof s === 'number' ? `${s + 1}.member` : 'key' in s ? s.key : lcfirst(s.member)).join('.')
}

function coralValue (v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(coralValue).join(', ')}]`
  if (v instanceof Date) return v.toISOString()
  if (Buffer.isBuffer(v)) return `java.nio.HeapByteBuffer[pos=0 lim=${v.length} cap=${v.length}]`
  if (typeof v === 'object' && v !== null) return `{${Object.entries(v).map(([k, x]) => `${k}=${coralValue(x)}`).join(', ')}}`
  return String(v)
}

function coralConstraint (v: Violation): string {
  switch (v.constraint) {
    case 'required': return 'Member must not be null'
    case 'min': return `Member must have value greater than or equal to ${v.shape.min ?? ''}`
    case 'max': return `Member must have value less than or equal to ${v.shape.max ?? ''}`
    case 'minLength': return `Member must have length greater than or equal to ${v.shape.min ?? ''}`
    case 'maxLength': return `Member must have length less than or equal to ${v.shape.max ?? ''}`
    case 'pattern': return `Member must satisfy regular expression pattern: ${v.shape.pattern ?? ''}`
    case 'enum': return `Member must satisfy enum value set: [${(v.shape.enum ?? []).join(', ')}]`
  }
}

/**
 * Coral's message, e.g. "1 validation error detected: Value 'x' at 'roleSessionName' failed to
 * satisfy constraint: Member must have length less than or equal to 64". Sensitive values are
 * left out ("Value at 'value' ..."), as AWS does.
 */
export function coralMessage (violations: Violation[]): string {
  const n = violations.length
  const parts = violations.map(v => {
    const value = v.constraint === 'required' ? 'null' : v.shape.sensitive === true ? '' : `'${coralValue(v.value)}'`
    return `Value${value === '' ? '' : ' ' + value} at '${coralPath(v.path)}' failed to satisfy constraint: ${coralConstraint(v)}`
  })
  return `${n} validation error${n === 1 ? '' : 's'} detected: ${parts.join('; ')}`
}
