import {
  DeleteParameterCommand, DescribeParametersCommand, GetParameterCommand, GetParametersByPathCommand, GetParametersCommand,
  paginateDescribeParameters, paginateGetParametersByPath, PutParameterCommand, SSMClient,
  type ParameterMetadata, type ParameterStringFilter, type PutParameterCommandInput
} from '@aws-sdk/client-ssm'
import t from 'tap'
import { aws, sdkConfig, startNode, type CliResult } from '../helpers/node.js'

// The example third-party plugin on a real node with no built-in capability, driven by the real aws
// CLI and @aws-sdk/client-ssm. Each test works under its own path so the others' parameters stay out of its way.
t.test('ssm parameters plugin', async t => {
  const node = await startNode({ caps: [], plugins: ['./examples/plugin-ssm-parameters'] })
  t.teardown(async () => { await node.stop() })
  const ssm = new SSMClient(sdkConfig(node))
  t.teardown(() => { ssm.destroy() })

  /** The AWS error code and HTTP status a request failed with. */
  const failure = async (p: Promise<unknown>): Promise<{ code: string, status?: number, message: string }> => {
    try {
      await p
    } catch (e) {
      const err = e as Error & { $metadata?: { httpStatusCode?: number } }
      return { code: err.name, status: err.$metadata?.httpStatusCode, message: err.message }
    }
    throw new Error('the request succeeded')
  }
  const cliCode = (r: CliResult): string | undefined => /An error occurred \((\w+)\)/.exec(r.stderr)?.[1]
  const put = async (input: PutParameterCommandInput): Promise<number | undefined> =>
    (await ssm.send(new PutParameterCommand(input))).Version
  const value = async (name: string): Promise<string | undefined> =>
    (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value
  const describe = async (filters: ParameterStringFilter[]): Promise<ParameterMetadata[]> =>
    (await ssm.send(new DescribeParametersCommand({ ParameterFilters: filters, MaxResults: 50 }))).Parameters ?? []

  await t.test('ssm - put then get through the aws CLI returns the parameter as AWS shapes it', async t => {
    const created = aws(node, ['ssm', 'put-parameter', '--name', '/cli/db.host', '--value', 'db-1', '--type', 'String'])
    t.equal(created.status, 0, created.stderr)
    t.same(created.json, { Version: 1, Tier: 'Standard' })
    const got = aws(node, ['ssm', 'get-parameter', '--name', '/cli/db.host'])
    t.equal(got.status, 0, got.stderr)
    t.match(got.json.Parameter, {
      Name: '/cli/db.host',
      Type: 'String',
      Value: 'db-1',
      Version: 1,
      ARN: `arn:aws:ssm:${node.region}:${node.accountId}:parameter/cli/db.host`,
      DataType: 'text'
    })
    t.ok(Math.abs(Date.parse(got.json.Parameter.LastModifiedDate) - Date.now()) < 60_000, 'LastModifiedDate is now')
  })

  await t.test('ssm - put without overwrite on an existing name → ParameterAlreadyExists', async t => {
    await put({ Name: '/exists/a', Value: '1', Type: 'String' })
    t.match(await failure(put({ Name: '/exists/a', Value: '2', Type: 'String' })), { code: 'ParameterAlreadyExists', status: 400 })
    const cli = aws(node, ['ssm', 'put-parameter', '--name', '/exists/a', '--value', '2', '--type', 'String'])
    t.equal(cliCode(cli), 'ParameterAlreadyExists')
    t.equal(await value('/exists/a'), '1', 'the value is untouched')
  })

  await t.test('ssm - each overwrite adds one to the version and keeps the earlier versions readable as name:version', async t => {
    t.equal(await put({ Name: '/versions/p', Value: 'v1', Type: 'String', Description: 'first' }), 1)
    t.equal(await put({ Name: '/versions/p', Value: 'v2', Overwrite: true }), 2, 'Type may be left out on overwrite')
    t.equal(await put({ Name: '/versions/p', Value: 'v3', Type: 'String', Overwrite: true }), 3)
    const old = await ssm.send(new GetParameterCommand({ Name: '/versions/p:1' }))
    t.match(old.Parameter, { Name: '/versions/p', Value: 'v1', Version: 1, Selector: ':1' })
    const latest = await ssm.send(new GetParameterCommand({ Name: '/versions/p:3' }))
    t.match(latest.Parameter, { Value: 'v3', Version: 3, Selector: ':3' })
    t.equal(await value('/versions/p'), 'v3')
    const [meta] = await describe([{ Key: 'Name', Values: ['/versions/p'] }])
    t.equal(meta.Description, 'first', 'an overwrite without Description keeps it')
  })

  await t.test('ssm - get of a version the parameter never had → ParameterVersionNotFound', async t => {
    await put({ Name: '/versions/q', Value: 'v1', Type: 'String' })
    for (const selector of ['2', '0']) {
      t.match(await failure(ssm.send(new GetParameterCommand({ Name: `/versions/q:${selector}` }))), { code: 'ParameterVersionNotFound', status: 400 })
    }
    t.match(await failure(ssm.send(new GetParameterCommand({ Name: '/versions/q:prod' }))), { code: 'ParameterVersionNotFound' },
      'a label selector: this store keeps no labels')
  })

  await t.test('ssm - only the last 100 versions are kept → ParameterVersionNotFound for older ones', async t => {
    for (let i = 1; i <= 101; i++) await put({ Name: '/versions/many', Value: `v${i}`, Type: 'String', Overwrite: true })
    t.match(await failure(ssm.send(new GetParameterCommand({ Name: '/versions/many:1' }))), { code: 'ParameterVersionNotFound' })
    t.equal(await value('/versions/many:2'), 'v2')
    t.equal(await value('/versions/many:100'), 'v100')
    t.equal(await value('/versions/many'), 'v101')
  })

  await t.test('ssm - 20 concurrent overwrites of one name get versions 2..21, each exactly once', async t => {
    await put({ Name: '/race/p', Value: 'start', Type: 'String' })
    const versions = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await put({ Name: '/race/p', Value: `w${i}`, Type: 'String', Overwrite: true })))
    t.same([...versions].sort((a, b) => (a ?? 0) - (b ?? 0)), Array.from({ length: 20 }, (_, i) => i + 2))
    const final = await ssm.send(new GetParameterCommand({ Name: '/race/p' }))
    t.equal(final.Parameter?.Version, 21)
    const writer = versions.indexOf(21)
    t.equal(final.Parameter?.Value, `w${writer}`, 'the value is the one written as version 21')
    for (let v = 2; v <= 21; v++) t.equal(await value(`/race/p:${v}`), `w${versions.indexOf(v)}`)
  })

  await t.test('ssm - get or delete of a missing name → ParameterNotFound', async t => {
    t.match(await failure(ssm.send(new GetParameterCommand({ Name: '/missing/x' }))), { code: 'ParameterNotFound', status: 400, message: /\/missing\/x/ })
    t.match(await failure(ssm.send(new DeleteParameterCommand({ Name: '/missing/x' }))), { code: 'ParameterNotFound', status: 400 })
    t.equal(cliCode(aws(node, ['ssm', 'get-parameter', '--name', '/missing/x'])), 'ParameterNotFound')
  })

  await t.test('ssm - delete removes the parameter and its history; the name starts again at version 1', async t => {
    await put({ Name: '/deleted/p', Value: 'a', Type: 'String' })
    await put({ Name: '/deleted/p', Value: 'b', Type: 'String', Overwrite: true })
    const del = aws(node, ['ssm', 'delete-parameter', '--name', '/deleted/p'])
    t.equal(del.status, 0, del.stderr)
    t.match(await failure(ssm.send(new GetParameterCommand({ Name: '/deleted/p' }))), { code: 'ParameterNotFound' })
    t.equal(await put({ Name: '/deleted/p', Value: 'c', Type: 'String' }), 1)
    t.match(await failure(ssm.send(new GetParameterCommand({ Name: '/deleted/p:2' }))), { code: 'ParameterVersionNotFound' })
  })

  await t.test("ssm - 'db' and '/db' name the same root-level parameter", async t => {
    await put({ Name: '/rootlevel', Value: 'x', Type: 'String' })
    const got = await ssm.send(new GetParameterCommand({ Name: 'rootlevel' }))
    t.match(got.Parameter, { Name: 'rootlevel', ARN: `arn:aws:ssm:${node.region}:${node.accountId}:parameter/rootlevel` })
    t.match(await failure(put({ Name: 'rootlevel', Value: 'y', Type: 'String' })), { code: 'ParameterAlreadyExists' })
    const top = await ssm.send(new GetParametersByPathCommand({ Path: '/' }))
    t.ok(top.Parameters?.some(p => p.Name === 'rootlevel'), 'it is a child of /')
    t.notOk(top.Parameters?.some(p => p.Name === '/cli/db.host'), 'a one-level listing of / leaves deeper names out')
  })

  await t.test('ssm - get-parameters returns what it found and lists the rest as InvalidParameters', async t => {
    await put({ Name: '/many/a', Value: 'A', Type: 'String' })
    await put({ Name: '/many/b', Value: 'B1', Type: 'StringList' })
    await put({ Name: '/many/b', Value: 'B2,x', Overwrite: true })
    const r = await ssm.send(new GetParametersCommand({ Names: ['/many/a', '/many/b:1', '/many/none', '/many/a:7'] }))
    t.same(r.Parameters?.map(p => [p.Name, p.Value, p.Version, p.Type]), [['/many/a', 'A', 1, 'String'], ['/many/b', 'B1', 1, 'StringList']])
    t.same(r.InvalidParameters, ['/many/none', '/many/a:7'])
    const cli = aws(node, ['ssm', 'get-parameters', '--names', '/many/b', '/many/gone'])
    t.equal(cli.status, 0, cli.stderr)
    t.same(cli.json.Parameters.map((p: { Value: string }) => p.Value), ['B2,x'])
    t.same(cli.json.InvalidParameters, ['/many/gone'])
  })

  await t.test('ssm - get-parameters-by-path returns direct children, or the whole subtree when recursive', async t => {
    for (const name of ['/tree/a', '/tree/b', '/tree/sub/c', '/tree/sub/deeper/d', '/treehouse/e']) await put({ Name: name, Value: name, Type: 'String' })
    const names = async (Path: string, Recursive?: boolean): Promise<string[]> =>
      ((await ssm.send(new GetParametersByPathCommand({ Path, Recursive }))).Parameters ?? []).map(p => p.Name ?? '')
    t.same(await names('/tree'), ['/tree/a', '/tree/b'])
    t.same(await names('/tree/'), ['/tree/a', '/tree/b'], 'a trailing slash names the same path')
    t.same(await names('/tree', true), ['/tree/a', '/tree/b', '/tree/sub/c', '/tree/sub/deeper/d'])
    t.same(await names('/tree/sub', true), ['/tree/sub/c', '/tree/sub/deeper/d'])
    t.same(await names('/nothing/here', true), [])
  })

  await t.test('ssm - get-parameters-by-path pages through more than 10 parameters (SDK paginator and CLI)', async t => {
    const expected = Array.from({ length: 25 }, (_, i) => `/paged/p${String(i).padStart(2, '0')}`)
    await Promise.all(expected.map(async name => await put({ Name: name, Value: 'v', Type: 'String' })))
    const pages: string[][] = []
    for await (const page of paginateGetParametersByPath({ client: ssm }, { Path: '/paged', Recursive: true })) {
      pages.push((page.Parameters ?? []).map(p => p.Name ?? ''))
    }
    t.same(pages.map(p => p.length), [10, 10, 5])
    t.same(pages.flat(), expected)
    const small = await ssm.send(new GetParametersByPathCommand({ Path: '/paged', MaxResults: 3 }))
    t.equal(small.Parameters?.length, 3)
    t.ok(small.NextToken)
    const cli = aws(node, ['ssm', 'get-parameters-by-path', '--path', '/paged'])
    t.equal(cli.status, 0, cli.stderr)
    t.same(cli.json.Parameters.map((p: { Name: string }) => p.Name), expected, 'the CLI follows NextToken to the end')
  })

  await t.test('ssm - get-parameters-by-path with a bad NextToken → InvalidNextToken, with MaxResults 11 → ValidationException', async t => {
    t.match(await failure(ssm.send(new GetParametersByPathCommand({ Path: '/paged', NextToken: 'not-a-token' }))), { code: 'InvalidNextToken', status: 400 })
    t.match(await failure(ssm.send(new GetParametersByPathCommand({ Path: '/paged', MaxResults: 11 }))), { code: 'ValidationException', status: 400 })
  })

  await t.test('ssm - get-parameters-by-path filters by Type and KeyId, and refuses the keys AWS refuses → InvalidFilterKey', async t => {
    await put({ Name: '/typed/s', Value: 's', Type: 'String' })
    await put({ Name: '/typed/l', Value: 'a,b', Type: 'StringList' })
    await put({ Name: '/typed/secret', Value: 'pw', Type: 'SecureString', KeyId: 'alias/app' })
    const names = async (ParameterFilters: ParameterStringFilter[]): Promise<string[]> =>
      ((await ssm.send(new GetParametersByPathCommand({ Path: '/typed', ParameterFilters }))).Parameters ?? []).map(p => p.Name ?? '')
    t.same(await names([{ Key: 'Type', Values: ['StringList', 'SecureString'] }]), ['/typed/l', '/typed/secret'])
    t.same(await names([{ Key: 'KeyId', Values: ['alias/app'] }]), ['/typed/secret'])
    t.same(await names([{ Key: 'Type', Option: 'BeginsWith', Values: ['Str'] }]), ['/typed/l', '/typed/s'])
    t.same(await names([{ Key: 'Label', Values: ['prod'] }]), [], 'no version carries a label')
    for (const Key of ['Name', 'Path', 'Tier', 'DataType', 'tag:team']) {
      t.match(await failure(names([{ Key, Values: ['x'] }])), { code: 'InvalidFilterKey', status: 400 }, Key)
    }
  })

  await t.test('ssm - get-parameters-by-path on a path without a leading slash → ValidationException', async t => {
    for (const Path of ['tree', '//', '/a//b', '/bad path']) {
      t.match(await failure(ssm.send(new GetParametersByPathCommand({ Path }))), { code: 'ValidationException', status: 400 }, Path)
    }
  })

  await t.test('ssm - SecureString is stored as given and read back with or without WithDecryption', async t => {
    await put({ Name: '/secure/pw', Value: 'hunter2', Type: 'SecureString' })
    for (const WithDecryption of [true, false]) {
      const r = await ssm.send(new GetParameterCommand({ Name: '/secure/pw', WithDecryption }))
      t.match(r.Parameter, { Type: 'SecureString', Value: 'hunter2' })
    }
    const [meta] = await describe([{ Key: 'Name', Values: ['/secure/pw'] }])
    t.equal(meta.KeyId, 'alias/aws/ssm', "a SecureString without KeyId names the account's default key")
  })

  await t.test('ssm - KeyId on a String parameter → ValidationException', async t => {
    t.match(await failure(put({ Name: '/secure/plain', Value: 'x', Type: 'String', KeyId: 'alias/app' })), { code: 'ValidationException' })
  })

  await t.test('ssm - describe-parameters reports metadata, with the caller as LastModifiedUser', async t => {
    await put({ Name: '/meta/p', Value: '42', Type: 'String', Description: 'the answer', AllowedPattern: '^\\d+$', Tags: [{ Key: 'team', Value: 'core' }] })
    const [meta] = await describe([{ Key: 'Name', Values: ['/meta/p'] }])
    t.match(meta, {
      Name: '/meta/p',
      Type: 'String',
      Description: 'the answer',
      AllowedPattern: '^\\d+$',
      Version: 1,
      Tier: 'Standard',
      DataType: 'text',
      Policies: [],
      LastModifiedUser: `arn:aws:iam::${node.accountId}:root`
    })
    t.type(meta.LastModifiedDate, Date)
    t.equal(meta.KeyId, undefined)
    const cli = aws(node, ['ssm', 'describe-parameters', '--parameter-filters', 'Key=Name,Values=/meta/p'])
    t.equal(cli.status, 0, cli.stderr)
    t.equal(cli.json.Parameters[0].Description, 'the answer')
  })

  await t.test('ssm - describe-parameters filters by Name, Path, Type, Tier and tag', async t => {
    await put({ Name: '/filters/app/one', Value: '1', Type: 'String', Tags: [{ Key: 'team', Value: 'core' }] })
    await put({ Name: '/filters/app/two', Value: '2', Type: 'StringList', Tags: [{ Key: 'team', Value: 'edge' }] })
    await put({ Name: '/filters/app/deep/three', Value: '3', Type: 'String', Tier: 'Advanced' })
    await put({ Name: '/filters/other', Value: '4', Type: 'SecureString' })
    const names = async (filters: ParameterStringFilter[]): Promise<string[]> => (await describe(filters)).map(p => p.Name ?? '')
    const app: ParameterStringFilter = { Key: 'Path', Option: 'Recursive', Values: ['/filters/app'] }
    t.same(await names([{ Key: 'Path', Values: ['/filters/app'] }]), ['/filters/app/one', '/filters/app/two'], 'Path is OneLevel by default')
    t.same(await names([app]), ['/filters/app/deep/three', '/filters/app/one', '/filters/app/two'])
    t.same(await names([{ Key: 'Path', Option: 'Recursive', Values: ['/filters/app/deep', '/filters/other'] }]), ['/filters/app/deep/three'])
    t.same(await names([app, { Key: 'Type', Values: ['String'] }]), ['/filters/app/deep/three', '/filters/app/one'])
    t.same(await names([app, { Key: 'Tier', Values: ['Advanced'] }]), ['/filters/app/deep/three'])
    t.same(await names([app, { Key: 'tag:team', Values: ['edge'] }]), ['/filters/app/two'])
    t.same(await names([app, { Key: 'tag:team' }]), ['/filters/app/one', '/filters/app/two'], 'a tag filter without values asks for the tag')
    t.same(await names([{ Key: 'Name', Option: 'BeginsWith', Values: ['/filters/app/t'] }]), ['/filters/app/two'])
    t.same(await names([{ Key: 'Name', Option: 'Contains', Values: ['other'] }]), ['/filters/other'])
    t.same(await names([{ Key: 'Name', Values: ['/filters/other'] }, { Key: 'KeyId', Values: ['alias/aws/ssm'] }]), ['/filters/other'])
    const legacy = await ssm.send(new DescribeParametersCommand({ Filters: [{ Key: 'Name', Values: ['/filters/app/'] }], MaxResults: 50 }))
    t.same(legacy.Parameters?.map(p => p.Name), ['/filters/app/deep/three', '/filters/app/one', '/filters/app/two'], 'the deprecated Filters still work')
  })

  await t.test('ssm - describe-parameters with a filter AWS refuses → InvalidFilterKey / InvalidFilterOption / InvalidFilterValue', async t => {
    t.match(await failure(describe([{ Key: 'Label', Values: ['prod'] }])), { code: 'InvalidFilterKey', status: 400 })
    t.match(await failure(describe([{ Key: 'Type', Values: ['String'] }, { Key: 'Type', Values: ['StringList'] }])), { code: 'InvalidFilterKey' })
    t.match(await failure(describe([{ Key: 'Type', Values: ['Number'] }])), { code: 'InvalidFilterValue', status: 400 })
    t.match(await failure(describe([{ Key: 'Tier', Values: ['Gold'] }])), { code: 'InvalidFilterValue' })
    t.match(await failure(describe([{ Key: 'Name' }])), { code: 'InvalidFilterValue' }, 'values are required but for tags')
    t.match(await failure(describe([{ Key: 'Path', Option: 'Equals', Values: ['/x'] }])), { code: 'InvalidFilterOption', status: 400 })
    t.match(await failure(describe([{ Key: 'Type', Option: 'Contains', Values: ['String'] }])), { code: 'InvalidFilterOption' })
    t.match(await failure(describe([{ Key: 'Path', Values: ['no-slash'] }])), { code: 'ValidationException' })
    t.match(await failure(describe([{ Key: 'Path', Values: ['/aws/service'] }])), { code: 'ValidationException' })
    t.match(await failure(ssm.send(new DescribeParametersCommand({
      Filters: [{ Key: 'Type', Values: ['String'] }], ParameterFilters: [{ Key: 'Type', Values: ['String'] }]
    }))), { code: 'ValidationException' }, 'Filters and ParameterFilters together')
  })

  await t.test('ssm - describe-parameters pages with MaxResults (SDK paginator and CLI)', async t => {
    const filters: ParameterStringFilter[] = [{ Key: 'Path', Values: ['/paged'] }]
    const sizes: number[] = []
    const names: string[] = []
    for await (const page of paginateDescribeParameters({ client: ssm, pageSize: 7 }, { ParameterFilters: filters })) {
      sizes.push(page.Parameters?.length ?? 0)
      names.push(...(page.Parameters ?? []).map(p => p.Name ?? ''))
    }
    t.same(sizes, [7, 7, 7, 4])
    t.equal(new Set(names).size, 25)
    const cli = aws(node, ['ssm', 'describe-parameters', '--parameter-filters', 'Key=Path,Values=/paged', '--page-size', '4'])
    t.equal(cli.status, 0, cli.stderr)
    t.equal(cli.json.Parameters.length, 25)
    t.match(await failure(ssm.send(new DescribeParametersCommand({ MaxResults: 51 }))), { code: 'ValidationException' })
    t.match(await failure(ssm.send(new DescribeParametersCommand({ NextToken: '!!' }))), { code: 'InvalidNextToken' })
  })

  await t.test('ssm - a name AWS reserves or refuses → ValidationException (or AccessDeniedException under /aws)', async t => {
    const refused = async (Name: string): Promise<string> => (await failure(put({ Name, Value: 'v', Type: 'String' }))).code
    for (const name of ['aws-thing', 'SSMthing', '/ssm/thing', '/SSM/thing', 'no/leading/slash', '/a//b', '/trailing/', 'has space', 'bad:char', '/bad*char']) {
      t.equal(await refused(name), 'ValidationException', name)
    }
    t.equal(await refused('/aws/thing'), 'AccessDeniedException')
    t.equal(await refused('/AWS/thing'), 'AccessDeniedException')
    t.equal(await put({ Name: '  /spaced/name  ', Value: 'v', Type: 'String' }), 1, 'spaces around a name are dropped')
    t.equal(await value('/spaced/name'), 'v')
  })

  await t.test('ssm - a name 16 levels deep → HierarchyLevelLimitExceededException; 15 is fine', async t => {
    const levels = (n: number): string => Array.from({ length: n }, (_, i) => `/l${i}`).join('')
    t.equal(await put({ Name: levels(15), Value: 'v', Type: 'String' }), 1)
    t.match(await failure(put({ Name: levels(16), Value: 'v', Type: 'String' })), { code: 'HierarchyLevelLimitExceededException', status: 400 })
  })

  await t.test('ssm - a name whose ARN would pass 1011 characters → ValidationException', async t => {
    const prefix = `arn:aws:ssm:${node.region}:${node.accountId}:parameter/`.length
    t.equal(await put({ Name: `/${'n'.repeat(1011 - prefix)}`, Value: 'v', Type: 'String' }), 1)
    t.match(await failure(put({ Name: `/${'m'.repeat(1012 - prefix)}`, Value: 'v', Type: 'String' })), { code: 'ValidationException' })
  })

  await t.test('ssm - put without Type on a new name, or Tags with Overwrite, or an empty value → ValidationException', async t => {
    t.match(await failure(put({ Name: '/rules/untyped', Value: 'v' })), { code: 'ValidationException', message: /type is required/ })
    t.match(await failure(put({ Name: '/rules/tagged', Value: 'v', Type: 'String', Overwrite: true, Tags: [{ Key: 'a', Value: 'b' }] })),
      { code: 'ValidationException', message: /tags and overwrite/ })
    t.match(await failure(put({ Name: '/rules/empty', Value: '', Type: 'String' })), { code: 'ValidationException' })
    t.match(await failure(put({ Name: '/rules/typo', Value: 'v', Type: 'Strung' as 'String' })), { code: 'ValidationException' })
    const cli = aws(node, ['ssm', 'put-parameter', '--name', '/rules/untyped', '--value', 'v'])
    t.equal(cliCode(cli), 'ValidationException')
  })

  await t.test('ssm - a value that AllowedPattern refuses → ParameterPatternMismatchException, also on later overwrites', async t => {
    t.equal(await put({ Name: '/pattern/port', Value: '8080', Type: 'String', AllowedPattern: '^\\d+$' }), 1)
    t.match(await failure(put({ Name: '/pattern/port', Value: 'http', Overwrite: true })), { code: 'ParameterPatternMismatchException', status: 400 })
    t.equal(await put({ Name: '/pattern/port', Value: '9090', Overwrite: true }), 2)
    t.match(await failure(put({ Name: '/pattern/bad', Value: 'x', Type: 'String', AllowedPattern: '([' })), { code: 'InvalidAllowedPatternException' })
  })

  await t.test('ssm - a value above the tier limit → ValidationException; Advanced and Intelligent-Tiering take up to 8 KB', async t => {
    const big = 'x'.repeat(5000)
    t.match(await failure(put({ Name: '/tier/std', Value: big, Type: 'String' })), { code: 'ValidationException', message: /4096/ })
    t.equal((await ssm.send(new PutParameterCommand({ Name: '/tier/adv', Value: big, Type: 'String', Tier: 'Advanced' }))).Tier, 'Advanced')
    const smart = await ssm.send(new PutParameterCommand({ Name: '/tier/smart', Value: 'small', Type: 'String', Tier: 'Intelligent-Tiering' }))
    t.equal(smart.Tier, 'Standard')
    const grown = await ssm.send(new PutParameterCommand({ Name: '/tier/smart', Value: big, Overwrite: true, Tier: 'Intelligent-Tiering' }))
    t.equal(grown.Tier, 'Advanced')
    const kept = await ssm.send(new PutParameterCommand({ Name: '/tier/smart', Value: 'small again', Overwrite: true }))
    t.equal(kept.Tier, 'Advanced', 'an advanced parameter stays advanced')
    t.match(await failure(put({ Name: '/tier/smart', Value: 'v', Overwrite: true, Tier: 'Standard' })), { code: 'ValidationException', message: /downgrade/ })
    t.match(await failure(put({ Name: '/tier/huge', Value: 'x'.repeat(9000), Type: 'String', Tier: 'Advanced' })), { code: 'ValidationException', message: /8192/ })
  })

  await t.test('ssm - a DataType other than text → ValidationException', async t => {
    t.equal(await put({ Name: '/datatype/t', Value: 'v', Type: 'String', DataType: 'text' }), 1)
    t.match(await failure(put({ Name: '/datatype/ami', Value: 'ami-12345678', Type: 'String', DataType: 'aws:ec2:image' })),
      { code: 'ValidationException', message: /aws:ec2:image/ })
    t.match(await failure(put({ Name: '/datatype/x', Value: 'v', Type: 'String', DataType: 'Text' })), { code: 'ValidationException', message: /not supported/ })
  })
})
