#!/usr/bin/env bash
# Render a QC report (index.html) in headless Chromium and save a PNG screenshot.
#
#   scripts/qc_screenshot.sh QC_DIR_OR_INDEX_HTML [OUT.png] [WIDTHxHEIGHT]
#
# Needs Chromium (Debian/Ubuntu: apt-get install -y chromium). Set CHROMIUM=/path/to/binary to
# use another build (chromium-browser, google-chrome). Exit status: 0 when the screenshot was
# written, 1 when Chromium failed, 2 for bad arguments or no Chromium.
set -euo pipefail

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
if [[ $# -ge 1 && ( "$1" == "-h" || "$1" == "--help" ) ]]; then usage; exit 0; fi
if [[ $# -lt 1 || $# -gt 3 ]]; then usage >&2; exit 2; fi
target=$1
out=${2:-qc_screenshot.png}
size=${3:-1400x1000}
[[ -d "$target" ]] && target="$target/index.html"
if [[ ! -f "$target" ]]; then
    echo "qc_screenshot: no such file: $target" >&2
    exit 2
fi
browser=${CHROMIUM:-}
if [[ -z "$browser" ]]; then
    for candidate in chromium chromium-browser google-chrome; do
        if command -v "$candidate" >/dev/null 2>&1; then browser=$(command -v "$candidate"); break; fi
    done
fi
if [[ -z "$browser" ]]; then
    echo "qc_screenshot: Chromium not found (apt-get install -y chromium, or set CHROMIUM=...)" >&2
    exit 2
fi
url="file://$(cd "$(dirname "$target")" && pwd)/$(basename "$target")"
out_abs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$out_abs"
# A throw-away profile, no network side traffic, no GPU, no sandbox (containers, root in CI);
# the virtual time budget lets lazy-loaded thumbnails and the sort script settle first.
"$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-first-run --no-default-browser-check --hide-scrollbars \
    --user-data-dir="$profile" --virtual-time-budget=5000 \
    --window-size="${size/x/,}" --screenshot="$out_abs" "$url" >/dev/null 2>&1 || true
if [[ ! -s "$out_abs" ]]; then
    echo "qc_screenshot: Chromium did not write $out_abs" >&2
    exit 1
fi
echo "$out_abs"
