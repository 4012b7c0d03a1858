/**
 * EBS encryption by default and the default KMS key, per account (a Hive cluster is one region, so
 * per region as on AWS). Hive records the encryption a volume or snapshot would have — its
 * Encrypted flag and key — but does not encrypt the blocks, and has no KMS: a key id is taken as
 * given, in its ARN form, without checking that the key exists.
 */
import type { ActionHandler, ActionSpec, NodeInfo } from '../../core/index.js'
import { EbsErrors } from './errors.js'
import type { EbsDeps } from './records.js'

const DEFAULT_KEY_ALIAS = 'alias/aws/ebs'
const NOT_ENCRYPTED = 'Hive stores the setting and applies it to new volumes and snapshot copies (their Encrypted flag and key); it does not encrypt the blocks.'

export const ENCRYPTION_ACTIONS: Record<string, ActionSpec> = {
  GetEbsEncryptionByDefault: {},
  EnableEbsEncryptionByDefault: { note: NOT_ENCRYPTED },
  DisableEbsEncryptionByDefault: {},
  GetEbsDefaultKmsKeyId: {},
  ModifyEbsDefaultKmsKeyId: { note: 'Hive has no KMS: the key is recorded as given (in ARN form), not checked.' },
  ResetEbsDefaultKmsKeyId: {}
}

const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^mrk-[0-9a-f]{32}$/
const KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key\/.+|alias\/.+)$/

/** A KMS key as EC2 records it: an ARN, whatever form the request named it in (id, alias, ARN). */
export function kmsKeyArn (keyId: string, node: Pick<NodeInfo, 'region'>, accountId: string): string {
  if (KEY_ARN.test(keyId)) return keyId
  if (KEY_ID.test(keyId)) return `arn:aws:kms:${node.region}:${accountId}:key/${keyId}`
  if (/^alias\/[A-Za-z0-9/_-]+$/.test(keyId)) return `arn:aws:kms:${node.region}:${accountId}:${keyId}`
  throw EbsErrors.invalidKmsKey(keyId)
}

/**
 * The encryption of a new volume or snapshot copy: encrypted when its source is, when asked, or
 * when the account encrypts by default; the key is the one named, else the source's, else the
 * account's default. A key without Encrypted is refused unless encryption is on by default.
 */
export async function encryptionFor (deps: EbsDeps, accountId: string, req: { Encrypted?: boolean, KmsKeyId?: string }, source?: { encrypted: boolean, kmsKeyId?: string }): Promise<{ encrypted: boolean, kmsKeyId?: string }> {
  const settings = await deps.store.accountSettings(accountId)
  const encrypted = source?.encrypted === true || req.Encrypted === true || settings.encryptionByDefault
  if (req.KmsKeyId !== undefined && req.Encrypted !== true && !settings.encryptionByDefault) throw EbsErrors.kmsKeyNeedsEncrypted()
  if (!encrypted) return { encrypted }
  const node = deps.hive.node
  const kmsKeyId = req.KmsKeyId !== undefined
    ? kmsKeyArn(req.KmsKeyId, node, accountId)
    : source?.kmsKeyId ?? settings.kmsKeyId ?? kmsKeyArn(DEFAULT_KEY_ALIAS, node, accountId)
  return { encrypted, kmsKeyId }
}

export function encryptionHandlers (deps: EbsDeps): Record<string, ActionHandler> {
  const { settings } = deps.store
  const setDefault = async (accountId: string, encryptionByDefault: boolean): Promise<{ EbsEncryptionByDefault: boolean }> => {
    await settings.modify(accountId, cur => ({ ...(cur ?? {}), encryptionByDefault }))
    return { EbsEncryptionByDefault: encryptionByDefault }
  }
  const setKey = async (accountId: string, kmsKeyId: string | undefined): Promise<{ KmsKeyId: string }> => {
    await settings.modify(accountId, cur => {
      const next: { encryptionByDefault: boolean, kmsKeyId?: string } = { encryptionByDefault: cur?.encryptionByDefault ?? false }
      if (kmsKeyId !== undefined) next.kmsKeyId = kmsKeyId
      return next
    })
    return { KmsKeyId: kmsKeyId ?? DEFAULT_KEY_ALIAS }
  }
  return {
    GetEbsEncryptionByDefault: async (_input, ctx) =>
      ({ EbsEncryptionByDefault: (await deps.store.accountSettings(ctx.accountId)).encryptionByDefault }),
    EnableEbsEncryptionByDefault: async (_input, ctx) => await setDefault(ctx.accountId, true),
    DisableEbsEncryptionByDefault: async (_input, ctx) => await setDefault(ctx.accountId, false),
    GetEbsDefaultKmsKeyId: async (_input, ctx) =>
      ({ KmsKeyId: (await deps.store.accountSettings(ctx.accountId)).kmsKeyId ?? DEFAULT_KEY_ALIAS }),
    ModifyEbsDefaultKmsKeyId: async (input, ctx) =>
      await setKey(ctx.accountId, kmsKeyArn(String(input.KmsKeyId), deps.hive.node, ctx.accountId)),
    ResetEbsDefaultKmsKeyId: async (_input, ctx) => await setKey(ctx.accountId, undefined)
  }
}
