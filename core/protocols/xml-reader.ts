/**
 * XML request bodies (rest-xml payloads) → input values, by the same naming rules the writer uses
 * (see xml-writer.ts). Namespace prefixes are dropped, so `xsi:type` is read as `type`. A body that
 * is not well-formed, holds a DTD, nests too deeply, or has a value that does not fit its shape is
 * MalformedXML, as S3 answers. Elements the shape does not name are ignored.
 */
import { XMLParser } from 'fast-xml-parser'
import type { ServiceModel, Shape, ShapeRef } from '../model.js'
import { MAX_DEPTH, setEntry } from './guards.js'
import { memoize } from './memoize.js'
import { ProtocolErrors } from './errors.js'
import { INVALID, parseScalar, timestampFormatOf } from './scalars.js'

type XmlNode = string | { [name: string]: XmlNode[] | string | undefined, '#text'?: string }

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  htmlEntities: false,
  maxNestedTags: MAX_DEPTH,
  isArray: (_name: string, _path: unknown, _leaf: boolean, isAttribute: boolean) => !isAttribute
})

const localName = (name: string): string => name.slice(name.indexOf(':') + 1)

function text (node: XmlNode): string {
  return typeof node === 'string' ? node : node['#text'] ?? ''
}

function childrenOf (node: XmlNode, name: string): XmlNode[] {
  if (typeof node === 'string') return []
  const c = node[name]
  return Array.isArray(c) ? c : []
}

export class XmlReader {
  static readonly for = memoize((model: ServiceModel) => new XmlReader(model))

  private constructor (private readonly model: ServiceModel) {}

  /** The value of a body whose root element must be `rootName`. */
  readDocument (body: Buffer, rootName: string, ref: ShapeRef, shape: Shape): unknown {
    const xml = body.toString('utf8')
    if (xml.includes('<!DOCTYPE') || xml.includes('<!doctype')) throw ProtocolErrors.malformedXml()
    let doc: Record<string, XmlNode[]>
    try {
      doc = parser.parse(xml, true)
    } catch {
      throw ProtocolErrors.malformedXml()
    }
    const root = doc[localName(rootName)]
    if (root === undefined || Object.keys(doc).length !== 1) throw ProtocolErrors.malformedXml()
    return this.read(ref, shape, root[0])
  }

  private read (ref: ShapeRef, shape: Shape, node: XmlNode): unknown {
    switch (shape.type) {
      case 'structure': {
        const out: Record<string, unknown> = {}
        for (const [name, memberRef] of Object.entries(shape.members ?? {})) {
          const memberShape = this.model.shape(memberRef.shape)
          const v = this.member(memberRef, memberShape, name, node)
          if (v !== undefined) out[name] = v
        }
        return out
      }
      case 'list': {
        const member = shape.member as ShapeRef
        const itemShape = this.model.shape(member.shape)
        return childrenOf(node, localName(member.locationName ?? 'member')).map(item => this.read(member, itemShape, item))
      }
      case 'map':
        return this.entries(shape, childrenOf(node, 'entry'))
      default: {
        const v = parseScalar(shape, text(node), timestampFormatOf(ref, shape, 'iso8601'))
        if (v === INVALID) throw ProtocolErrors.malformedXml()
        return v
      }
    }
  }

  private member (ref: ShapeRef, shape: Shape, name: string, parent: XmlNode): unknown {
    const element = localName(ref.locationName ?? name)
    if (ref.xmlAttribute === true) {
      const raw = typeof parent === 'string' ? undefined : parent[`@_${element}`]
      return typeof raw === 'string' ? this.read(ref, shape, raw) : undefined
    }
    if (ref.flattened === true || shape.flattened === true) {
      if (shape.type === 'map') {
        const found = childrenOf(parent, element)
        return found.length === 0 ? undefined : this.entries(shape, found)
      }
      if (shape.type === 'list') {
        const member = shape.member as ShapeRef
        const found = childrenOf(parent, localName(member.locationName ?? element))
        const itemShape = this.model.shape(member.shape)
        return found.length === 0 ? undefined : found.map(item => this.read(member, itemShape, item))
      }
    }
    const found = childrenOf(parent, element)
    return found.length === 0 ? undefined : this.read(ref, shape, found[0])
  }

  private entries (shape: Shape, entries: XmlNode[]): Record<string, unknown> {
    const keyRef = shape.key as ShapeRef
    const valueRef = shape.value as ShapeRef
    const valueShape = this.model.shape(valueRef.shape)
    const out: Record<string, unknown> = {}
    for (const entry of entries) {
      const key = childrenOf(entry, localName(keyRef.locationName ?? 'key'))[0]
      const value = childrenOf(entry, localName(valueRef.locationName ?? 'value'))[0]
      if (key === undefined || value === undefined) throw ProtocolErrors.malformedXml()
      setEntry(out, text(key), this.read(valueRef, valueShape, value))
    }
    return out
  }
}
