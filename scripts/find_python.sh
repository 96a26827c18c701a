#!/usr/bin/env bash
# Prints the path of a working python<VERSION> (e.g. 3.7), or nothing.
# Looks on PATH first, then in pyenv's versions (a pyenv shim on PATH can
# exist without the version being active).
version="$1"
for candidate in "python${version}" \
    "$(pyenv root 2>/dev/null)"/versions/${version}*/bin/python${version} \
    "$HOME"/.pyenv/versions/${version}*/bin/python${version} \
    /usr/local/bin/python${version} /usr/bin/python${version}; do
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if "$path" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '${version}'.split('.')))" >/dev/null 2>&1; then
    echo "$path"
    exit 0
  fi
done
exit 0
