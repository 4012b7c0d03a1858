/**
 * AWS Systems Manager Parameter Store as a Hive capability, written as a third party would write
 * one: it imports only 'hive-cloud' and keeps its state in one JetStream KV bucket
 * (parameters.ts documents the keys). Load it with `hive serve --plugin ./examples/plugin-ssm-parameters`.
 */
import { defineCapability, kvBucketName, type ActionSpec } from 'hive-cloud'
import { parameterActions, type StoredParameter } from './parameters.js'

const PLAIN_SECURE_STRING = 'SecureString values are stored as given, without KMS, and always read back in plain text.'

const READ: ActionSpec = { unsupported: ['WithDecryption'], note: PLAIN_SECURE_STRING }

export default defineCapability({
  name: 'hive-plugin-ssm-parameters',
  capability: 'ssm',
  services: {
    ssm: {
      actions: {
        PutParameter: {
          unsupported: ['KeyId', 'Policies'],
          note: `${PLAIN_SECURE_STRING} KeyId is recorded for DescribeParameters; Policies are ignored. DataType text only.`
        },
        GetParameter: { ...READ, note: `${PLAIN_SECURE_STRING} Version selectors (name:3) work; labels are not kept.` },
        GetParameters: READ,
        GetParametersByPath: { ...READ, note: `${PLAIN_SECURE_STRING} A Label filter matches nothing: labels are not kept.` },
        DeleteParameter: {},
        DescribeParameters: { note: 'Policies is always empty.' }
      }
    }
  },
  async register (_app, hive) {
    const actions = parameterActions(await hive.kv.bucket<StoredParameter>(kvBucketName('ssm', 'parameters')))
    for (const [action, handler] of Object.entries(actions)) hive.serve('ssm', action, handler)
  }
})
