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
# aws/karpenter-provider-aws, tag v1.6.3 (charts/karpenter, CRDs in crds/)
extract "$mirror/aws+karpenter-provider-aws/repo" \
  13242eac866ce45caaf42dda48be67f31a0a5034 charts/karpenter "$here/charts/karpenter/1.6.3"
# In git, charts/karpenter/crds/*.yaml are symlinks to pkg/apis/crds/ (the published chart holds the
# files): replace each link with the file it points to, from the same commit.
for link in "$here/charts/karpenter/1.6.3/crds/"*.yaml; do
  name="$(basename "$link")"
  rm -f "$link"
  git --git-dir="$mirror/aws+karpenter-provider-aws/repo" show "13242eac866ce45caaf42dda48be67f31a0a5034:pkg/apis/crds/$name" >"$link"
done
# kedacore/charts, tag v2.17.2 (CRDs in templates/crds/)
extract "$mirror/kedacore+charts/repo" \
  1f20163a6b4747d47cce43e38ecda89015e4d018 keda "$here/charts/keda/2.17.2"
echo "vendor.sh: charts re-extracted under $here/charts"
