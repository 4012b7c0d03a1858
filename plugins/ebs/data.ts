/**
 * The data plane under the EBS API: what the volume and snapshot actions ask of the block stores.
 * A volume's blocks live on its home node (the node that created it: its WAL and block map are
 * there, its chunks in the s3 capability's `_ebs` bucket); these calls are routed to that node.
 * A snapshot is a frozen block map whose chunks it shares with the volume, so it lives in `_ebs`
 * and needs no home node.
 */
export interface VolumeDataPlane {
  /**
   * Creates the volume's (empty, all-zero) block store on this node; from a snapshot, the volume
   * starts with the snapshot's blocks, shared copy-on-write. Resolves once the store is durable.
   */
  createVolume: (volumeId: string, sizeBytes: number, snapshotId?: string) => Promise<void>
  /** Removes the volume's store from its home node `node` (its chunks are reclaimed once unreferenced). */
  deleteVolume: (volumeId: string, node: string) => Promise<void>
  /** Grows the volume to `sizeBytes` (never shrinks; the API refuses that first). */
  resizeVolume: (volumeId: string, node: string, sizeBytes: number) => Promise<void>
  /**
   * Snapshots the volume as it is when the call reaches its home node (point in time) and resolves
   * once the snapshot is durable in the store.
   */
  createSnapshot: (volumeId: string, node: string, snapshotId: string) => Promise<void>
  /** A second snapshot with the same blocks (shares every chunk). */
  copySnapshot: (sourceSnapshotId: string, snapshotId: string) => Promise<void>
  /** Drops the snapshot's block map; chunks no other map references are reclaimed. */
  deleteSnapshot: (snapshotId: string) => Promise<void>
}
