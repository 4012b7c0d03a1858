/**
 * CreateTags, DeleteTags and DescribeTags, for a resource of any kind whichever capability owns it.
 * The tags themselves are the core's TagStore (core/tags.ts), which the owners also write at create
 * time and read for their Describe* filters; a resource's kind is its id's prefix, and the owner of
 * that kind answers whether the account has it (core/tags.ts, tags.exists.<prefix>).
 */
import {
  AwsError, checkTag, CoreErrors, matchFilters, MAX_TAGS, paginate, resourcePrefix, taggedResourceExists, TagErrors, TagStore,
  type ActionHandler, type ActionSpec, type Filter, type FilterFields, type Hive, type Tag
} from '../../core/index.js'

export const TAG_ACTIONS: Record<string, ActionSpec> = {
  CreateTags: {
    note: 'Instances, images, volumes, snapshots, key pairs and import tasks; the capability that owns the resource confirms it exists (InvalidVolume.NotFound and the like otherwise, or when no node serves that capability).'
  },
  DeleteTags: {},
  DescribeTags: { note: 'Filters key, value, resource-id, resource-type and tag:<key>. Tags are listed by resource id, then key.' }
}

interface ResourceKind {
  /** The ResourceType EC2 names the kind with (TagSpecification, DescribeTags). */
  type: string
  notFound: (id: string) => AwsError
}

const notFound = (code: string, message: (id: string) => string) => (id: string) => new AwsError(code, message(id), 400)

/** The kinds of resource EC2 ids name, by id prefix, with the error EC2 answers for an id that does not exist. */
const KINDS: Record<string, ResourceKind> = {
  i: { type: 'instance', notFound: notFound('InvalidInstanceID.NotFound', id => `The instance ID '${id}' does not exist`) },
  ami: { type: 'image', notFound: notFound('InvalidAMIID.NotFound', id => `The image id '[${id}]' does not exist`) },
  vol: { type: 'volume', notFound: notFound('InvalidVolume.NotFound', id => `The volume '${id}' does not exist.`) },
  snap: { type: 'snapshot', notFound: notFound('InvalidSnapshot.NotFound', id => `The snapshot '${id}' does not exist.`) },
  key: { type: 'key-pair', notFound: notFound('InvalidKeyPair.NotFound', id => `The key pair ID '${id}' does not exist`) },
  'import-ami': { type: 'import-image-task', notFound: notFound('InvalidConversionTaskId', id => `The import task ID '${id}' does not exist`) },
  'import-snap': { type: 'import-snapshot-task', notFound: notFound('InvalidConversionTaskId', id => `The import task ID '${id}' does not exist`) },
  vpc: { type: 'vpc', notFound: notFound('InvalidVpcID.NotFound', id => `The vpc ID '${id}' does not exist`) },
  subnet: { type: 'subnet', notFound: notFound('InvalidSubnetID.NotFound', id => `The subnet ID '${id}' does not exist`) },
  sg: { type: 'security-group', notFound: notFound('InvalidGroup.NotFound', id => `The security group '${id}' does not exist`) },
  igw: { type: 'internet-gateway', notFound: notFound('InvalidInternetGatewayID.NotFound', id => `The internetGateway ID '${id}' does not exist`) },
  eigw: { type: 'egress-only-internet-gateway', notFound: notFound('InvalidGatewayID.NotFound', id => `The eigw ID '${id}' does not exist`) },
  rtb: { type: 'route-table', notFound: notFound('InvalidRouteTableID.NotFound', id => `The routeTable ID '${id}' does not exist`) },
  acl: { type: 'network-acl', notFound: notFound('InvalidNetworkAclID.NotFound', id => `The networkAcl ID '${id}' does not exist`) },
  eni: { type: 'network-interface', notFound: notFound('InvalidNetworkInterfaceID.NotFound', id => `The networkInterface ID '${id}' does not exist`) },
  eipalloc: { type: 'elastic-ip', notFound: notFound('InvalidAllocationID.NotFound', id => `The allocation ID '${id}' does not exist`) },
  nat: { type: 'natgateway', notFound: notFound('NatGatewayNotFound', id => `The Nat Gateway ${id} was not found`) },
  dopt: { type: 'dhcp-options', notFound: notFound('InvalidDhcpOptionID.NotFound', id => `The dhcpOption ID '${id}' does not exist`) },
  pcx: { type: 'vpc-peering-connection', notFound: notFound('InvalidVpcPeeringConnectionID.NotFound', id => `The vpcPeeringConnection ID '${id}' does not exist`) },
  vpce: { type: 'vpc-endpoint', notFound: notFound('InvalidVpcEndpointId.NotFound', id => `The VpcEndPoint ID '${id}' does not exist`) },
  lt: { type: 'launch-template', notFound: notFound('InvalidLaunchTemplateId.NotFound', id => `The specified launch template, with template ID ${id}, does not exist.`) }
}

/** An EC2 id: a kind's prefix, a dash and 8 (older resources) or 17 lowercase hex digits. */
const ID = /^[a-z]+(?:-[a-z]+)*-(?:[0-9a-f]{8}|[0-9a-f]{17})$/

function kindOf (id: string): ResourceKind {
  const kind = ID.test(id) ? KINDS[resourcePrefix(id)] : undefined
  if (kind === undefined) throw new AwsError('InvalidID', `The ID '${id}' is not valid`, 400)
  return kind
}

interface TagDescription {
  ResourceId: string
  ResourceType: string
  Key: string
  Value: string
  /** All the resource's tags, for the tag:<key> filter. */
  resourceTags: Tag[]
}

const TAG_FILTERS: FilterFields<TagDescription> = {
  key: d => d.Key,
  value: d => d.Value,
  'resource-id': d => d.ResourceId,
  'resource-type': d => d.ResourceType
}

/** A tag's place in DescribeTags' order: by resource id, then key (NUL sorts before any id character). */
const orderKey = (d: TagDescription): string => `${d.ResourceId}\u0000${d.Key}`

/** DescribeTags' MaxResults: 5 to 1000, larger asks get 1000; absent, everything. */
function pageSize (maxResults: number | undefined): number {
  if (maxResults === undefined) return Number.MAX_SAFE_INTEGER
  if (maxResults < 5) throw CoreErrors.invalidParameterValue(`Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value greater than 5.`)
  return Math.min(maxResults, 1000)
}

interface TagsInput {
  Resources?: string[]
  Tags?: Array<{ Key?: string, Value?: string }>
}

interface DescribeTagsInput {
  Filters?: Filter[]
  MaxResults?: number
  NextToken?: string
}

export function tagHandlers (hive: Pick<Hive, 'bus' | 'kv'>): Record<string, ActionHandler> {
  const store = new TagStore(hive.kv)

  /** The distinct resources a request names, each well formed and the account's; the first that is not fails the request. */
  const resourcesOf = async (input: TagsInput, accountId: string): Promise<string[]> => {
    const ids = [...new Set(input.Resources ?? [])]
    if (ids.length === 0) throw CoreErrors.missingParameter('resourceIdSet')
    const kinds = ids.map(kindOf)
    const found = await Promise.all(ids.map(async id => await taggedResourceExists(hive.bus, accountId, id)))
    const missing = found.indexOf(false)
    if (missing !== -1) throw kinds[missing].notFound(ids[missing])
    return ids
  }

  return {
    CreateTags: async (raw, ctx) => {
      const input = raw as TagsInput
      const tags: Tag[] = []
      for (const t of input.Tags ?? []) {
        if (t.Value === undefined) throw CoreErrors.invalidParameterValue('Tag value cannot be null. Use empty string instead.')
        const tag = checkTag(t, true)
        if (tags.some(x => x.Key === tag.Key)) throw TagErrors.duplicateKey(tag.Key)
        tags.push(tag)
      }
      if (tags.length === 0) throw CoreErrors.missingParameter('tagSet')
      if (tags.length > MAX_TAGS) throw TagErrors.limitExceeded()
      const resources = await resourcesOf(input, ctx.accountId)
      for (const id of resources) await store.put(ctx.accountId, id, tags)
      return {}
    },

    DeleteTags: async (raw, ctx) => {
      const input = raw as TagsInput
      // Only the key is checked: the value only selects which tags go.
      const tags = (input.Tags ?? []).map(t => ({ Key: checkTag({ Key: t.Key }, true).Key, ...(t.Value === undefined ? {} : { Value: t.Value }) }))
      const resources = await resourcesOf(input, ctx.accountId)
      for (const id of resources) await store.remove(ctx.accountId, id, tags)
      return {}
    },

    DescribeTags: async (raw, ctx) => {
      const input = raw as DescribeTagsInput
      const size = pageSize(input.MaxResults)
      const all = (await store.list(ctx.accountId)).flatMap(({ resourceId, tags }) => tags.map(t => ({
        ResourceId: resourceId,
        ResourceType: KINDS[resourcePrefix(resourceId)]?.type ?? '',
        Key: t.Key,
        Value: t.Value,
        resourceTags: tags
      })))
      all.sort((a, b) => orderKey(a) < orderKey(b) ? -1 : orderKey(a) > orderKey(b) ? 1 : 0)
      const described = matchFilters(all, input.Filters, TAG_FILTERS, d => d.resourceTags)
      const page = paginate(described, { MaxResults: size, NextToken: input.NextToken }, { pageSize: size }, orderKey)
      return {
        Tags: page.items.map(({ ResourceId, ResourceType, Key, Value }) => ({ ResourceId, ResourceType, Key, Value })),
        ...(page.nextToken === undefined ? {} : { NextToken: page.nextToken })
      }
    }
  }
}
