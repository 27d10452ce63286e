/**
 * The template assertions every environment's stage must pass; stage.test.ts runs them for
 * `dev` (aws) and stage.cn.test.ts for `prod-cn` (aws-cn).
 */
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Match } from 'aws-cdk-lib/assertions';
import { ecrHost } from '../../../lib/aws/partition';
import { findReferences } from '../../../stages/image-references';
import { helmReleases, k8sObject, kubernetesObjects, synth } from './support';
import type { Synthesized } from './support';

/** What differs between environments. */
export interface StageExpectations {
  readonly environment: string;
  readonly partition: 'aws' | 'aws-cn';
  readonly region: string;
  readonly stackName: string;
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  readonly stageName: string;
  readonly nodePoolInstanceTypes: readonly string[];
  /** The CSI driver chart as the Helm handler gets it (mirrored in China, the public https repository otherwise). */
  readonly csiChart: string;
  readonly maxReplicaCount: number;
  readonly systemNodes: { readonly minSize: number; readonly maxSize: number; readonly desiredSize: number };
}

/** The digest placeholder of a mirrored image (see stages/image-references.ts). */
export function digestOf(env: string, name: string): string {
  return `<digest:/sdpipe/${env}/images/${name}>`;
}

/** Run the suite for one environment. */
export function stageSuite(x: StageExpectations): void {
  describe(`the EKS GPU stage of ${x.environment} (${x.partition})`, () => {
    let s: Synthesized;
    const registry = ecrHost('123456789012', x.region);
    beforeAll(async () => {
      s = await synth(x.environment);
    });
    afterAll(() => s?.cleanup());

    it('synthesizes one stack named after stackName, in the environment account and region', () => {
      expect(s.stack.stackName).toBe(x.stackName);
      expect(s.stack.account).toBe('123456789012');
      expect(s.stack.region).toBe(x.region);
      expect(s.stack.sdpipePartition).toBe(x.partition);
    });

    it('has every component of the original solution, counted', () => {
      const t = s.template;
      t.resourceCountIs('AWS::EC2::VPC', 1);
      t.resourceCountIs('AWS::EC2::NatGateway', 1);
      t.resourceCountIs('AWS::EC2::VPCEndpoint', 1);
      t.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: Match.anyValue() });
      t.resourceCountIs('AWS::EKS::Cluster', 1);
      t.resourceCountIs('AWS::EKS::Nodegroup', 1);
      // vpc-cni, coredns, kube-proxy; and amazon-cloudwatch-observability where the region offers it (logs; not aws-cn)
      t.resourceCountIs('AWS::EKS::Addon', x.partition === 'aws' ? 4 : 3);
      t.resourceCountIs('AWS::SNS::Topic', 2);
      t.resourceCountIs('AWS::SQS::Queue', 3); // runtime queue, dead-letter queue, Karpenter interruption queue
      t.resourceCountIs('AWS::Events::Rule', 4);
      t.resourceCountIs('AWS::ApiGateway::RestApi', 1);
      t.resourceCountIs('AWS::ApiGateway::ApiKey', 1);
      t.resourceCountIs('AWS::ApiGateway::UsagePlan', 1);
      t.resourceCountIs('AWS::S3::Bucket', 2); // output and its access logs
      t.resourceCountIs('Custom::AWSCDK-EKS-HelmChart', 4); // karpenter, keda, Mountpoint S3 CSI driver, one runtime
      t.resourceCountIs('AWS::IAM::OIDCProvider', 1);
      // 115 before the charts took over: no X-Ray DaemonSet (manifest, service account, role, policy), no
      // stage-made NodePool/EC2NodeClass manifest, no CSI manifest or service-account manifest; plus the
      // CSI release and each runtime's X-Ray write policy. 109 before /v1alpha1 (its resource, POST
      // method and the method's two Lambda permissions). 113 before day-2 operations (issue 17): now also the
      // Container Insights log groups and their writer (the CloudWatch add-on and its role in aws; the Fluent
      // Bit manifests and role in aws-cn), the subnets of every zone of the region (4 in us-west-2, 3 in
      // cn-northwest-1), and prod-cn's custom domain (domain name and base path mapping).
      expect(Object.keys(s.json.Resources).length).toBe(x.partition === 'aws' ? 137 : 130);
    });

    it('takes the cluster version and system node group from clusterComponents', () => {
      s.template.hasResourceProperties('AWS::EKS::Cluster', { Version: '1.35', Name: x.stackName });
      s.template.hasResourceProperties('AWS::EKS::Nodegroup', {
        InstanceTypes: ['m5.large'],
        AmiType: 'AL2023_x86_64_STANDARD',
        ScalingConfig: { MinSize: x.systemNodes.minSize, MaxSize: x.systemNodes.maxSize, DesiredSize: x.systemNodes.desiredSize },
      });
      s.template.hasResourceProperties('AWS::EKS::Cluster', { Logging: { ClusterLogging: { EnabledTypes: Match.arrayWith([{ Type: 'api' }, { Type: 'audit' }]) } } });
    });

    it('throttles the usage plan with the APIGW values and needs an API key', () => {
      s.template.hasResourceProperties('AWS::ApiGateway::UsagePlan', { Throttle: { RateLimit: x.throttle.rateLimit, BurstLimit: x.throttle.burstLimit } });
      s.template.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: x.stageName, TracingEnabled: true });
      // Both versions, as the original serves them: POST with an API key, on the same Lambda.
      const resources = s.template.findResources('AWS::ApiGateway::Resource');
      const methods = Object.values(s.template.findResources('AWS::ApiGateway::Method'));
      expect(Object.values(resources).map((r) => r.Properties.PathPart).sort()).toEqual(['v1alpha1', 'v1alpha2']);
      for (const [id, r] of Object.entries(resources)) {
        const onIt = methods.filter((m) => m.Properties.ResourceId?.Ref === id);
        expect({ path: r.Properties.PathPart, methods: onIt.map((m) => [m.Properties.HttpMethod, m.Properties.ApiKeyRequired, m.Properties.Integration.Type]) })
          .toEqual({ path: r.Properties.PathPart, methods: [['POST', true, 'AWS_PROXY']] });
      }
      expect(new Set(methods.map((m) => JSON.stringify(m.Properties.Integration.Uri))).size).toBe(1);
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs22.x',
        TracingConfig: { Mode: 'Active' },
        Environment: { Variables: { RUNTIMES: JSON.stringify({ sdruntime: 'sdwebui' }), V1ALPHA1_MODELS: JSON.stringify(['v1-5-pruned-emaonly.safetensors']), INPUT_TOPIC_ARN: Match.anyValue(), OUTPUT_BUCKET: Match.anyValue() } },
      });
    });

    it('routes tasks with the solution filter policy: runtime name, or the sdwebui model checkpoint', () => {
      s.template.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'sqs',
        FilterPolicyScope: 'MessageAttributes',
        FilterPolicy: { $or: [{ sd_model_checkpoint: ['v1-5-pruned-emaonly.safetensors'] }, { runtime: ['sdruntime'] }] },
      });
      s.template.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: { maxReceiveCount: 3, deadLetterTargetArn: Match.anyValue() } });
    });

    it('keeps the output bucket encrypted, TLS-only and private', () => {
      s.template.hasResourceProperties('AWS::S3::Bucket', {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'output/' }),
      });
      s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    });

    it("drives the runtime chart's own EC2NodeClass and NodePool: node role name, instance types, snapshot, volumes", () => {
      const rt = helmReleases(s).get('sdruntime')!;
      const nodeRole = s.stack.node.findChild('Karpenter').node.findChild('NodeRole') as iam.Role;
      const roleLogicalId = s.stack.resolve((nodeRole.node.defaultChild as iam.CfnRole).logicalId) as string;
      expect(rt.values.karpenter).toEqual({
        provisioner: {
          labels: { 'sdpipe.io/runtime': 'sdruntime' },
          instanceType: [...x.nodePoolInstanceTypes],
          capacityType: { onDemand: true, spot: true },
        },
        nodeTemplate: {
          // the NAME of the role with the EC2_LINUX access entry (EC2NodeClass spec.role)
          iamRole: `<ref:${roleLogicalId}>`,
          amiFamily: 'Bottlerocket',
          // the snapshot's data volume must hold containerd's state: no RAID0 bind, no SOCI userData
          instanceStorePolicy: '',
          userData: '',
          osVolume: { volumeSize: '10Gi', volumeType: 'gp3', deleteOnTermination: true, iops: 3000, throughput: 125 },
          dataVolume: {
            volumeSize: '80Gi', volumeType: 'gp3', iops: 4000, throughput: 1000, deleteOnTermination: true,
            snapshotID: `<ssm:/sdpipe/${x.environment}/snapshot-id>`,
          },
        },
      });
      s.template.hasResourceProperties('AWS::EKS::AccessEntry', { PrincipalArn: { 'Fn::GetAtt': [roleLogicalId, 'Arn'] }, Type: 'EC2_LINUX' });
    });

    it('renders no NodePool, EC2NodeClass, X-Ray or CSI DaemonSet of its own (the charts own them)', () => {
      // The logs' own Fluent Bit DaemonSet (aws-cn) is tested in logging.test.ts.
      const kinds = kubernetesObjects(s).filter((o) => o.metadata.namespace !== 'amazon-cloudwatch').map((o) => o.kind);
      for (const kind of ['NodePool', 'EC2NodeClass', 'DaemonSet', 'CSIDriver']) expect(kinds).not.toContain(kind);
    });

    it("names the cluster after the stack and leaves the private subnets the tags the chart's NodeClass selects", () => {
      s.template.hasResourceProperties('AWS::EKS::Cluster', { Name: x.stackName });
      const subnets = s.template.findResources('AWS::EC2::Subnet', { Properties: { Tags: Match.arrayWith([{ Key: 'aws-cdk:subnet-type', Value: 'Private' }]) } });
      // One private subnet per zone of the VPC (the counts per region: network.test.ts, access.test.ts).
      expect(Object.keys(subnets)).toHaveLength(s.stack.availabilityZones.length);
      expect(JSON.stringify(s.json)).not.toContain('karpenter.sh/discovery');
    });

    it('scales each runtime with a KEDA ScaledObject on its SQS queue length', () => {
      const so = k8sObject(s, 'ScaledObject', 'sdruntime-queue-scaler');
      expect(so.metadata).toMatchObject({ name: 'sdruntime-queue-scaler', namespace: 'sdruntime' });
      expect(so.spec).toMatchObject({
        scaleTargetRef: { name: 'sdruntime-inference-api' },
        minReplicaCount: 0,
        maxReplicaCount: x.maxReplicaCount,
        cooldownPeriod: 300,
        triggers: [{ type: 'aws-sqs-queue', authenticationRef: { name: 'sdruntime-keda-aws' }, metadata: { queueLength: '10', awsRegion: x.region, queueURL: expect.stringMatching(/^<ref:MessagingsdruntimeQueue/) } }],
      });
      expect(k8sObject(s, 'TriggerAuthentication', 'sdruntime-keda-aws').spec).toEqual({ podIdentity: { provider: 'aws', identityOwner: 'keda' } });
    });

    it('mounts the model bucket read-only through the Mountpoint S3 CSI driver', () => {
      const pv = k8sObject(s, 'PersistentVolume', 'sdruntime-s3-model-storage-pv');
      expect(pv.spec).toMatchObject({
        accessModes: ['ReadOnlyMany'],
        csi: { driver: 's3.csi.aws.com', readOnly: true, volumeAttributes: { bucketName: `sdoneks-models-123456789012-${x.region}` } },
      });
      expect((pv.spec.mountOptions as string[])).toContain('read-only');
    });

    it('installs the Mountpoint S3 CSI driver from its chart, IRSA through the node service-account annotation, tolerating the GPU taints', () => {
      const csi = helmReleases(s).get('aws-mountpoint-s3-csi-driver')!;
      expect(csi.props).toMatchObject({ Namespace: 'kube-system', Chart: 'aws-mountpoint-s3-csi-driver', Version: '1.15.0' });
      // A mirrored chart's digest rides on the service account (the chart has no pod annotations); dev takes the public chart.
      const mirroredChart = s.stack.deployParameters.hasChart('mountpoint-s3-csi-driver');
      expect(mirroredChart).toBe(x.partition === 'aws-cn');
      expect(csi.values.node).toEqual({
        serviceAccount: {
          create: true,
          name: 's3-csi-driver-sa',
          annotations: {
            'eks.amazonaws.com/role-arn': expect.stringMatching(/^<getatt:ModelAccessDriverRole[0-9A-F]+\.Arn>$/),
            ...(mirroredChart ? { 'sdpipe.io/chart-digest': `<digest:/sdpipe/${x.environment}/charts/mountpoint-s3-csi-driver>` } : {}),
          },
        },
        tolerateAllTaints: true,
      });
      s.template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: { Statement: [Match.objectLike({ Sid: 'MountpointListModels', Action: 's3:ListBucket' }), Match.objectLike({ Sid: 'MountpointReadModels', Action: 's3:GetObject' })] },
        Roles: [{ Ref: Match.stringLikeRegexp('^ModelAccessDriverRole') }],
      });
    });

    it("lets each runtime's service account write X-Ray traces for the chart's sidecar", () => {
      s.template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: { Statement: [{ Sid: 'XRayDaemonWrite', Effect: 'Allow', Resource: '*', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets', 'xray:GetSamplingStatisticSummaries'] }] },
        Roles: [{ Ref: Match.stringLikeRegexp('^RuntimesdruntimesdruntimeServiceAccountRole') }],
      });
    });

    it('reads every image and chart from the environment ECR, pinned by the digest parameter', () => {
      const refs = findReferences(s.stack, x.partition);
      const images = refs.filter((r) => r.kind === 'image').map((r) => `${r.constructPath.replace(/^.*?SdOnEks\//, '')} ${r.at} = ${r.reference}`).sort();
      const env = x.environment;
      expect(images).toEqual([
        `Karpenter/Release controller.image = ${registry}/karpenter/controller:1.14.1@${digestOf(env, 'karpenter')}`,
        `Keda/Release image.keda = ${registry}/kedacore/keda:2.17.2@${digestOf(env, 'keda')}`,
        `Keda/Release image.metricsApiServer = ${registry}/kedacore/keda-metrics-apiserver:2.17.2@${digestOf(env, 'keda-metrics-apiserver')}`,
        `Keda/Release image.webhooks = ${registry}/kedacore/keda-admission-webhooks:2.17.2@${digestOf(env, 'keda-admission-webhooks')}`,
        `ModelAccess/Release image = ${registry}/mountpoint-s3-csi-driver/aws-mountpoint-s3-csi-driver:v1.15.0@${digestOf(env, 'mountpoint-s3-csi-driver')}`,
        `ModelAccess/Release sidecars.livenessProbe.image = ${registry}/eks-distro/kubernetes-csi/livenessprobe:v2.15.0-eks-1-33-5@${digestOf(env, 'csi-livenessprobe')}`,
        `ModelAccess/Release sidecars.nodeDriverRegistrar.image = ${registry}/eks-distro/kubernetes-csi/node-driver-registrar:v2.13.0-eks-1-33-5@${digestOf(env, 'csi-node-driver-registrar')}`,
        `Runtime-sdruntime/sdruntimeRelease runtime.inferenceApi.image = ${registry}/sd-on-eks/sdwebui:latest@${digestOf(env, 'sdwebui')}`,
        `Runtime-sdruntime/sdruntimeRelease runtime.queueAgent.image = ${registry}/sd-on-eks/queue-agent:latest@${digestOf(env, 'queue-agent')}`,
        `Runtime-sdruntime/sdruntimeRelease runtime.queueAgent.xray.daemon.image = ${registry}/xray/aws-xray-daemon:3.3.14@${digestOf(env, 'aws-xray-daemon')}`,
        // aws-cn ships logs with its own Fluent Bit (global regions: the EKS add-on; logging.test.ts)
        ...(x.partition === 'aws-cn' ? [`Logging/FluentBit [6].spec.template.spec.containers[0].image = ${registry}/aws-observability/aws-for-fluent-bit:3.0.1@${digestOf(env, 'aws-for-fluent-bit')}`] : []),
      ].sort());
      const charts = refs.filter((r) => r.kind === 'chart').map((r) => r.reference).sort();
      expect(charts).toEqual([
        `oci://${registry}/charts/karpenter:1.14.1`,
        `oci://${registry}/charts/keda:2.17.2`,
        `oci://${registry}/sd-on-eks/charts/sd-on-eks:1.2.0`,
        x.csiChart.replace('<registry>', registry),
      ].sort());
    });

    it('reads the mirror digests and the snapshot id at deploy time, through SSM parameters', () => {
      const params = Object.values((s.template.toJSON() as { Parameters: Record<string, { Type: string; Default?: string }> }).Parameters)
        .filter((p) => p.Type === 'AWS::SSM::Parameter::Value<String>' && !p.Default?.startsWith('/cdk-bootstrap/')).map((p) => p.Default).sort();
      const env = x.environment;
      expect(params).toEqual([
        ...['karpenter', 'keda', 'sd-on-eks', ...(x.csiChart.startsWith('oci://') ? ['mountpoint-s3-csi-driver'] : [])].map((c) => `/sdpipe/${env}/charts/${c}`),
        ...(x.partition === 'aws-cn' ? [`/sdpipe/${env}/images/aws-for-fluent-bit`] : []),
        ...['aws-xray-daemon', 'csi-livenessprobe', 'csi-node-driver-registrar', 'karpenter', 'keda', 'keda-admission-webhooks', 'keda-metrics-apiserver', 'mountpoint-s3-csi-driver', 'queue-agent', 'sdwebui'].map((i) => `/sdpipe/${env}/images/${i}`),
        `/sdpipe/${env}/snapshot-id`,
      ].sort());
    });

    it('ships the kubectl/helm layer as an asset of the cloud assembly (nothing to download at deploy time)', () => {
      s.template.hasResourceProperties('AWS::Lambda::LayerVersion', { Description: Match.stringLikeRegexp('kubectl') });
    });

    it('asks for no context lookups (cdk synth needs no AWS access)', () => {
      const missing = s.app.synth().manifest.missing ?? [];
      expect(missing).toEqual([]);
    });

    it('generates the runtime values over extraValues, generated fields winning', () => {
      const rt = helmReleases(s).get('sdruntime')!;
      expect(rt.props).toMatchObject({ Namespace: 'sdruntime', Chart: 'sd-on-eks', Version: '1.2.0' });
      expect(rt.values).toMatchObject({
        fullnameOverride: 'sdruntime',
        global: { awsRegion: x.region, stackName: x.stackName, runtime: 'sdruntime' },
        runtime: {
          type: 'sdwebui',
          serviceAccountName: 'sdruntime-sa',
          inferenceApi: { modelFilename: 'v1-5-pruned-emaonly.safetensors' },
          queueAgent: {
            dynamicModel: false,
            xray: { enabled: true, daemon: { image: { repository: `${registry}/xray/aws-xray-daemon`, tag: `3.3.14@${digestOf(x.environment, 'aws-xray-daemon')}` } } },
            sqsQueueUrl: expect.stringMatching(/^<ref:/), snsTopicArn: expect.stringMatching(/^<ref:/), s3Bucket: expect.stringMatching(/^<ref:/),
          },
          persistence: { enabled: true, existingClaim: 'sdruntime-s3-model-storage-pvc', s3: { enabled: false } },
          scaling: { enabled: false, queueLength: 10, maxReplicaCount: x.maxReplicaCount },
        },
      });
      expect(rt.values).not.toHaveProperty('runtime.queueAgent.XRay');
      expect(rt.values).not.toHaveProperty('runtime.queueAgent.extraEnv');
      const karpenter = helmReleases(s).get('karpenter')!;
      expect(karpenter.values).toMatchObject({ serviceAccount: { create: false, name: 'karpenter' }, settings: { clusterName: expect.stringMatching(/^<ref:/) } });
    });

    it('applies namespaces before the objects in them', () => {
      const kinds = kubernetesObjects(s).map((o) => `${o.kind}/${o.metadata.name}`);
      expect(kinds).toEqual(expect.arrayContaining(['Namespace/keda', 'Namespace/sdruntime', 'PersistentVolume/sdruntime-s3-model-storage-pv', 'PersistentVolumeClaim/sdruntime-s3-model-storage-pvc']));
    });

    it('outputs the API endpoint, the API key command, the cluster name and the kubeconfig command', () => {
      const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
      // prod-cn serves its API under a custom domain (APIGW.customDomain): its URL and the DNS target too.
      const domain = x.partition === 'aws-cn' ? ['ApiCustomDomainUrl', 'ApiDomainRegionalHostedZoneId', 'ApiDomainRegionalName'] : [];
      expect(Object.keys(outputs).sort()).toEqual([...domain, 'ClusterName', 'ConfigCommand', 'FrontApiEndpoint', 'GetAPIKeyCommand', 'InputTopicArn', 'OutputS3Bucket', 'OutputTopicArn'].sort());
      expect(JSON.stringify(outputs.ConfigCommand.Value)).toContain('aws eks update-kubeconfig --name ');
      expect(JSON.stringify(outputs.GetAPIKeyCommand.Value)).toContain('aws apigateway get-api-key --api-key ');
    });
  });
}
