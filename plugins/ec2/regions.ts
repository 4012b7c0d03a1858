/**
 * DescribeRegions and DescribeAvailabilityZones. A Hive cluster is one region and each node sits in
 * one of its zones (`hive serve --region/--az`): the region is the handling node's, the zones are
 * those of the region's live nodes. Every Hive region and zone is enabled, so AllRegions and AllAvailabilityZones
 * change nothing.
 */
import { matchFilters, type ActionHandler, type Filter, type FilterFields, type Hive } from '../../core/index.js'
import { Ec2Errors } from './errors.js'

interface Region {
  RegionName: string
  Endpoint?: string
  OptInStatus: string
}

interface AvailabilityZone {
  ZoneName: string
  ZoneId: string
  ZoneType: string
  State: string
  OptInStatus: string
  Messages: Array<{ Message: string }>
  RegionName: string
  GroupName: string
  NetworkBorderGroup: string
}

interface DescribeRegionsRequest {
  RegionNames?: string[]
  Filters?: Filter[]
}

interface DescribeAvailabilityZonesRequest {
  ZoneNames?: string[]
  ZoneIds?: string[]
  Filters?: Filter[]
}

const REGION_FILTERS: FilterFields<Region> = {
  endpoint: r => r.Endpoint,
  'opt-in-status': r => r.OptInStatus,
  'region-name': r => r.RegionName
}

const ZONE_FILTERS: FilterFields<AvailabilityZone> = {
  'group-name': z => z.GroupName,
  message: z => z.Messages.map(m => m.Message),
  'opt-in-status': z => z.OptInStatus,
  // Only Local and Wavelength Zones have a parent zone, so these match no Hive zone.
  'parent-zone-id': () => undefined,
  'parent-zone-name': () => undefined,
  'region-name': z => z.RegionName,
  state: z => z.State,
  'zone-id': z => z.ZoneId,
  'zone-name': z => z.ZoneName,
  'zone-type': z => z.ZoneType
}

/**
 * The region's Endpoint is the edge URL of the node that answers, as the cluster registry has it:
 * what a Hive user passes to --endpoint-url, where AWS names its regional host. It is left out
 * until the node has registered.
 */
export function describeRegions (hive: Pick<Hive, 'node' | 'nodes'>): ActionHandler {
  return async input => {
    const req = input as DescribeRegionsRequest
    const self = (await hive.nodes()).find(n => n.nodeId === hive.node.nodeId)
    const region: Region = { RegionName: hive.node.region, Endpoint: self?.endpoint, OptInStatus: 'opt-in-not-required' }
    // EC2 names the alphabetically first region it does not know.
    const unknown = (req.RegionNames ?? []).filter(name => name !== region.RegionName).sort()
    if (unknown.length > 0) throw Ec2Errors.invalidRegion(unknown[0])
    return { Regions: matchFilters([region], req.Filters, REGION_FILTERS) }
  }
}

export function describeAvailabilityZones (hive: Pick<Hive, 'node' | 'nodes'>): ActionHandler {
  return async input => {
    const req = input as DescribeAvailabilityZonesRequest
    const { region } = hive.node
    const names = new Set([hive.node.az, ...(await hive.nodes()).filter(n => n.region === region).map(n => n.az)])
    const zones: AvailabilityZone[] = [...names].sort().map(az => ({
      ZoneName: az,
      ZoneId: zoneIdOf(region, az),
      ZoneType: 'availability-zone',
      State: 'available',
      OptInStatus: 'opt-in-not-required',
      Messages: [],
      RegionName: region,
      GroupName: region,
      NetworkBorderGroup: region
    }))
    const badName = req.ZoneNames?.find(name => !zones.some(z => z.ZoneName === name))
    if (badName !== undefined) throw Ec2Errors.invalidZoneName(badName)
    const badId = req.ZoneIds?.find(id => !zones.some(z => z.ZoneId === id))
    if (badId !== undefined) throw Ec2Errors.invalidZoneId(badId)
    const selected = zones.filter(z => (req.ZoneNames ?? [z.ZoneName]).includes(z.ZoneName) && (req.ZoneIds ?? [z.ZoneId]).includes(z.ZoneId))
    return { AvailabilityZones: matchFilters(selected, req.Filters, ZONE_FILTERS) }
  }
}

const COMPASS: Record<string, string> = { northeast: 'ne', northwest: 'nw', southeast: 'se', southwest: 'sw' }

/**
 * A zone ID in AWS's form: the region abbreviated (us-east-1 → use1, ap-southeast-2 → apse2,
 * us-gov-west-1 → usgw1) and the zone numbered by its letter (us-east-1b → use1-az2). A zone name
 * that is not `<region><letter>` is the region's first zone.
 */
export function zoneIdOf (region: string, az: string): string {
  const abbreviation = region.split('-').map((part, i) => i === 0 || /^\d+$/.test(part) ? part : COMPASS[part] ?? part.charAt(0)).join('')
  const letter = az.startsWith(region) ? az.slice(region.length) : ''
  const n = /^[a-z]$/.test(letter) ? letter.charCodeAt(0) - 'a'.charCodeAt(0) + 1 : 1
  return `${abbreviation}-az${n}`
}
