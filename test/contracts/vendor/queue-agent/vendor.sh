#!/usr/bin/env bash
# Re-extract the vendored queue agent (test fixture only, never imported by product code) byte for
# byte from a local bare git directory at its pinned commit. Usage:
#   test/contracts/vendor/queue-agent/vendor.sh [MIRROR_ROOT]
# MIRROR_ROOT holds <owner>+<name>/repo bare git dirs (default /work/.mirror). See SOURCES.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mirror="${1:-/work/.mirror}"
gitdir="$mirror/aws-solutions-library-samples+guidance-for-asynchronous-inference-with-stable-diffusion-on-aws/repo"
commit=bfec8e295cdad6462388c2bd8b549834a34f1ba7 # tag v1.2.0
if [ "$(git --git-dir="$gitdir" rev-parse "$commit^{commit}")" != "$commit" ]; then
  echo "vendor.sh: $gitdir has no commit $commit" >&2
  exit 1
fi
# extract <path in repo> <destination under $here>
extract() {
  local src="$1" dest="$here/$2" strip
  rm -rf "$dest"
  mkdir -p "$dest"
  strip=$(awk -F/ '{print NF}' <<<"$src")
  git --git-dir="$gitdir" archive --format=tar "$commit" "$src" | tar -x -C "$dest" --strip-components="$strip"
}
extract src/backend/queue_agent/src src
extract test/v1alpha1 requests/v1alpha1
extract test/v1alpha2 requests/v1alpha2
extract src/frontend/input_function/v1alpha1 input_function/v1alpha1
extract src/frontend/input_function/v1alpha2 input_function/v1alpha2
git --git-dir="$gitdir" show "$commit:LICENSE" >"$here/LICENSE"
# The agent's build: its Dockerfile and requirements.txt; with src/ this folder is its upstream build context.
git --git-dir="$gitdir" show "$commit:src/backend/queue_agent/Dockerfile" >"$here/Dockerfile"
git --git-dir="$gitdir" show "$commit:src/backend/queue_agent/requirements.txt" >"$here/requirements.txt"
echo "vendor.sh: queue agent re-extracted under $here"
