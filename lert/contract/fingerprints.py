# coding=utf-8
"""What a run records of its inputs and settings: input files by content
(path, size, SHA-256, with a stat cache), inputs that an output would
replace, and the first difference between a recorded and a current
setting, shown in one line.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import hashlib
import io
import json
import os
import stat

from lert.contract import atomic_files
from lert.contract.script_errors import InputError


def _inside(path, directory):
  """Whether `path` is `directory` or lies inside it (real paths)."""
  path, directory = os.path.realpath(path), os.path.realpath(directory)
  return path == directory or path.startswith(directory.rstrip(os.sep) +
                                              os.sep)


def check_not_input(output, inputs, flag="--output_dir"):
  """Raises InputError when the output is, contains or lies inside one of
  the inputs (paths; remote ones are not compared)."""
  if atomic_files.is_remote(output):
    return
  for item in inputs:
    if not item or atomic_files.is_remote(item):
      continue
    if _inside(output, item) or _inside(item, output):
      raise InputError("%s %s would hold or replace the input %s: write "
                       "elsewhere." % (flag, output, item))


class InputFile(object):
  """A file recorded in a manifest by its content (describe_file); the
  output directory fingerprints it when it opens (OutputDirectory)."""

  def __init__(self, path):
    self.path = path


def describe_file(path):
  """A file as a manifest records it: by content, so that an edited file is
  a difference and a touched one is not. The OutputDirectory the value is
  given to (in its settings) resolves it to [absolute path, size, sha256]
  (fingerprint); None for no file."""
  return InputFile(path) if path else None


# Bytes read at a time to hash a file.
_HASH_CHUNK = 1 << 22


def fingerprint(path, known=None):
  """[absolute path, size, content hash] of a file, and its stat entry
  [size, mtime_ns, inode, hash] for the manifest's cache.

  A local file is hashed whole with SHA-256 (1.6 GB/s on a 2-core Xeon with
  SHA-NI: docs/reliability.md) unless `known` (its cached stat entry) shows
  the same size, modification time and inode: then its hash is taken from
  there, so an unchanged input costs one stat. A touched file is hashed
  again and gives the same hash. A remote file (gs://: objects are replaced,
  never edited) is recorded by size and modification time.
  """
  if atomic_files.is_remote(path):
    try:
      stat_ = atomic_files.gfile().stat(path)
      return [path, stat_.length, "mtime:%d" % stat_.mtime_nsec], None
    except Exception:
      return [path, None, None], None
  absolute = os.path.abspath(path)
  try:
    stat_ = os.stat(absolute)
  except OSError:
    return [absolute, None, None], None
  if not stat.S_ISREG(stat_.st_mode):
    return [absolute, None, None], None
  entry = [stat_.st_size, stat_.st_mtime_ns, stat_.st_ino]
  if known and list(known[:3]) == entry:
    digest = known[3]
  else:
    hasher = hashlib.sha256()
    with io.open(absolute, "rb") as f:
      for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
        hasher.update(chunk)
    digest = "sha256:" + hasher.hexdigest()
  return [absolute, stat_.st_size, digest], entry + [digest]


def resolve_files(value, known, seen):
  """`value` with every InputFile replaced by its fingerprint; the stat
  entries go to `seen` (absolute path -> entry)."""
  if isinstance(value, InputFile):
    absolute = (value.path if atomic_files.is_remote(value.path) else
                os.path.abspath(value.path))
    record, entry = fingerprint(value.path, known.get(absolute))
    if entry is not None:
      seen[absolute] = entry
    return record
  if isinstance(value, dict):
    return collections.OrderedDict(
        (k, resolve_files(v, known, seen)) for k, v in value.items())
  if isinstance(value, (list, tuple)):
    return [resolve_files(v, known, seen) for v in value]
  return value


def _first_difference(recorded, current, keys, prefix=""):
  """The first key (dotted inside nested dicts, e.g.
  maker_kwargs.random_seed) whose values differ, with both values; None."""
  for key in keys:
    old, new = recorded.get(key), current.get(key)
    if old == new:
      continue
    if isinstance(old, dict) and isinstance(new, dict):
      inner = _first_difference(old, new, sorted(set(old) | set(new)),
                                prefix + key + ".")
      if inner:
        return inner
    return Difference(prefix + key, old, new)
  return None


def first_difference(recorded, current, keys=None):
  """The first setting (a Difference, dotted inside nested dicts) whose
  value differs between two records of settings, among `keys` (default:
  all of both); None when they agree."""
  if keys is None:
    keys = sorted(set(recorded) | set(current))
  return _first_difference(recorded, current, keys)


def show_value(value):
  """A recorded value as an error line shows it (JSON, cut at 200)."""
  return _show(value)


# A setting that differs between the record and this run.
Difference = collections.namedtuple("Difference", ["key", "recorded",
                                                   "current"])


def _show(value):
  text = json.dumps(value, ensure_ascii=False, sort_keys=True)
  return text if len(text) <= 200 else text[:197] + "..."
