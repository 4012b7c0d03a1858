import { AwsError } from 'hive-cloud'

/**
 * The errors Parameter Store answers with, by AWS code. All are the caller's to fix, so all are 400,
 * as AWS answers them. Messages are AWS's where AWS has a useful one; AWS's ParameterNotFound has
 * an empty message, so ours names the parameter.
 */
export const SsmErrors = {
  validation: (message: string) =>
    new AwsError('ValidationException', message, 400),
  /** AWS's catch-all for a malformed name, whatever the name's actual fault. */
  invalidName: () =>
    new AwsError('ValidationException', 'Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a path, ' +
      'it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and ' +
      'the following 3 symbols .-_', 400),
  reservedName: () =>
    new AwsError('ValidationException', 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).', 400),
  /** `/aws/…` is where AWS publishes its own parameters: writing there is refused rather than invalid. */
  reservedPath: (name: string) =>
    new AwsError('AccessDeniedException', `No access to reserved parameter name: ${name}.`, 400),
  invalidPath: (path: string) =>
    new AwsError('ValidationException', 'The parameter doesn\'t meet the parameter name requirements. The parameter name must ' +
      'begin with a forward slash "/". It can\'t be prefixed with "aws" or "ssm" (case-insensitive). It must use only letters, ' +
      'numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All ' +
      `sub-paths, if specified, must use the forward slash symbol "/". Valid example: /get/parameters2-/by1./path0_. Invalid parameter name: ${path}`, 400),
  reservedPathFilter: () =>
    new AwsError('ValidationException', 'Filters for common parameters can\'t be prefixed with "aws" or "ssm" (case-insensitive). ' +
      'When using global parameters, please specify within a global namespace.', 400),
  nameTooLong: (arn: string, max: number) =>
    new AwsError('ValidationException', `Parameter name too long: its ARN ${arn} has ${arn.length} characters, and may have at most ${max}.`, 400),
  hierarchyLevelLimitExceeded: (name: string, levels: number, max: number) =>
    new AwsError('HierarchyLevelLimitExceededException',
      `Parameter name ${name} has ${levels} levels. A hierarchy can have a maximum of ${max} levels.`, 400),
  parameterAlreadyExists: () =>
    new AwsError('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.', 400),
  parameterNotFound: (name: string) =>
    new AwsError('ParameterNotFound', `Parameter ${name} not found.`, 400),
  parameterVersionNotFound: (name: string, version: number) =>
    new AwsError('ParameterVersionNotFound', `Systems Manager could not find version ${version} of ${name}. Verify the version and try again.`, 400),
  parameterLabelNotFound: (name: string, label: string) =>
    new AwsError('ParameterVersionNotFound', `Systems Manager could not find label ${label} of ${name}: this Parameter Store keeps no labels.`, 400),
  parameterPatternMismatch: (pattern: string) =>
    new AwsError('ParameterPatternMismatchException', `Parameter value, cannot be validated against allowedPattern: ${pattern}`, 400),
  invalidAllowedPattern: (pattern: string) =>
    new AwsError('InvalidAllowedPatternException', `The allowed pattern ${pattern} is not a valid regular expression.`, 400),
  typeRequired: () =>
    new AwsError('ValidationException', 'A parameter type is required when you create a parameter.', 400),
  emptyValue: () =>
    new AwsError('ValidationException', "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1", 400),
  keyIdWithoutSecureString: (type: string) =>
    new AwsError('ValidationException', `KeyId applies only to SecureString parameters, not to a ${type} parameter.`, 400),
  tagsWithOverwrite: () =>
    new AwsError('ValidationException', 'Invalid request: tags and overwrite can\'t be used together. To create a parameter with tags, ' +
      'please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.', 400),
  unknownDataType: (dataType: string) =>
    new AwsError('ValidationException', `The following data type is not supported: ${dataType} (Data type names are all lowercase.)`, 400),
  unsupportedDataType: (dataType: string) =>
    new AwsError('ValidationException', `The data type ${dataType} is not supported by this Parameter Store; use text.`, 400),
  valueTooLarge: (tier: 'Standard' | 'Advanced', max: number) =>
    new AwsError('ValidationException', `${tier} tier parameters support a maximum parameter value of ${max} characters.` +
      (tier === 'Standard' ? ' To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.' : ''), 400),
  tierDowngrade: () =>
    new AwsError('ValidationException', 'This parameter uses the advanced-parameter tier. You can\'t downgrade a parameter from the ' +
      'advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.', 400),
  filtersAndParameterFilters: () =>
    new AwsError('ValidationException', 'You can use either Filters or ParameterFilters in a single request.', 400),
  invalidFilterKey: (key: string, valid: readonly string[]) =>
    new AwsError('InvalidFilterKey', `The following filter key is not valid: ${key}. Valid filter keys include: [${valid.join(', ')}].`, 400),
  duplicateFilterKey: (key: string) =>
    new AwsError('InvalidFilterKey', `The following filter is duplicated in the request: ${key}. A request can contain only one occurrence of a specific filter.`, 400),
  invalidFilterOption: (option: string, valid: readonly string[]) =>
    new AwsError('InvalidFilterOption', `The following filter option is not valid: ${option}. Valid options include: [${valid.join(', ')}].`, 400),
  missingFilterValues: (key: string) =>
    new AwsError('InvalidFilterValue', `The following filter values are missing : null for filter key ${key}.`, 400),
  invalidFilterValue: (value: string, valid: readonly string[]) =>
    new AwsError('InvalidFilterValue', `The following filter value is not valid: ${value}. Valid values include: [${valid.join(', ')}].`, 400),
  tooManyUpdates: (name: string) =>
    new AwsError('TooManyUpdates', `There are concurrent updates for ${name}, which supports one update at a time. Try again.`, 400)
} as const
