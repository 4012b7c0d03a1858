import t from 'tap'
import { readdirSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ServiceModel } from '../../core/model.js'

const SHIPPED = ['ebs', 'ec2', 'iam', 's3', 'ssm', 'sts']

t.test('model - a bare name, a path and a file URL load the same file once', async t => {
  const model = ServiceModel.load('ec2')
  const file = fileURLToPath(new URL('../../models/ec2.json', import.meta.url))
  t.equal(ServiceModel.load(file), model)
  t.equal(ServiceModel.load(pathToFileURL(file).href), model)
  t.throws(() => ServiceModel.load('no-such-service'), /no model named 'no-such-service'/)
  t.throws(() => model.shape('NoSuchShape'), /EC2 model has no shape NoSuchShape/)
})

t.test('model - available() names the models shipped in models/, and each loads', async t => {
  const dir = fileURLToPath(new URL('../../models/', import.meta.url))
  t.same(ServiceModel.available(), SHIPPED)
  t.same(ServiceModel.available(), readdirSync(dir).filter(f => f.endsWith('.json') && f !== 'VERSION.json').map(f => f.slice(0, -5)).sort())
  for (const name of SHIPPED) t.equal(ServiceModel.load(name).metadata.protocol.length > 0, true, name)
})

t.test('model - a bare name not shipped is refused with the list, whatever it looks like', async t => {
  // 'version' would be VERSION.json on a case-insensitive filesystem; the others are inherited property names.
  for (const name of ['no-such-service', 'version', 'constructor', 'tostring', 'ec2-', '-']) {
    t.throws(() => ServiceModel.load(name), { message: `no model named '${name}' in ${fileURLToPath(new URL('../../models', import.meta.url))}; the models are: ${SHIPPED.join(', ')}` }, name)
  }
})

t.test('model - the list available() returns is a copy: changing it ships nothing', async t => {
  ServiceModel.available().push('evil')
  t.same(ServiceModel.available(), SHIPPED)
  t.throws(() => ServiceModel.load('evil'), /no model named 'evil'/)
})
