# shellcheck shell=bash
# Packages a Lambda `provided.al2023` executable: the file, renamed `bootstrap`, mode 0755, at
# the root of a zip. Source it; shared by scripts/lambda-zip and scripts/build-controller.
#
#   bootstrap_zip <executable> <out.zip> <compression level 1-9>
#
# The entry's timestamp is fixed (1980-01-01 UTC) and no extra attributes are stored, so the
# same executable always gives a byte-identical zip.
bootstrap_zip() {
  local executable="$1" out="$2" level="$3" staging
  command -v zip >/dev/null || {
    echo "bootstrap_zip: the 'zip' command is missing (apt-get install zip)" >&2
    return 1
  }
  staging="$(mktemp -d)"
  cp "$executable" "$staging/bootstrap"
  chmod 0755 "$staging/bootstrap"
  TZ=UTC touch -t 198001010000 "$staging/bootstrap"
  rm -f "$out"
  (cd "$staging" && TZ=UTC zip --quiet -X "-$level" "$out" bootstrap)
  local status=$?
  rm -rf "$staging"
  return "$status"
}
