#!/usr/bin/env bash
# The Debian packages the tests, the demo and the benchmarks call: ffmpeg/ffprobe (the mixer, the
# sandboxes' media), espeak-ng (the Zoom sandbox's spoken tracks), curl (the download baseline), chromium and
# chromium-driver (the meeting page's browser test, tests/e2e/test_demo.py). With the argument `bench`, also
# postgresql (the benchmarks' FerretDB on PostgreSQL, bench/mongo_pg.py; Debian keeps its programs in
# /usr/lib/postgresql/<version>/bin, off PATH).
# Installs what is missing with apt-get when it can (root, or passwordless sudo); otherwise says
# exactly what to install and fails.
set -euo pipefail

declare -A package_of=([ffmpeg]=ffmpeg [ffprobe]=ffmpeg [espeak-ng]=espeak-ng [curl]=curl [chromium]=chromium
  [chromedriver]=chromium-driver)
missing=()
for tool in ffmpeg ffprobe espeak-ng curl chromium chromedriver; do
  command -v "$tool" >/dev/null || missing+=("${package_of[$tool]}")
done
if [[ "${1:-}" == bench ]] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  missing+=(postgresql)
fi
if ((${#missing[@]} == 0)); then
  exit 0
fi
# De-duplicate (ffmpeg provides ffmpeg and ffprobe).
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if ((EUID == 0)); then
  apt=(apt-get)
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  apt=(sudo apt-get)
else
  echo "missing system packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "missing system packages: ${missing[*]} (no apt-get here: install them with your package manager)" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
