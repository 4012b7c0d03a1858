import { DescribeInstanceTypesCommand, EC2Client, paginateDescribeInstanceTypes } from '@aws-sdk/client-ec2'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { ActionContext } from '../../core/index.js'
import { describeInstanceTypes, type InstanceTypeInfo } from '../../plugins/ec2/instance-types.js'
import { aws, sdkConfig, startNode } from '../helpers/node.js'

// The handler reads nothing from the request context.
const ctx = {} as ActionContext

type Page = { InstanceTypes: InstanceTypeInfo[], NextToken?: string }

async function describe (input: Record<string, unknown>): Promise<Page> {
  return await describeInstanceTypes(input, ctx) as Page
}

/** Every instance type the input selects, walking all pages. */
async function all (input: Record<string, unknown> = {}): Promise<InstanceTypeInfo[]> {
  const out: InstanceTypeInfo[] = []
  let token: string | undefined
  do {
    const page = await describe({ ...input, NextToken: token })
    out.push(...page.InstanceTypes)
    token = page.NextToken
  } while (token !== undefined)
  return out
}

const names = (types: Array<{ InstanceType?: string }> | undefined): string[] => (types ?? []).map(x => x.InstanceType ?? '')

async function filtered (...filters: Array<[string, ...string[]]>): Promise<string[]> {
  return names(await all({ Filters: filters.map(([Name, ...Values]) => ({ Name, Values })) }))
}

const FAMILIES = ['t2', 't3', 't3a', 't4g', 'm5', 'm6i', 'm7i', 'c5', 'c6i', 'c7i', 'r5', 'r6i']

t.test('DescribeInstanceTypes - the catalogue has every required family, sorted by name, without duplicates', async t => {
  const list = names(await all())
  t.ok(list.length > 100, `${list.length} types, more than one default page`)
  t.same(list, [...list].sort((a, b) => a < b ? -1 : 1))
  t.equal(new Set(list).size, list.length)
  for (const family of FAMILIES) t.ok(list.some(n => n.startsWith(`${family}.`)), `has ${family}`)
  t.same(list.filter(n => n.startsWith('t3.')).sort(), ['t3.2xlarge', 't3.large', 't3.medium', 't3.micro', 't3.nano', 't3.small', 't3.xlarge'])
  t.same(list.filter(n => n.startsWith('c5.')).sort(), ['c5.12xlarge', 'c5.18xlarge', 'c5.24xlarge', 'c5.2xlarge', 'c5.4xlarge', 'c5.9xlarge', 'c5.large', 'c5.xlarge'])
})

t.test('DescribeInstanceTypes - sizes carry AWS\'s specifications', async t => {
  const found = (await describe({ InstanceTypes: ['t2.micro', 't3.micro', 't4g.small', 'm5.large', 'm7i.48xlarge', 'c6g.medium', 'r6i.32xlarge'] })).InstanceTypes
  const byName = (name: string): InstanceTypeInfo => found.find(x => x.InstanceType === name) as InstanceTypeInfo
  const [t2, t3, t4g, m5, m7i, c6g, r6i] = ['t2.micro', 't3.micro', 't4g.small', 'm5.large', 'm7i.48xlarge', 'c6g.medium', 'r6i.32xlarge'].map(byName)
  t.match(t2, {
    InstanceType: 't2.micro',
    Hypervisor: 'xen',
    VCpuInfo: { DefaultVCpus: 1, DefaultCores: 1, DefaultThreadsPerCore: 1 },
    MemoryInfo: { SizeInMiB: 1024 },
    ProcessorInfo: { SupportedArchitectures: ['i386', 'x86_64'], Manufacturer: 'Intel' },
    EbsInfo: { EbsOptimizedSupport: 'unsupported', NvmeSupport: 'unsupported' },
    NetworkInfo: { EnaSupport: 'unsupported', NetworkPerformance: 'Low to Moderate', MaximumNetworkInterfaces: 2, Ipv4AddressesPerInterface: 2 },
    SupportedBootModes: ['legacy-bios'],
    BurstablePerformanceSupported: true,
    FreeTierEligible: false
  })
  t.equal(t2.VCpuInfo.ValidCores, undefined, 't2 has no CPU options')
  t.match(t3, {
    Hypervisor: 'nitro',
    FreeTierEligible: true,
    VCpuInfo: { DefaultVCpus: 2, DefaultCores: 1, DefaultThreadsPerCore: 2, ValidCores: [1], ValidThreadsPerCore: [1, 2] },
    EbsInfo: { EbsOptimizedSupport: 'default', NvmeSupport: 'required', EbsOptimizedInfo: { BaselineBandwidthInMbps: 87, BaselineThroughputInMBps: 10.875, BaselineIops: 500, MaximumBandwidthInMbps: 2085, MaximumIops: 11800 } },
    PlacementGroupInfo: { SupportedStrategies: ['partition', 'spread'] }
  })
  t.match(t4g, { ProcessorInfo: { SupportedArchitectures: ['arm64'], Manufacturer: 'AWS' }, VCpuInfo: { DefaultCores: 2, ValidCores: [1, 2] }, SupportedBootModes: ['uefi'], FreeTierEligible: true })
  t.match(m5, {
    CurrentGeneration: false,
    MemoryInfo: { SizeInMiB: 8192 },
    ProcessorInfo: { SustainedClockSpeedInGhz: 3.1 },
    NetworkInfo: { NetworkPerformance: 'Up to 10 Gigabit', MaximumNetworkInterfaces: 3, Ipv4AddressesPerInterface: 10, Ipv6AddressesPerInterface: 10 },
    EbsInfo: { EbsOptimizedInfo: { BaselineBandwidthInMbps: 650, BaselineIops: 3600, MaximumBandwidthInMbps: 4750, MaximumThroughputInMBps: 593.75, MaximumIops: 18750 } },
    PlacementGroupInfo: { SupportedStrategies: ['cluster', 'partition', 'spread'] },
    HibernationSupported: true,
    BurstablePerformanceSupported: false
  })
  t.match(m7i, { VCpuInfo: { DefaultVCpus: 192, DefaultCores: 96 }, MemoryInfo: { SizeInMiB: 786432 }, NetworkInfo: { NetworkPerformance: '50 Gigabit', EncryptionInTransitSupported: true }, HibernationSupported: false })
  t.match(c6g, { VCpuInfo: { DefaultVCpus: 1 }, MemoryInfo: { SizeInMiB: 2048 } })
  t.equal(c6g.VCpuInfo.ValidCores, undefined, 'one vCPU leaves nothing to choose')
  t.match(r6i, { MemoryInfo: { SizeInMiB: 1048576 }, CurrentGeneration: false, HibernationSupported: false })
  t.same(r6i.VCpuInfo.ValidCores?.slice(0, 3), [2, 4, 6])
})

t.test('DescribeInstanceTypes - InstanceTypes selects exactly those', async t => {
  t.same(names((await describe({ InstanceTypes: ['t3.micro', 'm7i.large', 't3.micro'] })).InstanceTypes), ['m7i.large', 't3.micro'])
})

t.test('DescribeInstanceTypes - unknown type → InvalidInstanceType naming every unknown one', async t => {
  await t.rejects(async () => await describe({ InstanceTypes: ['t3.micro', 'x9.huge', 't3.gigantic'] }),
    { code: 'InvalidInstanceType', message: 'The following supplied instance types do not exist: [x9.huge, t3.gigantic]', statusCode: 400 })
})

t.test('DescribeInstanceTypes - instance-type filter takes wildcards', async t => {
  t.same(await filtered(['instance-type', 't3*.micro']), ['t3.micro', 't3a.micro'])
  t.same(await filtered(['instance-type', 'm?i.large', 'c7g.medium']), ['c7g.medium', 'm6i.large', 'm7i.large'])
  t.same(await filtered(['instance-type', 'no-such.*']), [])
})

t.test('DescribeInstanceTypes - boolean, numeric and list filters, ANDed across filters', async t => {
  t.same(await filtered(['free-tier-eligible', 'true']), ['t3.micro', 't3.small', 't4g.micro', 't4g.small'])
  t.same(await filtered(['hypervisor', 'xen']), names(await all({ Filters: [{ Name: 'instance-type', Values: ['t2.*'] }] })))
  t.equal((await filtered(['burstable-performance-supported', 'true'])).length, 28)
  t.same(await filtered(['vcpu-info.default-vcpus', '2'], ['memory-info.size-in-mib', '4096'], ['processor-info.supported-architecture', 'arm64']),
    ['c6g.large', 'c7g.large', 't4g.medium'])
  t.ok((await filtered(['current-generation', 'false'])).every(n => /^(m5|m6i|c5|r5|r6i)\./.test(n)))
  t.equal((await filtered(['processor-info.supported-architecture', 'i386'])).length, 4, 't2 up to 4 GiB')
  const threeCores = await filtered(['vcpu-info.valid-cores', '3'])
  t.ok(threeCores.includes('m7i.2xlarge') && threeCores.includes('t4g.xlarge'), 'families with any core count')
  t.notOk(threeCores.some(n => /^(m5|c5|r5|t3)\./.test(n)), 'not those with even core counts only')
  const everything = (await all()).length
  for (const [name, value] of [['bare-metal', 'false'], ['supported-root-device-type', 'ebs'], ['supported-virtualization-type', 'hvm'],
    ['supported-usage-class', 'spot'], ['instance-storage-supported', 'false'], ['auto-recovery-supported', 'true'], ['network-info.ipv6-supported', 'true']]) {
    t.equal((await filtered([name, value])).length, everything, `${name}=${value} matches every type`)
  }
  for (const [name, value] of [['bare-metal', 'true'], ['supported-virtualization-type', 'paravirtual'], ['instance-storage-info.disk.count', '*'],
    ['network-info.efa-supported', 'true'], ['supported-root-device-type', 'instance-store']]) {
    t.same(await filtered([name, value]), [], `${name}=${value} matches nothing`)
  }
  t.same(await filtered(['ebs-info.ebs-optimized-info.maximum-iops', '240000']), ['c7i.48xlarge', 'm7i.48xlarge', 'r7i.48xlarge'])
})

t.test('DescribeInstanceTypes - an unknown filter → InvalidParameterValue', async t => {
  await t.rejects(async () => await describe({ Filters: [{ Name: 'instance-family', Values: ['t3'] }] }),
    { code: 'InvalidParameterValue', message: "The filter 'instance-family' is invalid" })
})

t.test('DescribeInstanceTypes - pages of MaxResults join up to the whole list', async t => {
  const whole = names(await all())
  const first = await describe({ MaxResults: 5 })
  t.equal(first.InstanceTypes.length, 5)
  t.type(first.NextToken, 'string')
  t.same(names(await all({ MaxResults: 7 })), whole)
  const filteredPages = await all({ MaxResults: 5, Filters: [{ Name: 'instance-type', Values: ['t*'] }] })
  t.equal(filteredPages.length, 28)
  const last = await describe({ MaxResults: 100, NextToken: (await describe({ MaxResults: 100 })).NextToken })
  t.equal(last.NextToken, undefined, 'the last page has no NextToken')
})

t.test('DescribeInstanceTypes - without MaxResults a page holds 100', async t => {
  const page = await describe({})
  t.equal(page.InstanceTypes.length, 100)
  t.type(page.NextToken, 'string')
})

t.test('DescribeInstanceTypes - a bad NextToken → InvalidPaginationToken', async t => {
  await t.rejects(async () => await describe({ NextToken: 'not-a-token' }), { code: 'InvalidPaginationToken' })
})

t.test('through a real node', async t => {
  const node = await startNode({ caps: ['ec2'] })
  t.teardown(async () => { await node.stop() })
  const ec2 = new EC2Client(sdkConfig(node))
  t.teardown(() => { ec2.destroy() })
  const whole = names(await all())

  t.test('aws ec2 describe-instance-types - the CLI pages through the whole catalogue', async t => {
    const r = aws(node, ['ec2', 'describe-instance-types'])
    t.equal(r.status, 0, r.stderr)
    t.same(names(r.json?.InstanceTypes), whole)
  })

  t.test('aws ec2 describe-instance-types --page-size 5 - many small pages, same list', async t => {
    const r = aws(node, ['ec2', 'describe-instance-types', '--page-size', '5'])
    t.equal(r.status, 0, r.stderr)
    t.same(names(r.json?.InstanceTypes), whole)
  })

  t.test('aws ec2 describe-instance-types --max-items then --starting-token - the rest', async t => {
    const head = aws(node, ['ec2', 'describe-instance-types', '--max-items', '7', '--page-size', '5'])
    t.equal(head.status, 0, head.stderr)
    t.equal(head.json?.InstanceTypes.length, 7)
    t.type(head.json?.NextToken, 'string')
    const rest = aws(node, ['ec2', 'describe-instance-types', '--starting-token', head.json?.NextToken])
    t.equal(rest.status, 0, rest.stderr)
    t.same([...names(head.json?.InstanceTypes), ...names(rest.json?.InstanceTypes)], whole)
  })

  t.test('aws ec2 describe-instance-types --instance-types', async t => {
    const r = aws(node, ['ec2', 'describe-instance-types', '--instance-types', 't3.micro', 'c7i.large'])
    t.equal(r.status, 0, r.stderr)
    t.same(names(r.json?.InstanceTypes), ['c7i.large', 't3.micro'])
    t.match(r.json?.InstanceTypes[1], { VCpuInfo: { DefaultVCpus: 2 }, MemoryInfo: { SizeInMiB: 1024 }, ProcessorInfo: { SupportedArchitectures: ['x86_64'] } })
  })

  t.test('aws ec2 describe-instance-types --filters - wildcard and several filters', async t => {
    const r = aws(node, ['ec2', 'describe-instance-types', '--filters', 'Name=instance-type,Values=t4g.*', 'Name=vcpu-info.default-vcpus,Values=2,4'])
    t.equal(r.status, 0, r.stderr)
    t.same(names(r.json?.InstanceTypes), ['t4g.large', 't4g.medium', 't4g.micro', 't4g.nano', 't4g.small', 't4g.xlarge'])
    const free = aws(node, ['ec2', 'describe-instance-types', '--filters', 'Name=free-tier-eligible,Values=true'])
    t.same(names(free.json?.InstanceTypes), ['t3.micro', 't3.small', 't4g.micro', 't4g.small'])
  })

  t.test('aws ec2 describe-instance-types - a bad instance type → InvalidInstanceType', async t => {
    const r = aws(node, ['ec2', 'describe-instance-types', '--instance-types', 't3.micro', 'x9.huge'])
    t.not(r.status, 0)
    t.match(r.stderr, '(InvalidInstanceType) when calling the DescribeInstanceTypes operation')
    t.match(r.stderr, 'The following supplied instance types do not exist: [x9.huge]')
  })

  t.test('aws ec2 describe-instance-types - a bad filter name → InvalidParameterValue', async t => {
    const r = aws(node, ['ec2', 'describe-instance-types', '--filters', 'Name=instance-family,Values=t3'])
    t.match(r.stderr, "(InvalidParameterValue) when calling the DescribeInstanceTypes operation")
    t.match(r.stderr, "The filter 'instance-family' is invalid")
  })

  t.test('aws ec2 describe-instance-types --page-size out of range → the CLI refuses, and so does the node', async t => {
    const r = aws(node, ['ec2', 'describe-instance-types', '--page-size', '4'])
    t.not(r.status, 0)
    t.match(r.stderr, 'Invalid value for parameter MaxResults, value: 4, valid min value: 5')
    // With the CLI's own checks off the request reaches the node.
    const config = join(node.home, 'aws-config-no-validation')
    writeFileSync(config, '[default]\nparameter_validation = false\n')
    for (const size of ['4', '101']) {
      const unchecked = aws(node, ['ec2', 'describe-instance-types', '--page-size', size], { AWS_CONFIG_FILE: config })
      t.not(unchecked.status, 0)
      t.match(unchecked.stderr, '(InvalidParameterValue) when calling the DescribeInstanceTypes operation', `page size ${size}`)
    }
  })

  t.test('aws ec2 describe-instance-types - a bad starting token → InvalidPaginationToken', async t => {
    const r = aws(node, ['ec2', 'describe-instance-types', '--starting-token', 'not-a-token'])
    t.not(r.status, 0)
    t.match(r.stderr, '(InvalidPaginationToken)')
  })

  t.test('aws ec2 describe-instance-types --dry-run → DryRunOperation', async t => {
    const r = aws(node, ['ec2', 'describe-instance-types', '--dry-run'])
    t.not(r.status, 0)
    t.match(r.stderr, '(DryRunOperation)')
  })

  t.test('sdk paginateDescribeInstanceTypes - the pages join to the whole list, no duplicates', async t => {
    const seen: string[] = []
    let pages = 0
    for await (const page of paginateDescribeInstanceTypes({ client: ec2, pageSize: 9 }, {})) {
      pages++
      t.ok((page.InstanceTypes ?? []).length <= 9)
      seen.push(...names(page.InstanceTypes))
    }
    t.equal(pages, Math.ceil(whole.length / 9))
    t.equal(new Set(seen).size, seen.length)
    t.same(seen, whole)
  })

  t.test('sdk DescribeInstanceTypes - InstanceTypes and wildcard filters', async t => {
    const out = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['r6i.large'] }))
    t.match(out.InstanceTypes, [{ InstanceType: 'r6i.large', MemoryInfo: { SizeInMiB: 16384 }, EbsInfo: { EbsOptimizedInfo: { BaselineIops: 3600 } }, NetworkInfo: { NetworkCards: [{ NetworkCardIndex: 0 }] } }])
    const wild = await ec2.send(new DescribeInstanceTypesCommand({ Filters: [{ Name: 'instance-type', Values: ['c?g.medium'] }] }))
    t.same(names(wild.InstanceTypes), ['c6g.medium', 'c7g.medium'])
    t.equal(wild.NextToken, undefined)
  })

  t.test('sdk DescribeInstanceTypes - errors and DryRun', async t => {
    await t.rejects(ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['x9.huge' as 't3.micro'] })),
      { name: 'InvalidInstanceType', message: 'The following supplied instance types do not exist: [x9.huge]' })
    await t.rejects(ec2.send(new DescribeInstanceTypesCommand({ Filters: [{ Name: 'bogus', Values: ['x'] }] })), { name: 'InvalidParameterValue' })
    await t.rejects(ec2.send(new DescribeInstanceTypesCommand({ MaxResults: 101 })), { name: 'InvalidParameterValue' })
    await t.rejects(ec2.send(new DescribeInstanceTypesCommand({ MaxResults: 4 })), { name: 'InvalidParameterValue' })
    await t.rejects(ec2.send(new DescribeInstanceTypesCommand({ NextToken: 'not-a-token' })), { name: 'InvalidPaginationToken' })
    await t.rejects(ec2.send(new DescribeInstanceTypesCommand({ DryRun: true })), { name: 'DryRunOperation' })
  })
})
