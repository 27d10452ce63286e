/**
 * CloudFormation resource types that aws-cdk-lib/aws-eks-v2 synthesizes for what it applies to a
 * cluster: read by the China image aspect (construct tree) and by the render (template JSON) alike.
 */

/** CloudFormation type of a Helm release made by aws-eks-v2. */
export const HELM_CHART_TYPE = 'Custom::AWSCDK-EKS-HelmChart';
/** CloudFormation type of a Kubernetes manifest made by aws-eks-v2. */
export const MANIFEST_TYPE = 'Custom::AWSCDK-EKS-KubernetesResource';
