/**
 * The cloud-init NoCloud seed attached to each instance as a CD-ROM: how the guest gets its
 * instance id, hostname, public keys and user-data before any network is up. cloud-init's NoCloud
 * data source reads a volume labelled `cidata` (vfat or iso9660) holding these files at its root:
 *   meta-data       YAML: instance-id, local-hostname, public-keys (a list of OpenSSH lines)
 *   user-data       the user's bytes verbatim (a script, #cloud-config, gzip, MIME multipart, …)
 *   network-config  optional, network config version 1 or 2
 *
 * The image is ISO 9660 written here, so no mkisofs is needed on the host. It is what
 * `genisoimage -volid cidata -joliet` makes, reduced to one directory:
 *
 *   sector 0–15   system area, zeros
 *   16            primary volume descriptor (type 1): volume id "cidata", root directory at 23
 *   17            Joliet supplementary volume descriptor (type 2, escape sequence "%/E" = UCS-2
 *                 level 3): the same volume in UCS-2 big-endian, root directory at 24
 *   18            volume descriptor set terminator (type 255)
 *   19, 20        primary path table, little- then big-endian: one record, the root
 *   21, 22        Joliet path table, the same
 *   23            primary root directory: ".", "..", then the files by 8.3 names (META_DAT.;1, …)
 *   24            Joliet root directory: ".", "..", then the files by their real lowercase names
 *   25…           the file contents, each from a sector boundary; both directories point at them
 *   then          zeros to a multiple of 16 sectors, and 150 more (see TAIL_PADDING)
 *
 * The Joliet tree is what carries the names: cloud-init wants `meta-data`, which ISO 9660 level 1
 * cannot spell, and Linux mounts the Joliet tree by default when there is no Rock Ridge. The volume id
 * is lowercase like cloud-localds's (blkid reports LABEL="cidata"). Numbers are "both-endian"
 * (ECMA-119 §7.2.3 / 7.3.3: little-endian then big-endian copies); dates are UTC.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface SeedSpec {
  instanceId: string
  hostname: string
  /** OpenSSH public key lines, e.g. the key pair's `ssh-ed25519 AAAA… name`. */
  publicKeys: string[]
  /** The instance's user data, decoded from RunInstances' base64. */
  userData?: Buffer
  /** A cloud-init network config (YAML), when the guest must not just DHCP its first NIC. */
  networkConfig?: string
}

/** What a guest launched without user data gets: valid cloud-config that changes nothing. */
const EMPTY_USER_DATA = '#cloud-config\n{}\n'
const SECTOR = 2048
const VOLUME_ID = 'cidata'

/** Writes `dir/seed.iso` for the instance (atomically: a guest never sees half of it) and returns its path. */
export async function buildSeed (dir: string, spec: SeedSpec): Promise<string> {
  const files: SeedFile[] = [
    { name: 'meta-data', isoName: 'META_DAT.;1', data: Buffer.from(metaData(spec)) },
    { name: 'user-data', isoName: 'USER_DAT.;1', data: spec.userData ?? Buffer.from(EMPTY_USER_DATA) }
  ]
  if (spec.networkConfig !== undefined) files.push({ name: 'network-config', isoName: 'NETWORK_.;1', data: Buffer.from(spec.networkConfig) })
  await mkdir(dir, { recursive: true })
  const path = join(dir, 'seed.iso')
  await writeFile(`${path}.tmp`, isoImage(files, new Date()))
  await rename(`${path}.tmp`, path)
  return path
}

/** The meta-data YAML; every value double-quoted (JSON strings are YAML), so no hostname or key comment can break it. */
function metaData (spec: SeedSpec): string {
  const lines = [`instance-id: ${JSON.stringify(spec.instanceId)}`, `local-hostname: ${JSON.stringify(spec.hostname)}`]
  if (spec.publicKeys.length > 0) lines.push('public-keys:', ...spec.publicKeys.map(k => `  - ${JSON.stringify(k.trim())}`))
  return lines.join('\n') + '\n'
}

interface SeedFile {
  /** The Joliet name, what the guest sees. */
  name: string
  /** The ISO 9660 level 1 name, for readers that ignore Joliet. */
  isoName: string
  data: Buffer
}

const PVD_SECTOR = 16
const PATH_TABLES = 19
const PRIMARY_ROOT = 23
const JOLIET_ROOT = 24
const FIRST_FILE = 25
/**
 * Zero sectors after the content, inside the volume, as genisoimage pads by default: Linux's CD-ROM
 * read-ahead fails at the end of a short disc, and the guest then cannot read the label at all
 * (seen here: a 28-sector seed was not found by the test guest; padded, it was).
 */
const TAIL_PADDING = 150
/** A path table holds one 10-byte record: the root's. */
const PATH_TABLE_SIZE = 10

function isoImage (files: SeedFile[], now: Date): Buffer {
  const extents: number[] = []
  let next = FIRST_FILE
  for (const f of files) {
    extents.push(next)
    next += Math.ceil(f.data.length / SECTOR)
  }
  const totalSectors = Math.ceil(next / 16) * 16 + TAIL_PADDING
  const image = Buffer.alloc(totalSectors * SECTOR)
  const at = (sector: number): Buffer => image.subarray(sector * SECTOR, (sector + 1) * SECTOR)

  const trees = [
    { root: PRIMARY_ROOT, pathTable: PATH_TABLES, name: (f: SeedFile) => Buffer.from(f.isoName, 'ascii') },
    { root: JOLIET_ROOT, pathTable: PATH_TABLES + 2, name: (f: SeedFile) => ucs2(f.name) }
  ]
  for (const [i, tree] of trees.entries()) {
    const entries = files.map((f, n) => ({ name: tree.name(f), extent: extents[n], size: f.data.length }))
      .sort((a, b) => Buffer.compare(a.name, b.name))
    const records = [
      dirRecord(Buffer.of(0), tree.root, SECTOR, true, now),
      dirRecord(Buffer.of(1), tree.root, SECTOR, true, now),
      ...entries.map(e => dirRecord(e.name, e.extent, e.size, false, now))
    ]
    // Three files' records take well under the one sector each directory has.
    Buffer.concat(records).copy(at(tree.root))
    pathTable(tree.root, 'LE').copy(at(tree.pathTable))
    pathTable(tree.root, 'BE').copy(at(tree.pathTable + 1))
    volumeDescriptor(i === 0 ? 'primary' : 'joliet', totalSectors, tree.pathTable, tree.root, now).copy(at(PVD_SECTOR + i))
  }
  const terminator = at(PVD_SECTOR + 2)
  terminator[0] = 255
  terminator.write('CD001', 1, 'ascii')
  terminator[6] = 1
  for (const [n, f] of files.entries()) f.data.copy(image, extents[n] * SECTOR)
  return image
}

/** ECMA-119 §8.4 (primary) and §8.5 (supplementary, here Joliet). */
function volumeDescriptor (kind: 'primary' | 'joliet', totalSectors: number, pathTable: number, root: number, now: Date): Buffer {
  const d = Buffer.alloc(SECTOR)
  const text = kind === 'primary'
    ? (s: string, len: number) => Buffer.from(s.padEnd(len, ' '), 'ascii')
    : (s: string, len: number) => ucs2(s.padEnd(Math.floor(len / 2), ' '))
  d[0] = kind === 'primary' ? 1 : 2
  d.write('CD001', 1, 'ascii')
  d[6] = 1
  text('LINUX', 32).copy(d, 8)
  text(VOLUME_ID, 32).copy(d, 40)
  both32(totalSectors).copy(d, 80)
  if (kind === 'joliet') d.write('%/E', 88, 'ascii')
  both16(1).copy(d, 120) // volume set size
  both16(1).copy(d, 124) // volume sequence number
  both16(SECTOR).copy(d, 128)
  both32(PATH_TABLE_SIZE).copy(d, 132)
  d.writeUInt32LE(pathTable, 140)
  d.writeUInt32BE(pathTable + 1, 148)
  dirRecord(Buffer.of(0), root, SECTOR, true, now).copy(d, 156)
  text('', 128).copy(d, 190) // volume set
  text('', 128).copy(d, 318) // publisher
  text('', 128).copy(d, 446) // data preparer
  text('HIVE', 128).copy(d, 574) // application
  text('', 37).copy(d, 702) // copyright, abstract and bibliographic file ids
  text('', 37).copy(d, 739)
  text('', 37).copy(d, 776)
  longDate(now).copy(d, 813) // creation
  longDate(now).copy(d, 830) // modification
  longDate(undefined).copy(d, 847) // expiration: none
  longDate(undefined).copy(d, 864) // effective: at once
  d[881] = 1 // file structure version
  return d
}

/** One path table record for the root (ECMA-119 §9.4): the only directory. */
function pathTable (root: number, order: 'LE' | 'BE'): Buffer {
  const r = Buffer.alloc(PATH_TABLE_SIZE)
  r[0] = 1 // identifier length: the root's is one 0x00 byte
  if (order === 'LE') {
    r.writeUInt32LE(root, 2)
    r.writeUInt16LE(1, 6)
  } else {
    r.writeUInt32BE(root, 2)
    r.writeUInt16BE(1, 6)
  }
  return r
}

/** A directory record (ECMA-119 §9.1); name 0x00 is ".", 0x01 is "..". */
function dirRecord (name: Buffer, extent: number, size: number, directory: boolean, now: Date): Buffer {
  const length = 33 + name.length + (name.length % 2 === 0 ? 1 : 0)
  const r = Buffer.alloc(length)
  r[0] = length
  both32(extent).copy(r, 2)
  both32(size).copy(r, 10)
  r[18] = now.getUTCFullYear() - 1900
  r[19] = now.getUTCMonth() + 1
  r[20] = now.getUTCDate()
  r[21] = now.getUTCHours()
  r[22] = now.getUTCMinutes()
  r[23] = now.getUTCSeconds()
  r[25] = directory ? 2 : 0
  both16(1).copy(r, 28)
  r[32] = name.length
  name.copy(r, 33)
  return r
}

/** "YYYYMMDDHHMMSScc" and a zero GMT offset (ECMA-119 §8.4.26.1); all '0' digits for no date. */
function longDate (date: Date | undefined): Buffer {
  const digits = date === undefined ? '0'.repeat(16) : date.toISOString().replace(/[-T:Z]/g, '').replace('.', '').slice(0, 16)
  return Buffer.concat([Buffer.from(digits, 'ascii'), Buffer.of(0)])
}

function ucs2 (s: string): Buffer {
  return Buffer.from(s, 'utf16le').swap16()
}

function both16 (n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt16LE(n, 0)
  b.writeUInt16BE(n, 2)
  return b
}

function both32 (n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt32LE(n, 0)
  b.writeUInt32BE(n, 4)
  return b
}
