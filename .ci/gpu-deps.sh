#!/usr/bin/env bash
# What the gpu.js modes need beyond `npm ci`, installed only when missing (idempotent):
#   .ci/gpu-deps.sh        apt packages: Chromium (webgl, webgl2, webgpu on SwiftShader, driven by
#                          playwright-core), Xvfb (headlessgl needs a display: run the tests under
#                          `xvfb-run -a`), and the headers and toolchain the optional `gl` module
#                          (headless-gl, gpu.js's headlessgl mode) compiles against (~5 minutes).
#   .ci/gpu-deps.sh gl     after `npm ci`: builds node_modules/gl when its native binding is
#                          missing. npm 11 skips dependency install scripts unless package.json
#                          lists them under "allowScripts" (recommended: "gl@8.1.6": true), so
#                          this rebuilds it explicitly with --allow-scripts=gl.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
for pkg in chromium xvfb xauth libxi-dev libxext-dev libx11-dev pkg-config python3 make g++; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${1:-apt}" = apt ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    echo "gpu-deps: installing ${missing[*]}"
    apt_install "${missing[@]}"
  else
    echo "gpu-deps: apt packages present"
  fi
fi

if [ "${1:-apt}" = gl ]; then
  if [ ! -d node_modules/gl ]; then
    echo "gpu-deps: node_modules/gl is absent (run npm ci first)" >&2
    exit 1
  fi
  if node -e "require('gl')" >/dev/null 2>&1; then
    echo "gpu-deps: gl is built"
  else
    echo "gpu-deps: building gl (headless-gl, a few minutes)"
    npm rebuild gl --allow-scripts=gl --foreground-scripts
    node -e "require('gl')"
  fi
fi
