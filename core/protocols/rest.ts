/**
 * What rest-xml (S3) and rest-json (EBS) share: routing by method and requestUri template, and the
 * members bound to the URI, query string, headers and status code.
 *
 * Routing. Each requestUri (`/{Bucket}/{Key+}?uploads`) is split once per model into path segments
 * (literals, `{Label}`, greedy `{Label+}`) and literal query keys. A request matches an operation when
 * method, path and every literal key agree; when several match, the most specific wins: more literal
 * path segments, then more literal query keys, then one whose required query/header members are all
 * present (S3's UploadPartCopy over UploadPart over PutObject, told apart by `uploadId`, `partNumber`
 * and `x-amz-copy-source`), then more of those, then not deprecated.
 */
import type { HttpRequest } from '../http.js'
import type { Operation, ServiceModel, Shape, ShapeRef } from '../model.js'
import { setEntry } from './guards.js'
import { memoize } from './memoize.js'
import { INVALID, formatScalar, parseScalar, timestampFormatOf } from './scalars.js'

type Segment = { literal: string } | { label: string, greedy: boolean }

interface Route {
  operation: Operation
  segments: Segment[]
  literalSegments: number
  query: Array<[string, string | undefined]>
  requiredQuery: string[]
  requiredHeaders: string[]
}

export interface RouteMatch {
  operation: Operation
  /** Decoded label values by label name; undefined when a label's escapes are malformed. */
  labels: Map<string, string> | undefined
}

export interface BoundMember { name: string, ref: ShapeRef, shape: Shape }

/** An operation's members split by where they travel. */
export interface Bindings {
  uri: BoundMember[]
  query: BoundMember[]
  headers: BoundMember[]
  prefixHeaders: BoundMember[]
  statusCode?: BoundMember
  /** The payload member, when the structure names one. */
  payload?: BoundMember
  /** Members of the body document, when there is no payload member. */
  body: BoundMember[]
  bodyNames: ReadonlySet<string>
  /** Query keys bound to a member; a querystring map member takes the rest. */
  queryKeys: ReadonlySet<string>
}

/** Per model, then per shape: each structure's bindings are worked out once. */
const bindings = memoize((model: ServiceModel) => memoize((shape: Shape): Bindings => {
  const bodyNames = new Set<string>()
  const queryKeys = new Set<string>()
  const b: Bindings = { uri: [], query: [], headers: [], prefixHeaders: [], body: [], bodyNames, queryKeys }
  for (const [name, ref] of Object.entries(shape.members ?? {})) {
    const m = { name, ref, shape: model.shape(ref.shape) }
    switch (ref.location) {
      case 'uri': b.uri.push(m); break
      case 'querystring':
        b.query.push(m)
        if (m.shape.type !== 'map') queryKeys.add(ref.locationName ?? name)
        break
      case 'header': b.headers.push(m); break
      case 'headers': b.prefixHeaders.push(m); break
      case 'statusCode': b.statusCode = m; break
      default:
        if (name === shape.payload) b.payload = m
        else if (shape.payload === undefined) {
          b.body.push(m)
          bodyNames.add(name)
        }
    }
  }
  return b
}))

export function bindingsOf (model: ServiceModel, shape: Shape): Bindings {
  return bindings(model)(shape)
}

function compileRoute (model: ServiceModel, operation: Operation): Route {
  const [path, query = ''] = operation.http.requestUri.split('?')
  const segments: Segment[] = path.split('/').slice(1).filter((s, i, all) => s !== '' || i < all.length - 1).map(s => {
    const m = /^\{(.+?)(\+?)\}$/.exec(s)
    return m === null ? { literal: s } : { label: m[1], greedy: m[2] === '+' }
  })
  const required = new Set(operation.input === undefined ? [] : model.shape(operation.input.shape).required ?? [])
  const b = operation.input === undefined ? undefined : bindingsOf(model, model.shape(operation.input.shape))
  return {
    operation,
    segments,
    literalSegments: segments.filter(s => 'literal' in s).length,
    query: query === '' ? [] : query.split('&').map(kv => { const [k, v] = kv.split('='); return [k, v] }),
    requiredQuery: (b?.query ?? []).filter(m => required.has(m.name)).map(m => m.ref.locationName ?? m.name),
    requiredHeaders: (b?.headers ?? []).filter(m => required.has(m.name)).map(m => (m.ref.locationName ?? m.name).toLowerCase())
  }
}

/** A model's routes by method, compiled once. */
const routesOf = memoize((model: ServiceModel): Map<string, Route[]> => {
  const routes = new Map<string, Route[]>()
  for (const name of model.operationNames()) {
    const op = model.operation(name) as Operation
    const list = routes.get(op.http.method) ?? []
    list.push(compileRoute(model, op))
    routes.set(op.http.method, list)
  }
  return routes
})

function decodeSegment (s: string): string | undefined {
  if (!s.includes('%')) return s
  try {
    return decodeURIComponent(s)
  } catch {
    return undefined
  }
}

/** The labels of `parts` under `route`, or null when the path does not fit. */
function matchPath (route: Route, parts: string[]): Map<string, string> | undefined | null {
  const labels = new Map<string, string>()
  let malformed = false
  let i = 0
  for (const seg of route.segments) {
    if ('literal' in seg) {
      if (parts[i] !== seg.literal) return null
      i++
      continue
    }
    const raw = seg.greedy ? parts.slice(i).join('/') : parts[i]
    if (raw === undefined || raw === '') return null
    i = seg.greedy ? parts.length : i + 1
    const value = decodeSegment(raw)
    if (value === undefined) malformed = true
    else labels.set(seg.label, value)
  }
  // A trailing slash is allowed (`/bucket/` is the bucket).
  if (i < parts.length && !(i === parts.length - 1 && parts[i] === '')) return null
  return malformed ? undefined : labels
}

interface Candidate { route: Route, labels: Map<string, string> | undefined, satisfied: boolean }

function rank (a: Candidate, b: Candidate): number {
  return (b.route.literalSegments - a.route.literalSegments) ||
    (b.route.query.length - a.route.query.length) ||
    (Number(b.satisfied) - Number(a.satisfied)) ||
    (b.route.requiredQuery.length + b.route.requiredHeaders.length - a.route.requiredQuery.length - a.route.requiredHeaders.length) ||
    (Number(a.route.operation.deprecated === true) - Number(b.route.operation.deprecated === true))
}

/**
 * The operation for a request, 'method' when its path fits operations of other methods only, or
 * undefined when no operation's path fits.
 */
export function route (model: ServiceModel, req: HttpRequest, query: Map<string, string[]>): RouteMatch | 'method' | undefined {
  const routes = routesOf(model)
  const parts = req.path.split('/').slice(1)
  let best: Candidate | undefined
  for (const r of routes.get(req.method) ?? []) {
    if (r.query.some(([k, v]) => v === undefined ? !query.has(k) : query.get(k)?.[0] !== v)) continue
    const labels = matchPath(r, parts)
    if (labels === null) continue
    const satisfied = r.requiredQuery.every(k => query.has(k)) && r.requiredHeaders.every(h => req.headers[h] !== undefined)
    const c = { route: r, labels, satisfied }
    if (best === undefined || rank(c, best) < 0) best = c
  }
  if (best !== undefined) return { operation: best.route.operation, labels: best.labels }
  for (const [method, list] of routes) {
    if (method !== req.method && list.some(r => matchPath(r, parts) !== null)) return 'method'
  }
  return undefined
}

/** Where a bound value came from, for the error a protocol raises when it does not fit its shape. */
export interface BadValue { location: 'uri' | 'querystring' | 'header', name: string, raw: string, shape: Shape }

function boundScalar (m: BoundMember, location: BadValue['location'], raw: string, bad: (v: BadValue) => Error, shape: Shape, ref: ShapeRef): unknown {
  const v = parseScalar(shape, raw, timestampFormatOf(ref, shape, location === 'header' ? 'rfc822' : 'iso8601'))
  if (v === INVALID) throw bad({ location, name: m.ref.locationName ?? m.name, raw, shape })
  return v
}

/**
 * Reads the URI, query string and header members of `shape`; the body is the protocol's. Lists in
 * the query string repeat the name; lists in headers are comma-separated.
 */
export function readBound (model: ServiceModel, shape: Shape, req: HttpRequest, match: RouteMatch,
  query: Map<string, string[]>, bad: (v: BadValue) => Error): Record<string, unknown> {
  const b = bindingsOf(model, shape)
  const out: Record<string, unknown> = {}
  for (const m of b.uri) {
    const raw = match.labels?.get(m.ref.locationName ?? m.name)
    if (raw !== undefined) out[m.name] = boundScalar(m, 'uri', raw, bad, m.shape, m.ref)
  }
  for (const m of b.query) {
    if (m.shape.type === 'map') {
      const map: Record<string, unknown> = {}
      for (const [k, values] of query) if (!b.queryKeys.has(k)) setEntry(map, k, values[0])
      if (Object.keys(map).length > 0) out[m.name] = map
      continue
    }
    const values = query.get(m.ref.locationName ?? m.name)
    if (values === undefined) continue
    if (m.shape.type === 'list') {
      const member = m.shape.member as ShapeRef
      const itemShape = model.shape(member.shape)
      out[m.name] = values.map(raw => boundScalar(m, 'querystring', raw, bad, itemShape, member))
    } else {
      out[m.name] = boundScalar(m, 'querystring', values[0], bad, m.shape, m.ref)
    }
  }
  for (const m of b.headers) {
    const raw = req.headers[(m.ref.locationName ?? m.name).toLowerCase()]
    if (raw === undefined) continue
    if (m.shape.type === 'list') {
      const member = m.shape.member as ShapeRef
      const itemShape = model.shape(member.shape)
      out[m.name] = raw.split(',').map(s => s.trim()).filter(s => s !== '').map(s => boundScalar(m, 'header', s, bad, itemShape, member))
    } else {
      out[m.name] = boundScalar(m, 'header', raw, bad, m.shape, m.ref)
    }
  }
  for (const m of b.prefixHeaders) {
    const prefix = (m.ref.locationName ?? '').toLowerCase()
    const map: Record<string, unknown> = {}
    for (const [name, value] of Object.entries(req.headers)) if (name.startsWith(prefix) && name.length > prefix.length) setEntry(map, name.slice(prefix.length), value)
    if (Object.keys(map).length > 0) out[m.name] = map
  }
  return out
}

/** The status code and headers an output's bound members ask for. */
export function writeBound (model: ServiceModel, operation: Operation, shape: Shape, output: Record<string, unknown>): { statusCode: number, headers: Record<string, string> } {
  const b = bindingsOf(model, shape)
  const headers: Record<string, string> = {}
  for (const m of b.headers) {
    const v = output[m.name]
    if (v === undefined || v === null) continue
    const name = (m.ref.locationName ?? m.name).toLowerCase()
    if (m.shape.type === 'list') {
      const member = m.shape.member as ShapeRef
      const itemShape = model.shape(member.shape)
      headers[name] = (v as unknown[]).map(x => formatScalar(itemShape, x, timestampFormatOf(member, itemShape, 'rfc822'))).join(', ')
    } else {
      headers[name] = formatScalar(m.shape, v, timestampFormatOf(m.ref, m.shape, 'rfc822'))
    }
  }
  for (const m of b.prefixHeaders) {
    const map = output[m.name]
    if (typeof map !== 'object' || map === null) continue
    const prefix = (m.ref.locationName ?? '').toLowerCase()
    for (const [k, v] of Object.entries(map)) if (v !== undefined && v !== null) headers[prefix + k.toLowerCase()] = String(v)
  }
  const status = b.statusCode === undefined ? undefined : output[b.statusCode.name]
  return { statusCode: typeof status === 'number' ? status : operation.http.responseCode ?? 200, headers }
}
