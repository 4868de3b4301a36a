# shellcheck shell=bash
# Pinned Python virtualenvs for the project's tools, shared by scripts/local-aws and
# scripts/infra-tools. Source it; the caller defines `log` and `die`.
#
# A venv is installed from a lock file (the full resolved set, `pip freeze` of a scratch venv)
# and carries a marker with the lock's hash, so it is rebuilt exactly when the lock changes.

# Prints a Python interpreter of version $1 (e.g. 3.13): $2 names an environment variable that
# overrides the search; then pyenv's <version>.0, then python<version> on PATH.
pyvenv_find_python() {
  local version="$1" override="$2" candidate
  if [[ -n "${!override:-}" ]]; then
    candidate="${!override}"
  elif command -v pyenv >/dev/null && [[ -x "$(pyenv root)/versions/$version.0/bin/python" ]]; then
    candidate="$(pyenv root)/versions/$version.0/bin/python"
  elif command -v "python$version" >/dev/null; then
    candidate="$(command -v "python$version")"
  else
    die "Python $version not found: install it with 'pyenv install $version.0' or put python$version on PATH (or set $override)"
  fi
  "$candidate" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$version')" ||
    die "$candidate is not Python $version"
  printf '%s\n' "$candidate"
}

# (Re)builds the venv $1 from lock $2 when it is missing or was installed from a different
# lock, with Python $3 found as pyvenv_find_python does (override variable $4). The marker is
# written last, so an interrupted install is redone on the next run.
pyvenv_ensure() {
  local venv="$1" lock="$2" version="$3" override="$4" python marker hash started
  [[ -f "$lock" ]] || die "$lock is missing"
  marker="$venv/.floodgate-lock-sha256"
  hash="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [[ -f "$marker" && "$(cat "$marker")" == "$hash" ]]; then
    return
  fi
  python="$(pyvenv_find_python "$version" "$override")"
  started=$SECONDS
  log "installing $(basename "$lock") into $venv (takes a few minutes the first time)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --no-input -r "$lock" ||
    die "pip install -r $lock failed"
  printf '%s\n' "$hash" >"$marker"
  log "venv ready in $((SECONDS - started)) s"
}

# Resolves requirements $1 in a scratch venv made with Python $3 (override variable $4) and
# freezes the result into lock $2 under the header line $5, so every machine and CI installs
# exactly the same versions.
pyvenv_lock() {
  local requirements="$1" lock="$2" version="$3" override="$4" header="$5" python scratch
  python="$(pyvenv_find_python "$version" "$override")"
  scratch="$(mktemp -d)"
  if "$python" -m venv "$scratch/venv" &&
    "$scratch/venv/bin/python" -m pip install --quiet --no-input -r "$requirements"; then
    {
      printf '%s\n' "$header"
      "$scratch/venv/bin/python" -m pip freeze --all --exclude pip --exclude setuptools
    } >"$lock"
  else
    rm -rf "$scratch"
    die "could not resolve $requirements"
  fi
  rm -rf "$scratch"
  log "wrote $lock ($(grep -vc '^#' "$lock") packages)"
}
