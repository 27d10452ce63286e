/** Template assertions for the dev environment (aws partition); its China twin is stage.cn.test.ts. */
import { stageSuite } from './stage-suite';

stageSuite({
  environment: 'dev',
  partition: 'aws',
  region: 'us-west-2',
  stackName: 'sdoneks-dev',
  throttle: { rateLimit: 10, burstLimit: 20 },
  stageName: 'dev',
  nodePoolInstanceTypes: ['g5.xlarge', 'g4dn.xlarge'],
  csiChart: 'https://awslabs.github.io/mountpoint-s3-csi-driver/aws-mountpoint-s3-csi-driver:1.15.0',
  maxReplicaCount: 2,
  systemNodes: { minSize: 1, maxSize: 3, desiredSize: 1 },
});
