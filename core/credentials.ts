/** Who a request acts as, once its signature has been verified. */
export interface Principal {
  accountId: string
  arn: string
  userName?: string
  isRoot: boolean
}

/** An access key as the signature check needs it, and the principal it belongs to. */
export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
  /**
   * Set for temporary (STS) credentials: such a request must carry this exact token in
   * X-Amz-Security-Token, and a request naming a long-term key must carry none.
   */
  sessionToken?: string
  principal: Principal
}

/**
 * Where access keys come from: the root key from config now; the iam capability plugs its own in
 * later. `lookup` resolves to undefined for a key it does not know; it rejects only when the store
 * behind it fails, which the caller reports as an internal error rather than as a bad key.
 */
export interface CredentialsProvider {
  lookup (accessKeyId: string): Promise<Credentials | undefined>
}

/** A fixed set of keys, e.g. the root key from the cluster config. */
export class StaticCredentialsProvider implements CredentialsProvider {
  readonly #byId: ReadonlyMap<string, Credentials>

  constructor (creds: Credentials[]) {
    this.#byId = new Map(creds.map(c => [c.accessKeyId, c]))
  }

  async lookup (accessKeyId: string): Promise<Credentials | undefined> {
    return this.#byId.get(accessKeyId)
  }
}
