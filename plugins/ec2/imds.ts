/**
 * The instance metadata service: what a guest reads at http://169.254.169.254 (cloud-init, every AWS SDK).
 *
 * How a guest reaches it. Each instance's QEMU user network carries
 *   guestfwd=tcp:169.254.169.254:80-cmd:<relayCommand(script, socket)>
 * so slirp spawns the relay for every TCP connection the guest opens to that address and joins the
 * connection to the relay's stdin/stdout; the relay joins those to `socket`, the unix socket `listen`
 * serves for that one instance. The socket a request arrives on is therefore the instance asking — a
 * guest cannot claim to be another. The relay is a Perl script (Debian has neither socat nor nc by
 * default) and its command line holds no comma, so it needs no escaping inside QEMU's option syntax.
 *
 * Tokens (IMDSv2). A token is base64url("<instance-id>:<expiry ms>") "." base64url(HMAC-SHA256 of that,
 * keyed per process): nothing is stored, a token copied to another instance fails its check there,
 * and a Hive restart invalidates every token — guests then get 401 and fetch a new one, as SDKs do
 * when AWS rotates its keys.
 *
 * Answers, after AWS's "Instance metadata error codes":
 *   400  PUT /latest/api/token with the TTL header missing or outside 1–21600
 *   401  a token that is malformed, expired or another instance's; no token when HttpTokens=required
 *   403  HttpEndpoint=disabled (every request), or a token PUT carrying X-Forwarded-For (AWS refuses
 *        tokens through proxies)
 *   404  no such path, the instance is unknown (terminated), no user-data, tags when not enabled
 *   405  any method but GET/HEAD on data, or but PUT on the token path
 * Error bodies are the XHTML page AWS's IMDS sends. HttpPutResponseHopLimit cannot be enforced:
 * slirp's guestfwd hands over a byte stream, not IP packets with a TTL.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { join } from 'node:path'

export interface InstanceMetadataOptions {
  httpTokens: 'optional' | 'required'
  httpEndpoint: 'enabled' | 'disabled'
  httpPutResponseHopLimit: number
  instanceMetadataTags: 'enabled' | 'disabled'
}

/** What the instance code provides for one instance; read afresh for every request. */
export interface InstanceMetadata {
  instanceId: string
  imageId: string
  instanceType: string
  hostname: string
  localIpv4: string
  availabilityZone: string
  region: string
  macAddress?: string
  reservationId: string
  accountId: string
  /** When the instance was launched: the identity document's pendingTime. */
  pendingTime: Date
  publicKeys: Array<{ name: string, openssh: string }>
  userData?: Buffer
  /** Virtual device names to device names, e.g. { ami: 'vda', root: '/dev/sda1', ebs1: 'sdf' }. */
  blockDeviceMapping: Record<string, string>
  /** Exposed under meta-data/tags/instance/ only when options.instanceMetadataTags is 'enabled'. */
  tags?: Record<string, string>
  options: InstanceMetadataOptions
}

export interface MetadataRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
}

export interface MetadataResponse {
  status: number
  headers: Record<string, string>
  body: string | Buffer
}

export const TOKEN_HEADER = 'x-aws-ec2-metadata-token'
export const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds'
const MAX_TOKEN_TTL_SECONDS = 21600

/**
 * The command slirp runs per guest connection (guestfwd `cmd:`): the relay script (writeRelay) piping
 * its stdio to `socketPath`. slirp splits it with shell quoting rules and runs it without a PATH
 * search; QEMU's option parser would cut it at a comma, and slirp silently runs nothing when the
 * command is long (a 2,000-character one never ran here), so the script is a file and the command
 * names only it, perl and the socket — none of which may hold a comma.
 */
export function relayCommand (relayScript: string, socketPath: string): string {
  for (const p of [relayScript, socketPath]) {
    if (p.includes(',')) throw new Error(`${p} holds a comma, which QEMU options cannot carry`)
  }
  return [perlPath(), relayScript, socketPath].map(shellQuote).join(' ')
}

/**
 * Writes the relay into `dir` and returns its path. It is Perl: it starts in milliseconds where
 * node takes a tenth of a second idle and seconds on a loaded host — longer than a guest's metadata
 * client waits — and perl-base is Essential on Debian, so it is on every node.
 */
export function writeRelay (dir: string): string {
  mkdirSync(dir, { recursive: true })
  const path = join(dir, 'imds-relay.pl')
  writeFileSync(`${path}.tmp`, RELAY)
  renameSync(`${path}.tmp`, path)
  return path
}

function perlPath (): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, 'perl'))) return join(dir, 'perl')
  }
  return '/usr/bin/perl'
}

// One select loop over both directions. Exits when Hive closes its side, even while the guest
// keeps the connection open. A guest that closes its sending side (nc at the end of its input) is
// not passed on: the metadata service answers a request whose client has half-closed with nothing.
// slirp may hand over its end of the connection non-blocking; the relay reads it blocking.
const RELAY = `
use IO::Socket::UNIX;
use IO::Select;
my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 1;
STDIN->blocking(1);
STDOUT->blocking(1);
my $sel = IO::Select->new(\*STDIN, $s);
sub put { my ($to, $b) = @_; my $o = 0;
  while ($o < length $b) { my $n = syswrite($to, $b, length($b) - $o, $o); exit 0 unless defined $n; $o += $n } }
while (my @ready = $sel->can_read) {
  for my $fh (@ready) {
    my $b;
    my $n = sysread($fh, $b, 65536);
    if ($fh == $s) { exit 0 unless $n; put(\*STDOUT, $b) }
    elsif ($n) { put($s, $b) }
    else { $sel->remove(\*STDIN) }
  }
}
`

function shellQuote (word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`
}

/** A directory of the metadata tree; `listing` replaces the entry names where AWS lists something else. */
interface Dir { entries: Record<string, Node>, listing?: string[] }
type Node = string | Buffer | Dir

function dir (entries: Record<string, Node | undefined>, listing?: string[]): Dir {
  const defined: Record<string, Node> = {}
  for (const [name, node] of Object.entries(entries)) if (node !== undefined) defined[name] = node
  return { entries: defined, listing }
}

function metaData (m: InstanceMetadata): Dir {
  const keys: Record<string, Node> = {}
  m.publicKeys.forEach((k, i) => { keys[String(i)] = dir({ 'openssh-key': k.openssh }) })
  return dir({
    'ami-id': m.imageId,
    'block-device-mapping': dir({ ...m.blockDeviceMapping }),
    hostname: m.hostname,
    'instance-id': m.instanceId,
    'instance-type': m.instanceType,
    'local-hostname': m.hostname,
    'local-ipv4': m.localIpv4,
    mac: m.macAddress,
    placement: dir({ 'availability-zone': m.availabilityZone, region: m.region }),
    'public-keys': dir(keys, m.publicKeys.map((k, i) => `${i}=${k.name}`)),
    'reservation-id': m.reservationId,
    services: dir({ domain: 'amazonaws.com', partition: 'aws' }),
    tags: m.options.instanceMetadataTags === 'enabled' ? dir({ instance: dir({ ...m.tags }) }) : undefined
  })
}

function identityDocument (m: InstanceMetadata): string {
  return JSON.stringify({
    accountId: m.accountId,
    architecture: 'x86_64',
    availabilityZone: m.availabilityZone,
    billingProducts: null,
    devpayProductCodes: null,
    marketplaceProductCodes: null,
    imageId: m.imageId,
    instanceId: m.instanceId,
    instanceType: m.instanceType,
    kernelId: null,
    pendingTime: m.pendingTime.toISOString().replace(/\.\d+Z$/, 'Z'),
    privateIp: m.localIpv4,
    ramdiskId: null,
    region: m.region,
    version: '2017-09-30'
  }, null, 2)
}

/** The whole tree one metadata version serves (every version path — "latest", "2021-07-15" — is this). */
function versionRoot (m: InstanceMetadata): Dir {
  return dir({
    dynamic: dir({ 'instance-identity': dir({ document: identityDocument(m) }) }),
    'meta-data': metaData(m),
    'user-data': m.userData
  })
}

const VERSION = /^(latest|\d{4}-\d{2}-\d{2}|1\.0)$/

function lookupPath (root: Dir, segments: string[]): Node | undefined {
  let node: Node = root
  for (const segment of segments) {
    if (typeof node === 'string' || Buffer.isBuffer(node)) return undefined
    if (!Object.hasOwn(node.entries, segment)) return undefined
    node = node.entries[segment]
  }
  return node
}

function pathSegments (path: string): string[] | undefined {
  try {
    return path.split('?')[0].split('/').filter(s => s !== '').map(s => decodeURIComponent(s))
  } catch {
    return undefined
  }
}

function listing (d: Dir): string {
  return (d.listing ?? Object.entries(d.entries).map(([name, node]) =>
    typeof node === 'string' || Buffer.isBuffer(node) ? name : `${name}/`)).join('\n')
}

function errorPage (status: number, reason: string, headers: Record<string, string> = {}): MetadataResponse {
  const title = `${status} - ${reason}`
  const body = '<?xml version="1.0" encoding="iso-8859-1"?>\n' +
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n' +
    '\t"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n' +
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n' +
    ` <head>\n  <title>${title}</title>\n </head>\n <body>\n  <h1>${title}</h1>\n </body>\n</html>\n`
  return { status, headers: { 'content-type': 'text/html', ...headers }, body }
}

const notFound = (): MetadataResponse => errorPage(404, 'Not Found')

function header (headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

export class MetadataService {
  private readonly key = randomBytes(32)
  private readonly servers = new Map<string, Server>()

  constructor (private readonly lookup: (instanceId: string) => Promise<InstanceMetadata | undefined>) {}

  /** Serves `instanceId`'s metadata on the unix socket `socketPath`, replacing a stale socket file. */
  async listen (instanceId: string, socketPath: string): Promise<void> {
    await this.unlisten(instanceId)
    rmSync(socketPath, { force: true })
    const server = createServer((req, res) => {
      this.handle(instanceId, { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers })
        .catch(() => errorPage(500, 'Internal Server Error'))
        .then(answer => {
          res.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)), server: 'EC2ws' })
          res.end(req.method === 'HEAD' ? undefined : answer.body)
        })
    })
    this.servers.set(instanceId, server)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(socketPath, () => { server.off('error', reject); resolve() })
    })
  }

  async unlisten (instanceId: string): Promise<void> {
    const server = this.servers.get(instanceId)
    if (server === undefined) return
    this.servers.delete(instanceId)
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }

  async close (): Promise<void> {
    await Promise.all([...this.servers.keys()].map(async id => await this.unlisten(id)))
  }

  /** Answers one request from `instanceId`'s guest. */
  async handle (instanceId: string, req: MetadataRequest): Promise<MetadataResponse> {
    const m = await this.lookup(instanceId)
    if (m === undefined) return notFound()
    if (m.options.httpEndpoint === 'disabled') return errorPage(403, 'Forbidden')
    const segments = pathSegments(req.path)
    if (segments === undefined) return notFound()
    if (segments.length === 3 && VERSION.test(segments[0]) && segments[1] === 'api' && segments[2] === 'token') {
      if (req.method !== 'PUT') return errorPage(405, 'Method Not Allowed', { allow: 'PUT' })
      return this.issueToken(instanceId, req.headers)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return errorPage(405, 'Method Not Allowed', { allow: 'GET, HEAD' })

    const token = header(req.headers, TOKEN_HEADER)
    let ttlHeader: Record<string, string> = {}
    if (token !== undefined) {
      const remaining = this.verifyToken(instanceId, token)
      if (remaining === undefined) return errorPage(401, 'Unauthorized')
      ttlHeader = { [TOKEN_TTL_HEADER]: String(remaining) }
    } else if (m.options.httpTokens === 'required') {
      return errorPage(401, 'Unauthorized')
    }

    if (segments.length === 0) return this.text('1.0\nlatest', ttlHeader)
    if (!VERSION.test(segments[0])) return notFound()
    const node = lookupPath(versionRoot(m), segments.slice(1))
    if (node === undefined) return notFound()
    if (Buffer.isBuffer(node)) return { status: 200, headers: { 'content-type': 'application/octet-stream', ...ttlHeader }, body: node }
    if (typeof node === 'string') return this.text(node, ttlHeader, node.startsWith('{') ? 'application/json' : 'text/plain')
    return this.text(listing(node), ttlHeader)
  }

  private text (body: string, headers: Record<string, string>, contentType = 'text/plain'): MetadataResponse {
    return { status: 200, headers: { 'content-type': contentType, ...headers }, body }
  }

  private issueToken (instanceId: string, headers: IncomingHttpHeaders): MetadataResponse {
    if (header(headers, 'x-forwarded-for') !== undefined) return errorPage(403, 'Forbidden')
    const ttl = header(headers, TOKEN_TTL_HEADER)
    if (ttl === undefined || !/^\d{1,5}$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > MAX_TOKEN_TTL_SECONDS) {
      return errorPage(400, 'Missing or Invalid Parameters')
    }
    const claim = Buffer.from(`${instanceId}:${Date.now() + Number(ttl) * 1000}`).toString('base64url')
    return this.text(`${claim}.${this.sign(claim)}`, { [TOKEN_TTL_HEADER]: ttl })
  }

  /** The token's remaining lifetime in whole seconds, or undefined when it is not valid for `instanceId`. */
  private verifyToken (instanceId: string, token: string): number | undefined {
    const [claim, signature, ...rest] = token.split('.')
    if (rest.length > 0 || claim === undefined || signature === undefined) return undefined
    const expected = Buffer.from(this.sign(claim))
    const given = Buffer.from(signature)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    const decoded = Buffer.from(claim, 'base64url').toString()
    const colon = decoded.lastIndexOf(':')
    if (decoded.slice(0, colon) !== instanceId) return undefined
    const remainingMs = Number(decoded.slice(colon + 1)) - Date.now()
    return remainingMs > 0 ? Math.ceil(remainingMs / 1000) : undefined
  }

  private sign (claim: string): string {
    return createHmac('sha256', this.key).update(claim).digest('base64url')
  }
}
