/** S3 bucket names, as `modelBucketArn` and `s3://` model sources write them. */

/**
 * A valid S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and
 * ending with a letter or digit, no `..`, not an IPv4 address
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
 */
export function isValidBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
}
