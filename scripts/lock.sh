#!/usr/bin/env bash
# Refresh requirements/lock.txt: the exact versions scripts/bootstrap.sh installs (as pip constraints),
# resolved by uv from pyproject.toml (all extras of `.[dev]`) for this machine's Python.
#   bash scripts/lock.sh                          keep every pin pyproject.toml still allows; resolve only
#                                                 what it added or changed
#   bash scripts/lock.sh --upgrade                the newest versions pyproject.toml allows, all of them
#   bash scripts/lock.sh --upgrade-package typer  one package (and what it needs) to its newest
# torch stays at the lock's version (the CPU build bootstrap installs first); to move it, name the new
# one: CARL_TORCH_SPEC=torch==2.14.1 bash scripts/lock.sh. Then run `bash scripts/test.sh` (it
# re-installs .venv from the changed lock) and commit the lock with the suite passing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
LOCK=requirements/lock.txt
UV_VERSION=0.13.9   # the resolver is pinned too: another uv may pick other versions from the same input
tools=${CARL_LOCK_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/carl/lock-tools}
if [ "$("$tools/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  "$PYTHON" -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet "uv==$UV_VERSION"
fi
torch_spec=${CARL_TORCH_SPEC:-$(grep -m1 -E '^torch==' "$LOCK" | cut -d' ' -f1)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "$torch_spec" > "$work/torch-pin"
# uv reads no pip.conf: hand it pip's find-links, where machines that keep the CPU torch wheel on disk keep it.
find_links=()
for link in ${PIP_FIND_LINKS:-$("$PYTHON" -m pip config get global.find-links 2>/dev/null || true)}; do
  find_links+=(--find-links "$link")
done
# --upgrade-package torch: the lock's label-less pin, taken as a preference, would select the default
# index's build of that version (CUDA, with its nvidia-* packages); the constraint alone lets the CPU
# build, a higher version to the resolver (2.13.0+cpu > 2.13.0), win where it is found.
"$tools/bin/uv" pip compile pyproject.toml --extra dev --python "$PYTHON" -c "$work/torch-pin" "${find_links[@]}" \
  --upgrade-package torch --annotation-style line --custom-compile-command "bash scripts/lock.sh" --quiet \
  -o "$LOCK" "$@"
# The pin drops torch's local label (+cpu): it names where a wheel came from, and bootstrap installs the
# build itself, first; `torch==2.13.0` then matches whichever 2.13.0 build that was.
sed -i -E -e 's/^(torch==[^+ ]+)\+[A-Za-z0-9.]+/\1/' -e "s#-c $work/torch-pin#-c CARL_TORCH_SPEC#" "$LOCK"
target=$("$PYTHON" -c 'import platform as p, sys; v = sys.version_info
print("%s %s, %s %d.%d" % (p.system(), p.machine(), p.python_implementation(), v[0], v[1]))')
{
  echo "# The exact versions scripts/bootstrap.sh installs, as pip constraints: they fix versions and install"
  echo "# nothing pyproject.toml does not ask for (pip install -c requirements/lock.txt -e \".[dev]\")."
  echo "# Resolved for $target. Refresh: bash scripts/lock.sh (see its header and CONTRIBUTING.md)."
  grep -v -E '^# (The exact versions|nothing pyproject|Resolved for)' "$LOCK"
} > "$work/lock" && cp "$work/lock" "$LOCK"
echo "scripts/lock.sh: wrote $LOCK ($(grep -c '==' "$LOCK") pins, $torch_spec)"
