/** cdk-nag over the dev stage (aws); the China twin is nag.cn.test.ts. */
import { nagSuite } from './nag-suite';

nagSuite('dev', {
  'AwsSolutions-APIG2': 1,
  'AwsSolutions-APIG3': 1,
  'AwsSolutions-APIG4': 1,
  'AwsSolutions-COG4': 1,
  'AwsSolutions-IAM4': 17,
  'AwsSolutions-IAM5': 20,
  'AwsSolutions-L1': 3,
  'AwsSolutions-SQS3': 1,
});
