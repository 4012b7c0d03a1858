// Large GETs are sent from shard buffers that the next GETs reuse (plugins/s3/read-stream.ts): a
// buffer handed back before its bytes left would show as another object's bytes in a body.
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import aws4 from 'aws4'
import http from 'node:http'
import t from 'tap'
import { startNode } from '../helpers/node.js'
import { pattern, s3Client, sha256 } from './helpers.js'

const node = await startNode({ caps: ['s3'] })
const s3 = s3Client(node)
t.teardown(async () => { s3.destroy(); await node.stop() })
await s3.send(new CreateBucketCommand({ Bucket: 'gets' }))

const SIZE = 24 * 1024 * 1024 + 777
const objects = [pattern(SIZE, 1), pattern(SIZE, 2), pattern(SIZE, 3)]
for (const [i, body] of objects.entries()) await s3.send(new PutObjectCommand({ Bucket: 'gets', Key: `o${i}`, Body: body }))

async function get (key: string, range?: string): Promise<Buffer> {
  const got = await s3.send(new GetObjectCommand({ Bucket: 'gets', Key: key, ...(range === undefined ? {} : { Range: range }) }))
  return Buffer.from(await got.Body!.transformToByteArray())
}

t.test('concurrent GETs of different objects each read back byte-identical', async t => {
  const keys = ['o0', 'o1', 'o2', 'o0', 'o1', 'o2', 'o2', 'o0']
  const bodies = await Promise.all(keys.map(async k => await get(k)))
  bodies.forEach((b, i) => { t.equal(sha256(b), sha256(objects[Number(keys[i][1])]), `GET ${i} (${keys[i]})`) })
})

t.test('ranged GETs across stripes read back the exact bytes', async t => {
  const ranges: Array<[number, number]> = [[0, 9 * 1024 * 1024], [1024 * 1024 - 5, 20 * 1024 * 1024 + 3], [SIZE - 9 * 1024 * 1024, SIZE - 1]]
  const bodies = await Promise.all(ranges.map(async ([a, b]) => await get('o1', `bytes=${a}-${b}`)))
  bodies.forEach((body, i) => {
    const [a, b] = ranges[i]
    t.ok(body.equals(objects[1].subarray(a, b + 1)), `bytes=${a}-${b}`)
  })
})

t.test('clients that go away mid-body leave the node serving, and later GETs intact', async t => {
  const u = new URL(node.endpoint)
  const cut = async (key: string, after: number): Promise<number> => {
    const signed = aws4.sign({ host: u.host, method: 'GET', path: `/gets/${key}`, service: 's3', region: node.region, headers: {} }, node.credentials)
    return await new Promise((resolve, reject) => {
      const req = http.request({ host: u.hostname, port: u.port, method: 'GET', path: `/gets/${key}`, headers: signed.headers as Record<string, string> }, res => {
        let n = 0
        res.on('data', (d: Buffer) => {
          n += d.length
          if (n >= after) {
            req.destroy()
            resolve(n)
          }
        })
        res.on('error', () => {})
      })
      req.on('error', e => { if (!req.destroyed) reject(e) })
      req.end()
    })
  }
  const got = await Promise.all([cut('o0', 1), cut('o1', 3 * 1024 * 1024), cut('o2', 17 * 1024 * 1024), cut('o0', 9 * 1024 * 1024)])
  t.ok(got.every(n => n > 0 && n < SIZE), `cut after ${got.join(', ')} bytes`)
  const bodies = await Promise.all(['o2', 'o1', 'o0'].map(async k => await get(k)))
  t.same(bodies.map(sha256), [sha256(objects[2]), sha256(objects[1]), sha256(objects[0])])
})
