/**
 * The Fluent Bit configuration and Kubernetes objects the stage writes where the
 * `amazon-cloudwatch-observability` EKS add-on is not offered (AWS China, by config/regions/): a copy
 * of Container Insights' own reference manifest (aws-samples/amazon-cloudwatch-container-insights,
 * tag k8s/1.3.43, k8s-deployment-manifest-templates/deployment-mode/daemonset/container-insights-monitoring/
 * fluent-bit/fluent-bit.yaml and fluent-bit-configmap.yaml; vendored under
 * test/contracts/vendor/container-insights/), changed only where {@link FLUENT_BIT_DEVIATIONS} says
 * why. test/unit/stages/logging-reference.test.ts compares the two section by section.
 *
 * The add-on path takes the same three log files (`extraFiles`), so both paths ship the same
 * inputs, filters and outputs.
 */
import { createHash } from 'node:crypto';

/** Namespace of the log pipeline (the reference's `cloudwatch-namespace.yaml`; the add-on installs there too). */
export const LOG_NAMESPACE = 'amazon-cloudwatch';
/** Service account of the Fluent Bit DaemonSet (reference manifest). */
export const FLUENT_BIT_SERVICE_ACCOUNT = 'fluent-bit';
/** The reference manifest's image, used in global regions when the environment does not mirror `aws-for-fluent-bit`. */
export const FLUENT_BIT_PUBLIC_IMAGE = 'public.ecr.aws/aws-observability/aws-for-fluent-bit:3.0.1';
/** The Fluent Bit HTTP server port (the reference quick start's `FluentBitHttpPort`). */
export const FLUENT_BIT_HTTP_PORT = '2020';

/**
 * The `fluent-bit-config` ConfigMap's files, as in the reference manifest except
 * `auto_create_group false` in every output (see {@link FLUENT_BIT_DEVIATIONS}).
 */
export const FLUENT_BIT_CONFIG: Readonly<Record<string, string>> = {
  'fluent-bit.conf': "[SERVICE]\n    Flush                     5\n    Grace                     30\n    Log_Level                 error\n    Daemon                    off\n    Parsers_File              parsers.conf\n    HTTP_Server               ${HTTP_SERVER}\n    HTTP_Listen               0.0.0.0\n    HTTP_Port                 ${HTTP_PORT}\n    storage.path              /var/fluent-bit/state/flb-storage/\n    storage.sync              normal\n    storage.checksum          off\n    storage.backlog.mem_limit 5M\n\n@INCLUDE application-log.conf\n@INCLUDE dataplane-log.conf\n@INCLUDE host-log.conf\n",
  'application-log.conf': "[INPUT]\n    Name                tail\n    Tag                 application.*\n    Exclude_Path        /var/log/containers/cloudwatch-agent*, /var/log/containers/fluent-bit*, /var/log/containers/aws-node*, /var/log/containers/kube-proxy*, /var/log/containers/fluentd*\n    Path                /var/log/containers/*.log\n    multiline.parser    docker, cri\n    DB                  /var/fluent-bit/state/flb_container.db\n    Mem_Buf_Limit       50MB\n    Skip_Long_Lines     On\n    Refresh_Interval    10\n    Rotate_Wait         30\n    storage.type        filesystem\n    Read_from_Head      ${READ_FROM_HEAD}\n\n[INPUT]\n    Name                tail\n    Tag                 application.*\n    Path                /var/log/containers/fluent-bit*\n    multiline.parser    docker, cri\n    DB                  /var/fluent-bit/state/flb_log.db\n    Mem_Buf_Limit       5MB\n    Skip_Long_Lines     On\n    Refresh_Interval    10\n    Read_from_Head      ${READ_FROM_HEAD}\n\n[INPUT]\n    Name                tail\n    Tag                 application.*\n    Path                /var/log/containers/cloudwatch-agent*\n    multiline.parser    docker, cri\n    DB                  /var/fluent-bit/state/flb_cwagent.db\n    Mem_Buf_Limit       5MB\n    Skip_Long_Lines     On\n    Refresh_Interval    10\n    Read_from_Head      ${READ_FROM_HEAD}\n\n[FILTER]\n    Name                kubernetes\n    Match               application.*\n    Kube_URL            https://kubernetes.default.svc:443\n    Kube_Tag_Prefix     application.var.log.containers.\n    Merge_Log           On\n    Merge_Log_Key       log_processed\n    K8S-Logging.Parser  On\n    K8S-Logging.Exclude Off\n    Labels              Off\n    Annotations         Off\n    Use_Kubelet         On\n    Kubelet_Port        10250\n    Buffer_Size         0\n\n[OUTPUT]\n    Name                cloudwatch_logs\n    Match               application.*\n    region              ${AWS_REGION}\n    log_group_name      /aws/containerinsights/${CLUSTER_NAME}/application\n    log_stream_prefix   ${HOST_NAME}-\n    auto_create_group   false\n    extra_user_agent    container-insights\n",
  'dataplane-log.conf': "[INPUT]\n    Name                systemd\n    Tag                 dataplane.systemd.*\n    Systemd_Filter      _SYSTEMD_UNIT=docker.service\n    Systemd_Filter      _SYSTEMD_UNIT=containerd.service\n    Systemd_Filter      _SYSTEMD_UNIT=kubelet.service\n    DB                  /var/fluent-bit/state/systemd.db\n    Path                /var/log/journal\n    Read_From_Tail      ${READ_FROM_TAIL}\n\n[INPUT]\n    Name                tail\n    Tag                 dataplane.tail.*\n    Path                /var/log/containers/aws-node*, /var/log/containers/kube-proxy*\n    multiline.parser    docker, cri\n    DB                  /var/fluent-bit/state/flb_dataplane_tail.db\n    Mem_Buf_Limit       50MB\n    Skip_Long_Lines     On\n    Refresh_Interval    10\n    Rotate_Wait         30\n    storage.type        filesystem\n    Read_from_Head      ${READ_FROM_HEAD}\n\n[FILTER]\n    Name                modify\n    Match               dataplane.systemd.*\n    Rename              _HOSTNAME                   hostname\n    Rename              _SYSTEMD_UNIT               systemd_unit\n    Rename              MESSAGE                     message\n    Remove_regex        ^((?!hostname|systemd_unit|message).)*$\n\n[FILTER]\n    Name                aws\n    Match               dataplane.*\n    imds_version        v2\n\n[OUTPUT]\n    Name                cloudwatch_logs\n    Match               dataplane.*\n    region              ${AWS_REGION}\n    log_group_name      /aws/containerinsights/${CLUSTER_NAME}/dataplane\n    log_stream_prefix   ${HOST_NAME}-\n    auto_create_group   false\n    extra_user_agent    container-insights\n",
  'host-log.conf': "[INPUT]\n    Name                systemd\n    Tag                 host.dmesg\n    Systemd_Filter      _TRANSPORT=kernel\n    DB                  /var/fluent-bit/state/flb_dmesg.db\n    Path                /var/log/journal\n    Read_From_Tail      ${READ_FROM_TAIL}\n\n[INPUT]\n    Name                systemd\n    Tag                 host.messages\n    Systemd_Filter      PRIORITY=0\n    Systemd_Filter      PRIORITY=1\n    Systemd_Filter      PRIORITY=2\n    Systemd_Filter      PRIORITY=3\n    Systemd_Filter      PRIORITY=4\n    Systemd_Filter      PRIORITY=5\n    Systemd_Filter      PRIORITY=6\n    DB                  /var/fluent-bit/state/flb_messages.db\n    Path                /var/log/journal\n    Read_From_Tail      ${READ_FROM_TAIL}\n\n[INPUT]\n    Name                systemd\n    Tag                 host.secure\n    Systemd_Filter      SYSLOG_FACILITY=10\n    DB                  /var/fluent-bit/state/flb_secure.db\n    Path                /var/log/journal\n    Read_From_Tail      ${READ_FROM_TAIL}\n\n[FILTER]\n    Name                aws\n    Match               host.*\n    imds_version        v2\n\n[FILTER]\n    Name                grep\n    Match               host.messages\n    Exclude             SYSLOG_FACILITY /^(2|9|10)$/\n\n[FILTER]\n    Name                modify\n    Match               host.*\n    Rename             _HOSTNAME host\n    Rename             MESSAGE message\n    Rename             SYSLOG_IDENTIFIER ident\n    Rename             SYSLOG_PID pid\n    Remove_regex       [A-Z]\n\n[OUTPUT]\n    Name                cloudwatch_logs\n    Match               host.*\n    region              ${AWS_REGION}\n    log_group_name      /aws/containerinsights/${CLUSTER_NAME}/host\n    log_stream_prefix   ${HOST_NAME}.\n    auto_create_group   false\n    extra_user_agent    container-insights\n",
  'parsers.conf': "[PARSER]\n    Name                syslog\n    Format              regex\n    Regex               ^(?<time>[^ ]* {1,2}[^ ]* [^ ]*) (?<host>[^ ]*) (?<ident>[a-zA-Z0-9_\\/\\.\\-]*)(?:\\[(?<pid>[0-9]+)\\])?(?:[^\\:]*\\:)? *(?<message>.*)$\n    Time_Key            time\n    Time_Format         %b %d %H:%M:%S\n\n[PARSER]\n    Name                container_firstline\n    Format              regex\n    Regex               (?<log>(?<=\"log\":\")\\S(?!\\.).*?)(?<!\\\\)\".*(?<stream>(?<=\"stream\":\").*?)\".*(?<time>\\d{4}-\\d{1,2}-\\d{1,2}T\\d{2}:\\d{2}:\\d{2}\\.\\w*).*(?=})\n    Time_Key            time\n    Time_Format         %Y-%m-%dT%H:%M:%S.%LZ\n\n[PARSER]\n    Name                cwagent_firstline\n    Format              regex\n    Regex               (?<log>(?<=\"log\":\")\\d{4}[\\/-]\\d{1,2}[\\/-]\\d{1,2}[ T]\\d{2}:\\d{2}:\\d{2}(?!\\.).*?)(?<!\\\\)\".*(?<stream>(?<=\"stream\":\").*?)\".*(?<time>\\d{4}-\\d{1,2}-\\d{1,2}T\\d{2}:\\d{2}:\\d{2}\\.\\w*).*(?=})\n    Time_Key            time\n    Time_Format         %Y-%m-%dT%H:%M:%S.%LZ\n",
};

/** The log files the add-on path overrides (`containerLogs.fluentBit.config.extraFiles`). */
export const FLUENT_BIT_LOG_FILES = ['application-log.conf', 'dataplane-log.conf', 'host-log.conf'] as const;

/** One documented difference from the reference manifest. */
export interface FluentBitDeviation {
  /** What differs, where. */
  readonly what: string;
  /** Why sdpipe differs. */
  readonly why: string;
}

/** Every difference from the reference manifest, with its reason (docs/stages.md, "Logs", lists them too). */
export const FLUENT_BIT_DEVIATIONS: readonly FluentBitDeviation[] = [
  {
    what: 'every [OUTPUT] cloudwatch_logs: auto_create_group false (reference: true)',
    why: 'the stack creates the log groups with the configured retention (logs.retentionDays), and the writer role may not create groups (no logs:CreateLogGroup)',
  },
  {
    what: 'DaemonSet container image: the mirrored aws-for-fluent-bit pinned by digest (reference: public.ecr.aws/aws-observability/aws-for-fluent-bit:3.0.1)',
    why: 'in AWS China every image comes from the environment\'s ECR, pinned by the digest the Mirror step published',
  },
  {
    what: 'DaemonSet pod spec: tolerations [{operator: Exists}] (reference: none)',
    why: 'the GPU nodes carry NoSchedule taints (nvidia.com/gpu, runtime); the original solution tolerates them for its add-on, and the add-on chart\'s default tolerates every taint',
  },
  {
    what: 'ServiceAccount fluent-bit: the eks.amazonaws.com/role-arn annotation (IRSA)',
    why: 'the writer role may write only the Container Insights log groups of this cluster; the reference relies on the node role',
  },
  {
    what: 'DaemonSet pod template: the sdpipe.io/config-hash annotation',
    why: 'a changed configuration rolls the pods (Fluent Bit reads its files only at start)',
  },
  {
    what: 'fluent-bit-cluster-info ConfigMap: values filled in (cluster.name, logs.region, http.server On, http.port 2020, read.head Off, read.tail On)',
    why: 'the reference leaves placeholders; the values are those of the Container Insights quick start',
  },
];

/** Inputs of {@link fluentBitObjects}. */
export interface FluentBitObjectsOptions {
  /** EKS cluster name (`CLUSTER_NAME`: the log group names). */
  readonly clusterName: string;
  /** Region of the log groups (`AWS_REGION`). */
  readonly region: string;
  /** Container image reference. */
  readonly image: string;
  /** ARN of the writer role (IRSA annotation). */
  readonly roleArn: string;
}

/** The `fluent-bit-cluster-info` values (reference fluent-bit-configmap.yaml keys, quick-start values). */
export function fluentBitClusterInfo(clusterName: string, region: string): Record<string, string> {
  return { 'cluster.name': clusterName, 'logs.region': region, 'http.server': 'On', 'http.port': FLUENT_BIT_HTTP_PORT, 'read.head': 'Off', 'read.tail': 'On' };
}

/** Hash of the configuration, so that a change rolls the DaemonSet. */
export function fluentBitConfigHash(): string {
  return createHash('sha256').update(JSON.stringify(FLUENT_BIT_CONFIG)).digest('hex').slice(0, 16);
}

/**
 * The Kubernetes objects of the Fluent Bit DaemonSet, in apply order: namespace, service account,
 * cluster role and binding, the two ConfigMaps and the DaemonSet.
 */
export function fluentBitObjects(o: FluentBitObjectsOptions): Array<Record<string, unknown>> {
  const ns = LOG_NAMESPACE;
  const labels = { 'k8s-app': 'fluent-bit', version: 'v1', 'kubernetes.io/cluster-service': 'true' };
  const fromInfo = (name: string, key: string) => ({ name, valueFrom: { configMapKeyRef: { name: 'fluent-bit-cluster-info', key } } });
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { name: ns } } },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: FLUENT_BIT_SERVICE_ACCOUNT, namespace: ns, annotations: { 'eks.amazonaws.com/role-arn': o.roleArn } },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'fluent-bit-role' },
      rules: [
        { nonResourceURLs: ['/metrics'], verbs: ['get'] },
        { apiGroups: [''], resources: ['namespaces', 'pods', 'pods/logs', 'nodes', 'nodes/proxy'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'fluent-bit-role-binding' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'fluent-bit-role' },
      subjects: [{ kind: 'ServiceAccount', name: FLUENT_BIT_SERVICE_ACCOUNT, namespace: ns }],
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fluent-bit-cluster-info', namespace: ns }, data: fluentBitClusterInfo(o.clusterName, o.region) },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fluent-bit-config', namespace: ns, labels: { 'k8s-app': 'fluent-bit' } }, data: { ...FLUENT_BIT_CONFIG } },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'fluent-bit', namespace: ns, labels },
      spec: {
        selector: { matchLabels: { 'k8s-app': 'fluent-bit' } },
        template: {
          metadata: { labels, annotations: { 'sdpipe.io/config-hash': fluentBitConfigHash() } },
          spec: {
            containers: [{
              name: 'fluent-bit',
              image: o.image,
              imagePullPolicy: 'Always',
              env: [
                fromInfo('AWS_REGION', 'logs.region'),
                fromInfo('CLUSTER_NAME', 'cluster.name'),
                fromInfo('HTTP_SERVER', 'http.server'),
                fromInfo('HTTP_PORT', 'http.port'),
                fromInfo('READ_FROM_HEAD', 'read.head'),
                fromInfo('READ_FROM_TAIL', 'read.tail'),
                { name: 'HOST_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'HOSTNAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
                { name: 'CI_VERSION', value: 'k8s/1.3.43' },
              ],
              resources: { limits: { memory: '200Mi' }, requests: { cpu: '500m', memory: '100Mi' } },
              volumeMounts: [
                { name: 'fluentbitstate', mountPath: '/var/fluent-bit/state' },
                { name: 'varlog', mountPath: '/var/log', readOnly: true },
                { name: 'varlibdockercontainers', mountPath: '/var/lib/docker/containers', readOnly: true },
                { name: 'fluent-bit-config', mountPath: '/fluent-bit/etc/' },
                { name: 'runlogjournal', mountPath: '/run/log/journal', readOnly: true },
                { name: 'dmesg', mountPath: '/var/log/dmesg', readOnly: true },
              ],
            }],
            terminationGracePeriodSeconds: 10,
            hostNetwork: true,
            dnsPolicy: 'ClusterFirstWithHostNet',
            volumes: [
              { name: 'fluentbitstate', hostPath: { path: '/var/fluent-bit/state' } },
              { name: 'varlog', hostPath: { path: '/var/log' } },
              { name: 'varlibdockercontainers', hostPath: { path: '/var/lib/docker/containers' } },
              { name: 'fluent-bit-config', configMap: { name: 'fluent-bit-config' } },
              { name: 'runlogjournal', hostPath: { path: '/run/log/journal' } },
              { name: 'dmesg', hostPath: { path: '/var/log/dmesg' } },
            ],
            serviceAccountName: FLUENT_BIT_SERVICE_ACCOUNT,
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            tolerations: [{ operator: 'Exists' }],
          },
        },
      },
    },
  ];
}
