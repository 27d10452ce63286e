#!/usr/bin/env bash
# Re-extract the vendored upstream charts (test fixtures only) byte for byte from local bare git
# directories at their pinned commits (see charts/SOURCES.md). Usage:
#   test/contracts/vendor/vendor.sh [MIRROR_ROOT]
# MIRROR_ROOT holds <owner>+<name>/repo bare git dirs (default /work/.mirror); each commit below
# must be present in it (git fetch --tags <url> in that dir otherwise).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mirror="${1:-/work/.mirror}"

# extract <git dir> <commit> <path in repo> <destination>
extract() {
  local gitdir="$1" commit="$2" src="$3" dest="$4"
  if [ "$(git --git-dir="$gitdir" rev-parse "$commit^{commit}")" != "$commit" ]; then
    echo "vendor.sh: $gitdir has no commit $commit" >&2
    exit 1
  fi
  rm -rf "$dest"
  mkdir -p "$dest"
  local strip
  strip=$(awk -F/ '{print NF}' <<<"$src")
  git --git-dir="$gitdir" archive --format=tar "$commit" "$src" | tar -x -C "$dest" --strip-components="$strip"
}

# aws-solutions-library-samples/guidance-for-asynchronous-inference-with-stable-diffusion-on-aws, tag v1.2.0
extract "$mirror/aws-solutions-library-samples+guidance-for-asynchronous-inference-with-stable-diffusion-on-aws/repo" \
  bfec8e295cdad6462388c2bd8b549834a34f1ba7 src/charts/sd_on_eks "$here/charts/sd-on-eks/1.2.0"
# awslabs/mountpoint-s3-csi-driver, tag v1.15.0 (Chart.yaml version 1.15.0)
extract "$mirror/awslabs+mountpoint-s3-csi-driver/repo" \
  cd3919ca8faa68133f2009d194c3f0244058504f charts/aws-mountpoint-s3-csi-driver "$here/charts/aws-mountpoint-s3-csi-driver/1.15.0"
# aws/karpenter-provider-aws, tag v1.14.1 (charts/karpenter, CRDs in crds/)
extract "$mirror/aws+karpenter-provider-aws/repo" \
  bde00654cd316fddb3dccfba3f5ac07039865429 charts/karpenter "$here/charts/karpenter/1.14.1"
# In git, charts/karpenter/crds/*.yaml are symlinks to pkg/apis/crds/ (the published chart holds the
# files): replace each link with the file it points to, from the same commit.
for link in "$here/charts/karpenter/1.14.1/crds/"*.yaml; do
  name="$(basename "$link")"
  rm -f "$link"
  git --git-dir="$mirror/aws+karpenter-provider-aws/repo" show "bde00654cd316fddb3dccfba3f5ac07039865429:pkg/apis/crds/$name" >"$link"
done
# The same tag's reference IAM policy (the getting-started CloudFormation template; at the tag it is
# the `preview` docs, published as the v1.14 docs), for test/contracts/karpenter-iam.test.ts.
mkdir -p "$here/karpenter-iam"
git --git-dir="$mirror/aws+karpenter-provider-aws/repo" show \
  "bde00654cd316fddb3dccfba3f5ac07039865429:website/content/en/preview/getting-started/getting-started-with-karpenter/cloudformation.yaml" \
  >"$here/karpenter-iam/cloudformation.yaml"
# kedacore/charts, tag v2.17.2 (CRDs in templates/crds/)
extract "$mirror/kedacore+charts/repo" \
  1f20163a6b4747d47cce43e38ecda89015e4d018 keda "$here/charts/keda/2.17.2"
# aws-samples/amazon-cloudwatch-container-insights, tag k8s/1.3.43 (Container Insights' reference Fluent Bit
# manifests; see container-insights/SOURCES.md)
ci_git="$mirror/aws-samples+amazon-cloudwatch-container-insights/repo"
ci_commit=dfd961175e8215ca20f3c1bdec9e4ee8df60d676
ci_base=k8s-deployment-manifest-templates/deployment-mode/daemonset/container-insights-monitoring
if [ "$(git --git-dir="$ci_git" rev-parse "$ci_commit^{commit}")" != "$ci_commit" ]; then
  echo "vendor.sh: $ci_git has no commit $ci_commit" >&2
  exit 1
fi
mkdir -p "$here/container-insights/fluent-bit"
for f in fluent-bit/fluent-bit.yaml fluent-bit/fluent-bit-configmap.yaml cloudwatch-namespace.yaml; do
  git --git-dir="$ci_git" show "$ci_commit:$ci_base/$f" >"$here/container-insights/$f"
done
git --git-dir="$ci_git" show "$ci_commit:LICENSE" >"$here/container-insights/LICENSE"
echo "vendor.sh: charts re-extracted under $here/charts, the Karpenter IAM template under $here/karpenter-iam"
