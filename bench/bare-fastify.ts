// The reference for bench/edge.ts: a bare fastify route answering a DescribeAvailabilityZones-sized
// XML body, with no auth, parsing or bus. Prints its URL on stdout.
import Fastify from 'fastify'

const body = '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeAvailabilityZonesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' +
  '<requestId>00000000-0000-0000-0000-000000000000</requestId><availabilityZoneInfo><item><zoneName>us-east-1a</zoneName>' +
  '<zoneState>available</zoneState><regionName>us-east-1</regionName><zoneId>use1-az1</zoneId></item></availabilityZoneInfo>' +
  '</DescribeAvailabilityZonesResponse>'

const app = Fastify()
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_r, b, done) => done(null, b))
app.post('/', async (_req, reply) => await reply.type('text/xml;charset=UTF-8').send(body))
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`${url}\n`)
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
