import { parseArgs, type ParseArgsConfig } from 'node:util'
import { runAdmin } from './admin.js'
import { BUILTIN_CAPABILITIES } from './capabilities.js'
import { defaultDataDir, DEFAULTS, endpointUrl, initNode } from './config.js'
import { redactedNatsUrl } from './nats-server.js'
import { joinUrlPath, startNode } from './node.js'

const HELP = `hive — an AWS-compatible private cloud

Usage:
  hive serve [options]        start a node (runs 'admin init' first when the data dir has no config)
  hive admin init [options]   write the node config, root keys and the 'hive' aws CLI profile
  hive admin CAP CMD [args]   a capability's operator command (e.g. 'hive admin s3 status');
                              reaches the cluster through --nats URL or the --data-dir's embedded bus
  hive --help                 this text

serve options:
  --cap LIST            capabilities to enable, comma-separated (default: all built-in: ${BUILTIN_CAPABILITIES.join(',')})
  --plugin NAME|PATH    load a third-party capability plugin (repeatable)
  --listen HOST:PORT    where the AWS endpoint listens (default ${DEFAULTS.listen})
  --data-dir DIR        node state (default $HIVE_DATA_DIR or ~/.hive)
  --nats URL            join this NATS (cluster) instead of starting the embedded nats-server
  --region R            region this node answers for (default ${DEFAULTS.region})
  --az AZ               availability zone of this node (default <region>a)
  --node-id ID          name of this node in the cluster (default: host name)
  --tls-cert FILE       serve HTTPS with this certificate (with --tls-key)
  --tls-key FILE        private key for --tls-cert
  --s3-dirs LIST        s3: data directories for shards, comma-separated (default <data-dir>/s3/shards)
  --s3-code K+M         s3: Reed-Solomon data+parity shards per stripe (default: by cluster size, see docs/S3.md)
  --ebs-nbd-listen H:P  ebs: also serve this node's volumes over NBD on TCP, unauthenticated: bind
                        it to a trusted network (default: the unix socket <data-dir>/ebs/nbd.sock only)
  --ebs-cache-mib N     ebs: each volume's block cache (default: 1/8 of its size, 16–256 MiB, at
                        most 1/16 of free memory)
  --accel auto|kvm|tcg  ec2: how QEMU runs instances (default auto: KVM when a probe guest runs under it)
  --ec2-cpu-ratio R     ec2: vCPUs offered per host CPU (default 4, like OpenStack's cpu_allocation_ratio)
  --ec2-ram-ratio R     ec2: instance memory offered per MiB of host memory (default 1)
  --ec2-reserved-mib N  ec2: host memory kept out of the offer (default 1024)
  --ec2-disk-ratio R    ec2: provisioned volume bytes allowed per free byte of the data dir (default 1)
  --ec2-reserved-disk-mib N  ec2: free space of the data dir kept out of the offer (default 1024)

admin init options:
  --data-dir DIR, --listen HOST:PORT, --region R, --az AZ, --node-id ID   as above

Environment: HIVE_DATA_DIR, HIVE_LOG_LEVEL (default info), HIVE_NATS_SERVER (nats-server binary).
`

const SHUTDOWN_DEADLINE_MS = 20_000

const COMMON = {
  'data-dir': { type: 'string' },
  listen: { type: 'string' },
  region: { type: 'string' },
  az: { type: 'string' },
  'node-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const satisfies ParseArgsConfig['options']

const SERVE = {
  ...COMMON,
  cap: { type: 'string' },
  plugin: { type: 'string', multiple: true },
  nats: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  's3-dirs': { type: 'string' },
  's3-code': { type: 'string' },
  'ebs-nbd-listen': { type: 'string' },
  'ebs-cache-mib': { type: 'string' },
  accel: { type: 'string' },
  'ec2-cpu-ratio': { type: 'string' },
  'ec2-ram-ratio': { type: 'string' },
  'ec2-reserved-mib': { type: 'string' },
  'ec2-disk-ratio': { type: 'string' },
  'ec2-reserved-disk-mib': { type: 'string' }
} as const satisfies ParseArgsConfig['options']

export async function main (argv: string[]): Promise<number> {
  const [cmd, sub] = argv
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP)
    return cmd === undefined ? 1 : 0
  }
  if (cmd === 'serve') return await serve(argv.slice(1))
  if (cmd === 'admin' && sub === 'init') return adminInit(argv.slice(2))
  if (cmd === 'admin' && sub !== undefined && BUILTIN_CAPABILITIES.includes(sub)) return await adminCapability(sub, argv.slice(2))
  process.stderr.write(`hive: unknown command '${argv.join(' ')}'\n\n${HELP}`)
  return 2
}

function adminInit (args: string[]): number {
  const { values } = parseArgs({ args, options: COMMON, strict: true })
  if (values.help === true) { process.stdout.write(HELP); return 0 }
  const dataDir = values['data-dir'] ?? defaultDataDir()
  const { config, created } = initNode({ dataDir, listen: values.listen, region: values.region, az: values.az, nodeId: values['node-id'] })
  process.stdout.write(`${created ? 'Initialized' : 'Updated'} Hive node '${config.nodeId}' in ${dataDir}\n` +
    `  account ${config.accountId}, region ${config.region}, az ${config.az}, endpoint ${endpointUrl(config)}\n` +
    `  aws CLI profile '${DEFAULTS.profile}' written to ~/.aws/credentials and ~/.aws/config\n\n` +
    'Next: start the node, then ask it something:\n' +
    `  hive serve --data-dir ${dataDir}\n` +
    `  aws --profile ${DEFAULTS.profile} --endpoint-url ${endpointUrl(config)} ec2 describe-availability-zones\n`)
  return 0
}

async function adminCapability (cap: string, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args, options: { 'data-dir': { type: 'string' }, nats: { type: 'string' } }, strict: false, allowPositionals: true
  })
  const rest = args.filter(a => !a.startsWith('--data-dir') && !a.startsWith('--nats') && a !== values['data-dir'] && a !== values.nats)
  return await runAdmin(cap, positionals[0], rest.slice(1), {
    dataDir: typeof values['data-dir'] === 'string' ? values['data-dir'] : defaultDataDir(),
    ...(typeof values.nats === 'string' ? { nats: values.nats } : {})
  })
}

async function serve (args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: SERVE, strict: true })
  if (values.help === true) { process.stdout.write(HELP); return 0 }
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new Error('--tls-cert and --tls-key go together')
  const dataDir = values['data-dir'] ?? defaultDataDir()
  const node = await startNode({
    dataDir,
    capabilities: values.cap === undefined ? BUILTIN_CAPABILITIES : values.cap.split(',').map(s => s.trim()).filter(s => s !== ''),
    plugins: values.plugin ?? [],
    listen: values.listen,
    nats: values.nats,
    region: values.region,
    az: values.az,
    nodeId: values['node-id'],
    tlsCert: values['tls-cert'],
    tlsKey: values['tls-key'],
    settings: Object.fromEntries(Object.entries({
      's3-dirs': values['s3-dirs'],
      's3-code': values['s3-code'],
      'ebs-nbd-listen': values['ebs-nbd-listen'],
      'ebs-cache-mib': values['ebs-cache-mib'],
      accel: values.accel,
      'ec2-cpu-ratio': values['ec2-cpu-ratio'],
      'ec2-ram-ratio': values['ec2-ram-ratio'],
      'ec2-reserved-mib': values['ec2-reserved-mib'],
      'ec2-disk-ratio': values['ec2-disk-ratio'],
      'ec2-reserved-disk-mib': values['ec2-reserved-disk-mib']
    })
      .filter((e): e is [string, string] => e[1] !== undefined))
  })
  const join = values.nats === undefined ? ` (other nodes join with --nats "$(cat ${joinUrlPath(dataDir)})")` : ''
  process.stderr.write(`hive: serving ${node.endpoint} on nats ${redactedNatsUrl(node.natsUrl)}${join}\n` +
    `hive: try: aws --profile ${DEFAULTS.profile} --endpoint-url ${node.endpoint} ec2 describe-availability-zones\n`)
  await new Promise<void>(resolve => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      node.log.info({ signal }, 'shutting down')
      // In-flight requests get this long to finish; the nats-server watchdog still stops the bus
      // if we have to leave without waiting.
      setTimeout(() => { node.log.warn('shutdown deadline passed; exiting'); process.exit(1) }, SHUTDOWN_DEADLINE_MS).unref()
      void node.close().then(resolve)
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  return 0
}
