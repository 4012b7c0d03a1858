/**
 * Output values → XML text, for every XML protocol (ec2, query, rest-xml). Built by string
 * concatenation from per-structure plans computed once per shape:
 *
 *   - elements are named by locationName, else the member name
 *   - lists wrap their items, named by the list member's locationName else `member`
 *     (`<instancesSet><item>…</item></instancesSet>`); an empty list is an empty wrapper (`<x/>`)
 *   - flattened lists and maps repeat the element itself, named by the list member's locationName
 *     when it has one (botocore's rule)
 *   - maps are `<entry><key>…</key><value>…</value></entry>`, key/value renamed by locationName
 *   - xmlAttribute members become attributes of their structure's element; xmlNamespace adds xmlns
 *   - timestamps are ISO 8601 unless the model says otherwise, blobs base64
 */
import type { ServiceModel, Shape, ShapeRef, XmlNamespace } from '../model.js'
import { memoize } from './memoize.js'
import { formatScalar, timestampFormatOf } from './scalars.js'

/** What every XML response body starts with. */
export const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

const XML_SPECIAL = /[&<>"'\r\n\u0000-\u0008\u000b\u000c\u000e-\u001f]/
const XML_SPECIAL_ALL = /[&<>"'\r\n\u0000-\u0008\u000b\u000c\u000e-\u001f]/g

/** CR and LF are escaped too, so a parser's newline normalisation cannot change a value. */
export function escapeXml (s: string): string {
  if (!XML_SPECIAL.test(s)) return s
  return s.replace(XML_SPECIAL_ALL, c => {
    switch (c) {
      case '&': return '&amp;'
      case '<': return '&lt;'
      case '>': return '&gt;'
      case '"': return '&quot;'
      case "'": return '&apos;'
      default: return `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`
    }
  })
}

export function xmlnsAttribute (ns: XmlNamespace | undefined): string {
  if (ns === undefined) return ''
  return ` xmlns${ns.prefix === undefined ? '' : ':' + ns.prefix}="${escapeXml(ns.uri)}"`
}

interface MemberPlan {
  name: string
  element: string
  ref: ShapeRef
  shape: Shape
  flattened: boolean
  attribute: boolean
  xmlns: string
}

interface StructurePlan { members: MemberPlan[], hasAttributes: boolean }

export class XmlWriter {
  /** One per model: its plans are computed once per shape. */
  static readonly for = memoize((model: ServiceModel) => new XmlWriter(model))

  private constructor (private readonly model: ServiceModel) {}

  private readonly plan = memoize((shape: Shape): StructurePlan => {
    const members = Object.entries(shape.members ?? {}).map(([name, ref]): MemberPlan => {
      const target = this.model.shape(ref.shape)
      const flattened = ref.flattened === true || target.flattened === true
      const element = flattened && target.type === 'list' && target.member?.locationName !== undefined
        ? target.member.locationName
        : ref.locationName ?? name
      const xmlns = xmlnsAttribute(ref.xmlNamespace ?? target.xmlNamespace)
      return { name, element, ref, shape: target, flattened, attribute: ref.xmlAttribute === true, xmlns }
    })
    return { members, hasAttributes: members.some(m => m.attribute) }
  })

  /** The child elements of a structure, without its own element. Members not in `only` are skipped when given. */
  members (shape: Shape, value: Record<string, unknown>, only?: ReadonlySet<string>): string {
    let xml = ''
    for (const m of this.plan(shape).members) {
      if (m.attribute || (only !== undefined && !only.has(m.name))) continue
      const v = value[m.name]
      if (v === undefined || v === null) continue
      if (m.flattened) {
        xml += this.flattened(m, v)
      } else {
        xml += this.element(m.element, m.ref, m.shape, v, m.xmlns)
      }
    }
    return xml
  }

  /** `<name attrs>…</name>` for any value of `shape`. */
  element (name: string, ref: ShapeRef, shape: Shape, value: unknown, xmlns = xmlnsAttribute(shape.xmlNamespace)): string {
    switch (shape.type) {
      case 'structure': {
        const struct = value as Record<string, unknown>
        return `<${name}${xmlns}${this.attributes(shape, struct)}>${this.members(shape, struct)}</${name}>`
      }
      case 'list': {
        const items = value as unknown[]
        if (items.length === 0) return `<${name}${xmlns}/>`
        const member = shape.member as ShapeRef
        const itemShape = this.model.shape(member.shape)
        const itemName = member.locationName ?? 'member'
        let xml = `<${name}${xmlns}>`
        for (const item of items) xml += this.element(itemName, member, itemShape, item)
        return xml + `</${name}>`
      }
      case 'map':
        return `<${name}${xmlns}>${this.entries(shape, value as Record<string, unknown>, 'entry')}</${name}>`
      default:
        return `<${name}${xmlns}>${escapeXml(formatScalar(shape, value, timestampFormatOf(ref, shape, 'iso8601')))}</${name}>`
    }
  }

  private flattened (m: MemberPlan, value: unknown): string {
    if (m.shape.type === 'map') return this.entries(m.shape, value as Record<string, unknown>, m.element)
    if (m.shape.type !== 'list') return this.element(m.element, m.ref, m.shape, value, m.xmlns)
    const member = m.shape.member as ShapeRef
    const itemShape = this.model.shape(member.shape)
    let xml = ''
    for (const item of value as unknown[]) xml += this.element(m.element, member, itemShape, item, m.xmlns)
    return xml
  }

  private entries (shape: Shape, map: Record<string, unknown>, entryName: string): string {
    const keyRef = shape.key as ShapeRef
    const valueRef = shape.value as ShapeRef
    const keyName = keyRef.locationName ?? 'key'
    const valueName = valueRef.locationName ?? 'value'
    const keyShape = this.model.shape(keyRef.shape)
    const valueShape = this.model.shape(valueRef.shape)
    let xml = ''
    for (const [k, v] of Object.entries(map)) {
      if (v === undefined || v === null) continue
      xml += `<${entryName}>${this.element(keyName, keyRef, keyShape, k)}${this.element(valueName, valueRef, valueShape, v)}</${entryName}>`
    }
    return xml
  }

  private attributes (shape: Shape, value: Record<string, unknown>): string {
    const plan = this.plan(shape)
    if (!plan.hasAttributes) return ''
    let attrs = ''
    for (const m of plan.members) {
      if (!m.attribute) continue
      const v = value[m.name]
      if (v === undefined || v === null) continue
      attrs += `${m.xmlns} ${m.element}="${escapeXml(formatScalar(m.shape, v, timestampFormatOf(m.ref, m.shape, 'iso8601')))}"`
    }
    return attrs
  }
}
