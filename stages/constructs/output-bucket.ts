/**
 * The bucket the runtimes write generated images to: encrypted, TLS only, public access blocked,
 * with server access logs in a second bucket.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Properties of {@link OutputBucket}. */
export interface OutputBucketProps {
  /** What happens to the buckets when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** The output bucket and its access-log bucket. */
export class OutputBucket extends Construct {
  /** Where results go. */
  readonly bucket: s3.Bucket;
  /** Server access logs of {@link bucket}. */
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: OutputBucketProps = {}) {
    super(scope, id);
    const common = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    };
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', common);
    this.bucket = new s3.Bucket(this, 'Bucket', { ...common, serverAccessLogsBucket: this.accessLogs, serverAccessLogsPrefix: 'output/' });
  }
}
