/**
 * How much a node may host, after OpenStack's allocation ratios: a node offers its host CPUs ×
 * `--ec2-cpu-ratio` vCPUs and (its memory − `--ec2-reserved-mib`) × `--ec2-ram-ratio` MiB. An
 * instance holds its type's vCPUs and memory from launch until it is stopped or terminated (a
 * stopped instance holds nothing, so StartInstances can meet InsufficientInstanceCapacity, as on
 * EC2). A launch beyond either total is refused with InsufficientInstanceCapacity.
 *
 * The disk is checked too: the old system corrupted guests when the host disk filled under their
 * volumes. A volume is thin — its blocks land in the data dir as they are written — so what a launch
 * may come to need is its volumes' provisioned size; it is refused unless the data dir's free space,
 * less `--ec2-reserved-disk-mib`, covers that size ÷ `--ec2-disk-ratio`.
 */
import { statfs } from 'node:fs/promises'
import { availableParallelism, totalmem } from 'node:os'
import type { InstanceTypeInfo } from './instance-types.js'

export interface CapacitySettings {
  cpuRatio: number
  ramRatio: number
  diskRatio: number
  reservedMemoryMiB: number
  reservedDiskMiB: number
}

/** OpenStack's defaults for CPU (4.0 since Stein) and memory (1.0), a little memory kept for the host. */
const DEFAULTS: CapacitySettings = { cpuRatio: 4, ramRatio: 1, diskRatio: 1, reservedMemoryMiB: 1024, reservedDiskMiB: 1024 }

export function capacitySettings (settings: Record<string, string>): CapacitySettings {
  const num = (flag: string, fallback: number, min: number): number => {
    const raw = settings[flag]
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isFinite(n) || n < min) throw new Error(`--${flag} wants a number ≥ ${min}, not '${raw}'`)
    return n
  }
  return {
    cpuRatio: num('ec2-cpu-ratio', DEFAULTS.cpuRatio, 0.01),
    ramRatio: num('ec2-ram-ratio', DEFAULTS.ramRatio, 0.01),
    diskRatio: num('ec2-disk-ratio', DEFAULTS.diskRatio, 0.01),
    reservedMemoryMiB: num('ec2-reserved-mib', DEFAULTS.reservedMemoryMiB, 0),
    reservedDiskMiB: num('ec2-reserved-disk-mib', DEFAULTS.reservedDiskMiB, 0)
  }
}

/** What one node offers and holds: its answer to the placement call (instance-runner.ts). */
export interface NodeCapacity {
  nodeId: string
  availabilityZone: string
  vcpus: number
  memoryMiB: number
  usedVcpus: number
  usedMemoryMiB: number
  /** Free bytes of the data dir, less the reserve. */
  diskBytes: number
  diskRatio: number
}

export interface Demand { vcpus: number, memoryMiB: number, volumeBytes: number }

export function demandOf (type: InstanceTypeInfo, volumeBytes: number): Demand {
  return { vcpus: type.VCpuInfo.DefaultVCpus, memoryMiB: type.MemoryInfo.SizeInMiB, volumeBytes }
}

export async function nodeCapacity (nodeId: string, availabilityZone: string, dataDir: string, s: CapacitySettings, used: { vcpus: number, memoryMiB: number }): Promise<NodeCapacity> {
  const fs = await statfs(dataDir)
  return {
    nodeId,
    availabilityZone,
    vcpus: Math.floor(availableParallelism() * s.cpuRatio),
    memoryMiB: Math.floor((totalmem() / 2 ** 20 - s.reservedMemoryMiB) * s.ramRatio),
    usedVcpus: used.vcpus,
    usedMemoryMiB: used.memoryMiB,
    diskBytes: Math.max(0, fs.bavail * fs.bsize - s.reservedDiskMiB * 2 ** 20),
    diskRatio: s.diskRatio
  }
}

/** How many instances of `demand` fit on the node now (the disk is checked per instance as well). */
export function instancesThatFit (c: NodeCapacity, demand: Demand): number {
  const cpu = Math.floor((c.vcpus - c.usedVcpus) / demand.vcpus)
  const mem = Math.floor((c.memoryMiB - c.usedMemoryMiB) / demand.memoryMiB)
  const disk = demand.volumeBytes === 0 ? Infinity : Math.floor(c.diskBytes * c.diskRatio / demand.volumeBytes)
  return Math.max(0, Math.min(cpu, mem, disk))
}
