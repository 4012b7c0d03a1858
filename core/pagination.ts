import { CoreErrors } from './errors.js'

export interface PageRequest {
  MaxResults?: number
  NextToken?: string
}

export interface PageLimits {
  /** The page size when MaxResults is absent. MaxResults' own range is checked from the model. */
  pageSize: number
  /** The code a bad NextToken gets: EC2 says InvalidPaginationToken, SSM InvalidNextToken. */
  invalidTokenCode?: string
}

export interface Page<T> {
  items: T[]
  nextToken?: string
}

/**
 * One page of an already sorted list. The token names the key of the last item returned (opaque
 * base64url), so a page stays correct when items before it are added or removed between calls.
 */
export function paginate<T> (items: T[], req: PageRequest, limits: PageLimits, keyOf: (item: T) => string): Page<T> {
  const size = req.MaxResults ?? limits.pageSize
  let start = 0
  if (req.NextToken !== undefined && req.NextToken !== '') {
    const after = decodeToken(req.NextToken, limits.invalidTokenCode ?? 'InvalidPaginationToken')
    start = items.findIndex(i => keyOf(i) > after)
    if (start === -1) start = items.length
  }
  const page = items.slice(start, start + size)
  const more = start + size < items.length
  return more ? { items: page, nextToken: encodeToken(keyOf(page[page.length - 1])) } : { items: page }
}

function encodeToken (key: string): string {
  return Buffer.from(JSON.stringify({ after: key }), 'utf8').toString('base64url')
}

function decodeToken (token: string, code: string): string {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown }
    if (typeof v.after === 'string') return v.after
  } catch {}
  throw CoreErrors.invalidPaginationToken(code)
}
