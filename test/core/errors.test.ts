import t from 'tap'
import { AwsError } from '../../core/errors.js'
t.test('errors - an AwsError survives the bus encoding with code, message and status', async t => {
  const e = new AwsError('X', 'y', 403)
  t.equal(e.fault, 'Sender')
  t.same(AwsError.fromJSON(e.toJSON()).toJSON(), e.toJSON())
})
