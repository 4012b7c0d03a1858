/**
 * DescribeInstanceTypes over a catalogue of real EC2 instance types.
 *
 * The values are AWS's own (DescribeInstanceTypes in us-east-1), folded into per-family rules:
 * families of one processor generation share a ladder of sizes (vCPUs, network, interfaces, EBS
 * bandwidth) and differ in memory per vCPU and processor. Where AWS is irregular inside a family
 * the family rule wins: t2's per-size clock speeds and on-demand-only t2.nano, c5.12xlarge's and
 * c5.24xlarge's faster clock, and ValidCores starting at 4 on a few of the largest sizes.
 * EFA, ENA Express and Dedicated Hosts are AWS hardware and programs Hive does not have, so every
 * type reports them unsupported.
 */
import { matchFilters, paginate, type ActionHandler, type Filter, type FilterFields } from '../../core/index.js'
import { Ec2Errors } from './errors.js'

/** One size of a ladder: name, vCPUs, network performance, ENIs, IPv4 (and IPv6) addresses per ENI, EBS. */
type Rung = [size: string, vcpus: number, network: string, enis: number, ipsPerEni: number, ebs?: Ebs]

/** EBS-optimized baseline and maximum: bandwidth in Mbps, IOPS. Throughput in MB/s is bandwidth / 8. */
type Ebs = [baselineMbps: number, baselineIops: number, maximumMbps: number, maximumIops: number]

interface Cpu {
  architecture: 'x86_64' | 'arm64'
  manufacturer: 'Intel' | 'AMD' | 'AWS'
  ghz: number
  threadsPerCore: 1 | 2
}

interface Family {
  name: string
  rungs: Rung[]
  memoryMiB: (rung: Rung) => number
  cpu: Cpu
  hypervisor: 'nitro' | 'xen'
  currentGeneration: boolean
  burstable?: boolean
  encryptionInTransit?: boolean
  /** False for a family EC2 hibernates at no size (r6i); otherwise its sizes under 150 GiB hibernate. */
  hibernation?: false
  /** The core counts CPU options accept, from the default core count; absent when the family has no CPU options. */
  validCores?: (cores: number) => number[]
  freeTier?: string[]
}

export interface InstanceTypeInfo {
  InstanceType: string
  CurrentGeneration: boolean
  FreeTierEligible: boolean
  SupportedUsageClasses: string[]
  SupportedRootDeviceTypes: string[]
  SupportedVirtualizationTypes: string[]
  BareMetal: boolean
  Hypervisor: string
  ProcessorInfo: { SupportedArchitectures: string[], SustainedClockSpeedInGhz: number, Manufacturer: string }
  VCpuInfo: { DefaultVCpus: number, DefaultCores: number, DefaultThreadsPerCore: number, ValidCores?: number[], ValidThreadsPerCore?: number[] }
  MemoryInfo: { SizeInMiB: number }
  InstanceStorageSupported: boolean
  EbsInfo: {
    EbsOptimizedSupport: string
    EncryptionSupport: string
    NvmeSupport: string
    EbsOptimizedInfo?: {
      BaselineBandwidthInMbps: number
      BaselineThroughputInMBps: number
      BaselineIops: number
      MaximumBandwidthInMbps: number
      MaximumThroughputInMBps: number
      MaximumIops: number
    }
  }
  NetworkInfo: {
    NetworkPerformance: string
    MaximumNetworkInterfaces: number
    MaximumNetworkCards: number
    DefaultNetworkCardIndex: number
    NetworkCards: Array<{ NetworkCardIndex: number, NetworkPerformance: string, MaximumNetworkInterfaces: number }>
    Ipv4AddressesPerInterface: number
    Ipv6AddressesPerInterface: number
    Ipv6Supported: boolean
    EnaSupport: string
    EfaSupported: boolean
    EncryptionInTransitSupported: boolean
    EnaSrdSupported: boolean
  }
  PlacementGroupInfo: { SupportedStrategies: string[] }
  HibernationSupported: boolean
  BurstablePerformanceSupported: boolean
  DedicatedHostsSupported: boolean
  AutoRecoverySupported: boolean
  SupportedBootModes: string[]
}

const T2: Rung[] = [
  ['nano', 1, 'Low to Moderate', 2, 2],
  ['micro', 1, 'Low to Moderate', 2, 2],
  ['small', 1, 'Low to Moderate', 3, 4],
  ['medium', 2, 'Low to Moderate', 3, 6],
  ['large', 2, 'Low to Moderate', 3, 12],
  ['xlarge', 4, 'Moderate', 3, 15],
  ['2xlarge', 8, 'Moderate', 3, 15]
]

const T3_LARGE: Rung[] = [
  ['large', 2, 'Up to 5 Gigabit', 3, 12, [695, 4000, 2780, 15700]],
  ['xlarge', 4, 'Up to 5 Gigabit', 4, 15, [695, 4000, 2780, 15700]],
  ['2xlarge', 8, 'Up to 5 Gigabit', 4, 15, [695, 4000, 2780, 15700]]
]

const T3: Rung[] = [
  ['nano', 2, 'Up to 5 Gigabit', 2, 2, [43, 250, 2085, 11800]],
  ['micro', 2, 'Up to 5 Gigabit', 2, 2, [87, 500, 2085, 11800]],
  ['small', 2, 'Up to 5 Gigabit', 3, 4, [174, 1000, 2085, 11800]],
  ['medium', 2, 'Up to 5 Gigabit', 3, 6, [347, 2000, 2085, 11800]],
  ...T3_LARGE
]

const T3A: Rung[] = [
  ['nano', 2, 'Up to 5 Gigabit', 2, 2, [45, 250, 2085, 11800]],
  ['micro', 2, 'Up to 5 Gigabit', 2, 2, [90, 500, 2085, 11800]],
  ['small', 2, 'Up to 5 Gigabit', 2, 4, [175, 1000, 2085, 11800]],
  ['medium', 2, 'Up to 5 Gigabit', 3, 6, [350, 2000, 2085, 11800]],
  ...T3_LARGE
]

const INTEL_5: Rung[] = [
  ['large', 2, 'Up to 10 Gigabit', 3, 10, [650, 3600, 4750, 18750]],
  ['xlarge', 4, 'Up to 10 Gigabit', 4, 15, [1150, 6000, 4750, 18750]],
  ['2xlarge', 8, 'Up to 10 Gigabit', 4, 15, [2300, 12000, 4750, 18750]],
  ['4xlarge', 16, 'Up to 10 Gigabit', 8, 30, [4750, 18750, 4750, 18750]],
  ['8xlarge', 32, '10 Gigabit', 8, 30, [6800, 30000, 6800, 30000]],
  ['12xlarge', 48, '12 Gigabit', 8, 30, [9500, 40000, 9500, 40000]],
  ['16xlarge', 64, '20 Gigabit', 15, 50, [13600, 60000, 13600, 60000]],
  ['24xlarge', 96, '25 Gigabit', 15, 50, [19000, 80000, 19000, 80000]]
]

const C5: Rung[] = [
  ['large', 2, 'Up to 10 Gigabit', 3, 10, [650, 4000, 4750, 20000]],
  ['xlarge', 4, 'Up to 10 Gigabit', 4, 15, [1150, 6000, 4750, 20000]],
  ['2xlarge', 8, 'Up to 10 Gigabit', 4, 15, [2300, 10000, 4750, 20000]],
  ['4xlarge', 16, 'Up to 10 Gigabit', 8, 30, [4750, 20000, 4750, 20000]],
  ['9xlarge', 36, '12 Gigabit', 8, 30, [9500, 40000, 9500, 40000]],
  ['12xlarge', 48, '12 Gigabit', 8, 30, [9500, 40000, 9500, 40000]],
  ['18xlarge', 72, '25 Gigabit', 15, 50, [19000, 80000, 19000, 80000]],
  ['24xlarge', 96, '25 Gigabit', 15, 50, [19000, 80000, 19000, 80000]]
]

/** Sizes the 6th and 7th Intel generations share; they differ in their largest size. */
const INTEL_6_7: Rung[] = [
  ['large', 2, 'Up to 12.5 Gigabit', 3, 10, [650, 3600, 10000, 40000]],
  ['xlarge', 4, 'Up to 12.5 Gigabit', 4, 15, [1250, 6000, 10000, 40000]],
  ['2xlarge', 8, 'Up to 12.5 Gigabit', 4, 15, [2500, 12000, 10000, 40000]],
  ['4xlarge', 16, 'Up to 12.5 Gigabit', 8, 30, [5000, 20000, 10000, 40000]],
  ['8xlarge', 32, '12.5 Gigabit', 8, 30, [10000, 40000, 10000, 40000]],
  ['12xlarge', 48, '18.75 Gigabit', 8, 30, [15000, 60000, 15000, 60000]],
  ['16xlarge', 64, '25 Gigabit', 15, 50, [20000, 80000, 20000, 80000]],
  ['24xlarge', 96, '37.5 Gigabit', 15, 50, [30000, 120000, 30000, 120000]]
]
const INTEL_6: Rung[] = [...INTEL_6_7, ['32xlarge', 128, '50 Gigabit', 15, 50, [40000, 160000, 40000, 160000]]]
const INTEL_7: Rung[] = [...INTEL_6_7, ['48xlarge', 192, '50 Gigabit', 15, 50, [40000, 240000, 40000, 240000]]]

const GRAVITON_2: Rung[] = [
  ['medium', 1, 'Up to 10 Gigabit', 2, 4, [315, 2500, 4750, 20000]],
  ['large', 2, 'Up to 10 Gigabit', 3, 10, [630, 3600, 4750, 20000]],
  ['xlarge', 4, 'Up to 10 Gigabit', 4, 15, [1188, 6000, 4750, 20000]],
  ['2xlarge', 8, 'Up to 10 Gigabit', 4, 15, [2375, 12000, 4750, 20000]],
  ['4xlarge', 16, 'Up to 10 Gigabit', 8, 30, [4750, 20000, 4750, 20000]],
  ['8xlarge', 32, '12 Gigabit', 8, 30, [9500, 40000, 9500, 40000]],
  ['12xlarge', 48, '20 Gigabit', 8, 30, [14250, 50000, 14250, 50000]],
  ['16xlarge', 64, '25 Gigabit', 15, 50, [19000, 80000, 19000, 80000]]
]

const GRAVITON_3: Rung[] = [
  ['medium', 1, 'Up to 12.5 Gigabit', 2, 4, [315, 2500, 10000, 40000]],
  ['large', 2, 'Up to 12.5 Gigabit', 3, 10, [630, 3600, 10000, 40000]],
  ['xlarge', 4, 'Up to 12.5 Gigabit', 4, 15, [1250, 6000, 10000, 40000]],
  ['2xlarge', 8, 'Up to 15 Gigabit', 4, 15, [2500, 12000, 10000, 40000]],
  ['4xlarge', 16, 'Up to 15 Gigabit', 8, 30, [5000, 20000, 10000, 40000]],
  ['8xlarge', 32, '15 Gigabit', 8, 30, [10000, 40000, 10000, 40000]],
  ['12xlarge', 48, '22.5 Gigabit', 8, 30, [15000, 60000, 15000, 60000]],
  ['16xlarge', 64, '30 Gigabit', 15, 50, [20000, 80000, 20000, 80000]]
]

/** Burstable sizes have the same memory in every t family. */
const BURSTABLE_MIB: Record<string, number> = { nano: 512, micro: 1024, small: 2048, medium: 4096, large: 8192, xlarge: 16384, '2xlarge': 32768 }
const burstableMemory = ([size]: Rung): number => BURSTABLE_MIB[size]
const gibPerVcpu = (gib: number) => ([, vcpus]: Rung): number => vcpus * gib * 1024

const intel = (ghz: number): Cpu => ({ architecture: 'x86_64', manufacturer: 'Intel', ghz, threadsPerCore: 2 })
const amd = (ghz: number): Cpu => ({ architecture: 'x86_64', manufacturer: 'AMD', ghz, threadsPerCore: 2 })
const graviton = (ghz: number): Cpu => ({ architecture: 'arm64', manufacturer: 'AWS', ghz, threadsPerCore: 1 })

const range = (from: number, to: number, step: number): number[] => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step)
const anyCores = (cores: number): number[] => range(1, cores, 1)
const evenCores = (cores: number): number[] => cores === 1 ? [1] : range(2, cores, 2)
/** The 6th Intel generation also accepts an odd core count up to 2 cores. */
const evenCoresAbove2 = (cores: number): number[] => cores <= 2 ? anyCores(cores) : evenCores(cores)

const FAMILIES: Family[] = [
  { name: 't2', rungs: T2, memoryMiB: burstableMemory, cpu: { ...intel(2.3), threadsPerCore: 1 }, hypervisor: 'xen', currentGeneration: true, burstable: true },
  { name: 't3', rungs: T3, memoryMiB: burstableMemory, cpu: intel(2.5), hypervisor: 'nitro', currentGeneration: true, burstable: true, validCores: evenCores, freeTier: ['micro', 'small'] },
  { name: 't3a', rungs: T3A, memoryMiB: burstableMemory, cpu: amd(2.2), hypervisor: 'nitro', currentGeneration: true, burstable: true, validCores: evenCores },
  { name: 't4g', rungs: T3, memoryMiB: burstableMemory, cpu: graviton(2.5), hypervisor: 'nitro', currentGeneration: true, burstable: true, validCores: anyCores, freeTier: ['micro', 'small'] },
  { name: 'm5', rungs: INTEL_5, memoryMiB: gibPerVcpu(4), cpu: intel(3.1), hypervisor: 'nitro', currentGeneration: false, validCores: evenCores },
  { name: 'm6i', rungs: INTEL_6, memoryMiB: gibPerVcpu(4), cpu: intel(3.5), hypervisor: 'nitro', currentGeneration: false, encryptionInTransit: true, validCores: evenCoresAbove2 },
  { name: 'm7i', rungs: INTEL_7, memoryMiB: gibPerVcpu(4), cpu: intel(3.2), hypervisor: 'nitro', currentGeneration: true, encryptionInTransit: true, validCores: anyCores },
  { name: 'm6g', rungs: GRAVITON_2, memoryMiB: gibPerVcpu(4), cpu: graviton(2.5), hypervisor: 'nitro', currentGeneration: true, validCores: anyCores },
  { name: 'm7g', rungs: GRAVITON_3, memoryMiB: gibPerVcpu(4), cpu: graviton(2.6), hypervisor: 'nitro', currentGeneration: true, encryptionInTransit: true, validCores: anyCores },
  { name: 'c5', rungs: C5, memoryMiB: gibPerVcpu(2), cpu: intel(3.4), hypervisor: 'nitro', currentGeneration: false, validCores: evenCores },
  { name: 'c6i', rungs: INTEL_6, memoryMiB: gibPerVcpu(2), cpu: intel(3.5), hypervisor: 'nitro', currentGeneration: true, encryptionInTransit: true, validCores: evenCoresAbove2 },
  { name: 'c7i', rungs: INTEL_7, memoryMiB: gibPerVcpu(2), cpu: intel(3.2), hypervisor: 'nitro', currentGeneration: true, encryptionInTransit: true, validCores: anyCores },
  { name: 'c6g', rungs: GRAVITON_2, memoryMiB: gibPerVcpu(2), cpu: graviton(2.5), hypervisor: 'nitro', currentGeneration: true, validCores: anyCores },
  { name: 'c7g', rungs: GRAVITON_3, memoryMiB: gibPerVcpu(2), cpu: graviton(2.6), hypervisor: 'nitro', currentGeneration: true, encryptionInTransit: true, validCores: anyCores },
  { name: 'r5', rungs: INTEL_5, memoryMiB: gibPerVcpu(8), cpu: intel(3.1), hypervisor: 'nitro', currentGeneration: false, validCores: evenCores },
  { name: 'r6i', rungs: INTEL_6, memoryMiB: gibPerVcpu(8), cpu: intel(3.5), hypervisor: 'nitro', currentGeneration: false, encryptionInTransit: true, hibernation: false, validCores: evenCoresAbove2 },
  { name: 'r7i', rungs: INTEL_7, memoryMiB: gibPerVcpu(8), cpu: intel(3.2), hypervisor: 'nitro', currentGeneration: true, encryptionInTransit: true, validCores: anyCores },
  { name: 'r6g', rungs: GRAVITON_2, memoryMiB: gibPerVcpu(8), cpu: graviton(2.5), hypervisor: 'nitro', currentGeneration: true, validCores: anyCores },
  { name: 'r7g', rungs: GRAVITON_3, memoryMiB: gibPerVcpu(8), cpu: graviton(2.6), hypervisor: 'nitro', currentGeneration: true, encryptionInTransit: true, validCores: anyCores }
]

/** EC2 hibernates only instances with less than 150 GiB of memory. */
const HIBERNATION_LIMIT_MIB = 150 * 1024
/** A 32-bit (i386) AMI cannot address more than 4 GiB, so EC2 offers i386 only on sizes that small. */
const I386_LIMIT_MIB = 4 * 1024

function describe (f: Family, rung: Rung): InstanceTypeInfo {
  const [size, vcpus, network, enis, ips, ebs] = rung
  const memory = f.memoryMiB(rung)
  const cores = vcpus / f.cpu.threadsPerCore
  const xen = f.hypervisor === 'xen'
  return {
    InstanceType: `${f.name}.${size}`,
    CurrentGeneration: f.currentGeneration,
    FreeTierEligible: f.freeTier?.includes(size) ?? false,
    SupportedUsageClasses: ['on-demand', 'spot'],
    SupportedRootDeviceTypes: ['ebs'],
    SupportedVirtualizationTypes: ['hvm'],
    BareMetal: false,
    Hypervisor: f.hypervisor,
    ProcessorInfo: {
      SupportedArchitectures: xen && memory <= I386_LIMIT_MIB ? ['i386', f.cpu.architecture] : [f.cpu.architecture],
      SustainedClockSpeedInGhz: f.cpu.ghz,
      Manufacturer: f.cpu.manufacturer
    },
    VCpuInfo: {
      DefaultVCpus: vcpus,
      DefaultCores: cores,
      DefaultThreadsPerCore: f.cpu.threadsPerCore,
      // A single vCPU leaves CPU options nothing to choose.
      ...(f.validCores !== undefined && vcpus > 1 ? { ValidCores: f.validCores(cores), ValidThreadsPerCore: range(1, f.cpu.threadsPerCore, 1) } : {})
    },
    MemoryInfo: { SizeInMiB: memory },
    InstanceStorageSupported: false,
    EbsInfo: {
      EbsOptimizedSupport: ebs === undefined ? 'unsupported' : 'default',
      EncryptionSupport: 'supported',
      NvmeSupport: xen ? 'unsupported' : 'required',
      ...(ebs === undefined
        ? {}
        : {
            EbsOptimizedInfo: {
              BaselineBandwidthInMbps: ebs[0],
              BaselineThroughputInMBps: ebs[0] / 8,
              BaselineIops: ebs[1],
              MaximumBandwidthInMbps: ebs[2],
              MaximumThroughputInMBps: ebs[2] / 8,
              MaximumIops: ebs[3]
            }
          })
    },
    NetworkInfo: {
      NetworkPerformance: network,
      MaximumNetworkInterfaces: enis,
      MaximumNetworkCards: 1,
      DefaultNetworkCardIndex: 0,
      NetworkCards: [{ NetworkCardIndex: 0, NetworkPerformance: network, MaximumNetworkInterfaces: enis }],
      Ipv4AddressesPerInterface: ips,
      Ipv6AddressesPerInterface: ips,
      Ipv6Supported: true,
      EnaSupport: xen ? 'unsupported' : 'required',
      EfaSupported: false,
      EncryptionInTransitSupported: f.encryptionInTransit ?? false,
      EnaSrdSupported: false
    },
    // Cluster placement is for low-latency networking, which burstable types are not offered for.
    PlacementGroupInfo: { SupportedStrategies: f.burstable === true ? ['partition', 'spread'] : ['cluster', 'partition', 'spread'] },
    HibernationSupported: f.hibernation !== false && memory < HIBERNATION_LIMIT_MIB,
    BurstablePerformanceSupported: f.burstable ?? false,
    DedicatedHostsSupported: false,
    AutoRecoverySupported: true,
    SupportedBootModes: f.cpu.architecture === 'arm64' ? ['uefi'] : xen ? ['legacy-bios'] : ['legacy-bios', 'uefi']
  }
}

/** Sorted by name with plain string order, the order pagination tokens compare in. */
const CATALOGUE: InstanceTypeInfo[] = FAMILIES.flatMap(f => f.rungs.map(rung => describe(f, rung)))
  .sort((a, b) => a.InstanceType < b.InstanceType ? -1 : 1)
const KNOWN = new Set(CATALOGUE.map(t => t.InstanceType))

const ebsOptimized = (t: InstanceTypeInfo): InstanceTypeInfo['EbsInfo']['EbsOptimizedInfo'] => t.EbsInfo.EbsOptimizedInfo
/** No catalogued type has instance storage or EFA, so filters on their details match nothing. */
const absent = (): undefined => undefined

const FILTERS: FilterFields<InstanceTypeInfo> = {
  'auto-recovery-supported': t => t.AutoRecoverySupported,
  'bare-metal': t => t.BareMetal,
  'burstable-performance-supported': t => t.BurstablePerformanceSupported,
  'current-generation': t => t.CurrentGeneration,
  'ebs-info.ebs-optimized-info.baseline-bandwidth-in-mbps': t => ebsOptimized(t)?.BaselineBandwidthInMbps,
  'ebs-info.ebs-optimized-info.baseline-iops': t => ebsOptimized(t)?.BaselineIops,
  'ebs-info.ebs-optimized-info.baseline-throughput-in-mbps': t => ebsOptimized(t)?.BaselineThroughputInMBps,
  'ebs-info.ebs-optimized-info.maximum-bandwidth-in-mbps': t => ebsOptimized(t)?.MaximumBandwidthInMbps,
  'ebs-info.ebs-optimized-info.maximum-iops': t => ebsOptimized(t)?.MaximumIops,
  'ebs-info.ebs-optimized-info.maximum-throughput-in-mbps': t => ebsOptimized(t)?.MaximumThroughputInMBps,
  'ebs-info.ebs-optimized-support': t => t.EbsInfo.EbsOptimizedSupport,
  'ebs-info.encryption-support': t => t.EbsInfo.EncryptionSupport,
  'ebs-info.nvme-support': t => t.EbsInfo.NvmeSupport,
  'free-tier-eligible': t => t.FreeTierEligible,
  'hibernation-supported': t => t.HibernationSupported,
  hypervisor: t => t.Hypervisor,
  'instance-storage-info.disk.count': absent,
  'instance-storage-info.disk.size-in-gb': absent,
  'instance-storage-info.disk.type': absent,
  'instance-storage-info.encryption-support': absent,
  'instance-storage-info.nvme-support': absent,
  'instance-storage-info.total-size-in-gb': absent,
  'instance-storage-supported': t => t.InstanceStorageSupported,
  'instance-type': t => t.InstanceType,
  'memory-info.size-in-mib': t => t.MemoryInfo.SizeInMiB,
  'network-info.efa-info.maximum-efa-interfaces': absent,
  'network-info.efa-supported': t => t.NetworkInfo.EfaSupported,
  'network-info.ena-support': t => t.NetworkInfo.EnaSupport,
  'network-info.encryption-in-transit-supported': t => t.NetworkInfo.EncryptionInTransitSupported,
  'network-info.ipv4-addresses-per-interface': t => t.NetworkInfo.Ipv4AddressesPerInterface,
  'network-info.ipv6-addresses-per-interface': t => t.NetworkInfo.Ipv6AddressesPerInterface,
  'network-info.ipv6-supported': t => t.NetworkInfo.Ipv6Supported,
  'network-info.maximum-network-cards': t => t.NetworkInfo.MaximumNetworkCards,
  'network-info.maximum-network-interfaces': t => t.NetworkInfo.MaximumNetworkInterfaces,
  'network-info.network-performance': t => t.NetworkInfo.NetworkPerformance,
  'processor-info.supported-architecture': t => t.ProcessorInfo.SupportedArchitectures,
  'processor-info.sustained-clock-speed-in-ghz': t => t.ProcessorInfo.SustainedClockSpeedInGhz,
  'supported-boot-mode': t => t.SupportedBootModes,
  'supported-root-device-type': t => t.SupportedRootDeviceTypes,
  'supported-usage-class': t => t.SupportedUsageClasses,
  'supported-virtualization-type': t => t.SupportedVirtualizationTypes,
  'vcpu-info.default-cores': t => t.VCpuInfo.DefaultCores,
  'vcpu-info.default-threads-per-core': t => t.VCpuInfo.DefaultThreadsPerCore,
  'vcpu-info.default-vcpus': t => t.VCpuInfo.DefaultVCpus,
  'vcpu-info.valid-cores': t => t.VCpuInfo.ValidCores,
  'vcpu-info.valid-threads-per-core': t => t.VCpuInfo.ValidThreadsPerCore
}

interface DescribeInstanceTypesRequest {
  InstanceTypes?: string[]
  Filters?: Filter[]
  MaxResults?: number
  NextToken?: string
}

export const describeInstanceTypes: ActionHandler = input => {
  const req = input as DescribeInstanceTypesRequest
  let types = CATALOGUE
  if (req.InstanceTypes !== undefined && req.InstanceTypes.length > 0) {
    const unknown = [...new Set(req.InstanceTypes)].filter(name => !KNOWN.has(name))
    if (unknown.length > 0) {
      throw Ec2Errors.invalidInstanceTypes(unknown)
    }
    const wanted = new Set(req.InstanceTypes)
    types = types.filter(t => wanted.has(t.InstanceType))
  }
  const page = paginate(matchFilters(types, req.Filters, FILTERS), req, { pageSize: 100 }, t => t.InstanceType)
  return { InstanceTypes: page.items, NextToken: page.nextToken }
}

const BY_NAME = new Map(CATALOGUE.map(t => [t.InstanceType, t]))

/** The catalogue entry of an instance type, undefined for a name EC2 does not have. */
export function instanceTypeInfo (name: string): InstanceTypeInfo | undefined {
  return BY_NAME.get(name)
}
