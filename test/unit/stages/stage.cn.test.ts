/** Template assertions for the prod-cn environment (aws-cn partition); the twin of stage.test.ts. */
import { stageSuite } from './stage-suite';

stageSuite({
  environment: 'prod-cn',
  partition: 'aws-cn',
  region: 'cn-northwest-1',
  stackName: 'sdoneks-prod-cn',
  throttle: { rateLimit: 30, burstLimit: 50 },
  stageName: 'prod',
  nodePoolInstanceTypes: ['g4dn.xlarge', 'g4dn.2xlarge'],
  csiChart: 'oci://<registry>/charts/aws-mountpoint-s3-csi-driver:1.15.0',
  maxReplicaCount: 5,
  systemNodes: { minSize: 2, maxSize: 3, desiredSize: 2 },
});
