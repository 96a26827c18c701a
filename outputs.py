# coding=utf-8
"""What a run promises about its outputs: the one atomic writer and the one
output-directory contract of every script. No TensorFlow here (it is
imported only for remote gs:// paths).

* `atomic_path` / `atomic_open`: a file is written under a temporary name
  beside its target, flushed and renamed over the target only when complete;
  a target that exists and is no regular file (a device, a FIFO, a
  directory, a link to one) is refused; the temporary file is removed on
  every failure (a full disk included) and is locked while it is written, so
  that a second run writing the same target at once stops with one line.
* `OutputDirectory`: a directory a run writes is locked for the run, records
  the settings that decide its contents in `lert_run.json`, lets a re-run
  with the same settings resume, refuses one with other settings (naming the
  first difference) unless `--overwrite`, and `--overwrite` removes only what
  the script itself writes, never an input.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import contextlib
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import socket
import stat
import sys
import time

from script_errors import InputError

try:
  import fcntl
except ImportError:  # not POSIX: no locks
  fcntl = None

MANIFEST = "lert_run.json"
LOCK = ".lert_run.lock"


def is_remote(path):
  return "://" in path


def _gfile():
  import tensorflow.compat.v1 as tf
  return tf.io.gfile


def check_target(path):
  """The real path to write for `path`: its target when it is a link to a
  regular file. Raises InputError when `path` exists and is no regular file
  (a device, a FIFO, a socket, a directory, or a link to one)."""
  if is_remote(path):
    if _gfile().isdir(path):
      raise InputError("%s is a directory, not a file to write." % path)
    return path
  real = os.path.realpath(path)
  try:
    mode = os.stat(real).st_mode
  except OSError:
    return real  # does not exist yet (or a dangling link: written anew)
  if stat.S_ISDIR(mode):
    raise InputError("%s is a directory, not a file to write." % path)
  if not stat.S_ISREG(mode):
    raise InputError("%s exists and is not a regular file (a device, FIFO "
                     "or socket): refusing to replace it." % path)
  return real


# What _open_locked returns: the descriptor of the locked file, or None and
# what the run that holds it wrote there.
Locked = collections.namedtuple("Locked", ["fd", "holder"])


def _open_locked(path, keep=False):
  """Opens `path` (made if needed), locks it exclusively without waiting and
  empties it (unless `keep`). When another run holds it: Locked(None, its
  contents). Without fcntl (not POSIX) nothing is locked."""
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is None:
      return Locked(fd, None)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (IOError, OSError):
      try:
        return Locked(None,
                      os.read(fd, 4096).decode("utf-8", "replace").strip())
      finally:
        os.close(fd)
    # The run that held it may have renamed or removed it between our open
    # and our lock: then lock the file the path names now.
    try:
      same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except OSError:
      same = False
    if same:
      if not keep:
        os.ftruncate(fd, 0)
      return Locked(fd, None)
    os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path beside `path` for a writer that takes a path
  (a TFRecord writer, a checkpoint saver, safetensors); on success it is
  renamed to `path`, on any failure removed."""
  target = check_target(path)
  temp = target + ".tmp"
  if is_remote(target):
    gfile = _gfile()
    try:
      yield temp
      gfile.rename(temp, target, overwrite=True)
    except BaseException:
      if gfile.exists(temp):
        gfile.remove(temp)
      raise
    return
  directory = os.path.dirname(target)
  if directory and not os.path.isdir(directory):
    os.makedirs(directory)
  fd = _open_locked(temp).fd
  if fd is None:
    raise InputError("another run is writing %s now (it holds %s); wait for "
                     "it or write elsewhere." % (path, temp))
  try:
    yield temp
    if os.path.exists(target):
      check_target(target)  # made a device or directory meanwhile?
    os.fsync(fd)  # the writer's file: what it wrote reaches the disk
    os.rename(temp, target)
  except BaseException:
    if os.path.lexists(temp):
      os.remove(temp)
    raise
  finally:
    os.close(fd)


def remove_abandoned(path):
  """Removes the temporary file of `path` that a writer killed in another
  process (a pool's worker, on terminate) left, unless a writer still holds
  it."""
  temp = check_target(path) + ".tmp"
  if is_remote(temp) or not os.path.exists(temp):
    return
  fd = _open_locked(temp, keep=True).fd
  if fd is None:
    return  # written now
  try:
    os.remove(temp)
  finally:
    os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding="utf-8"):
  """A file object open for writing on a temporary name beside `path`,
  renamed to `path` when the block ends without error (see atomic_path)."""
  with atomic_path(path) as temp:
    if is_remote(temp):
      writer = _gfile().GFile(temp, mode)
    elif "b" in mode:
      writer = io.open(temp, mode)
    else:
      writer = io.open(temp, mode, encoding=encoding)
    with writer:
      yield writer
      writer.flush()


def write_text(path, text):
  """Writes `text` to `path` atomically."""
  with atomic_open(path) as f:
    f.write(text)


def write_json(path, value):
  write_text(path, json.dumps(value, ensure_ascii=False, indent=2) + u"\n")


# ----------------------------------------------------------------------------
# The output directory contract.


def _inside(path, directory):
  """Whether `path` is `directory` or lies inside it (real paths)."""
  path, directory = os.path.realpath(path), os.path.realpath(directory)
  return path == directory or path.startswith(directory.rstrip(os.sep) +
                                              os.sep)


def check_not_input(output, inputs, flag="--output_dir"):
  """Raises InputError when the output is, contains or lies inside one of
  the inputs (paths; remote ones are not compared)."""
  if is_remote(output):
    return
  for item in inputs:
    if not item or is_remote(item):
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
  if is_remote(path):
    try:
      stat_ = _gfile().stat(path)
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
    absolute = (value.path if is_remote(value.path) else
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


def first_difference(recorded, current):
  """The first setting (a Difference, dotted inside nested dicts) whose
  value differs between two records of settings; None when they agree."""
  return _first_difference(recorded, current,
                           sorted(set(recorded) | set(current)))


def show_value(value):
  """A recorded value as an error line shows it (JSON, cut at 200)."""
  return _show(value)


# A setting that differs between the record and this run.
Difference = collections.namedtuple("Difference", ["key", "recorded",
                                                   "current"])


def _show(value):
  text = json.dumps(value, ensure_ascii=False, sort_keys=True)
  return text if len(text) <= 200 else text[:197] + "..."


def not_written(path, script, names):
  """The error line for a directory holding `names` (of the script's
  patterns) that `script` did not write."""
  return ("%s holds %s, which %s did not write (there is no %s): move %s "
          "out of it, or write to another --output_dir; --overwrite removes "
          "only what %s wrote." % (
              path, names[0], script, MANIFEST,
              "it" if len(names) == 1 else "it and %d more" % (len(names) - 1),
              script))


def _recorded_names(recorded, names):
  """The `names` (files under the patterns) that a manifest's `files`
  list: each by itself, or, in a record of an earlier version that listed
  a directory by its name, every file inside it."""
  recorded = set(recorded)
  owned = []
  for name in names:
    parts = name.split("/")
    if any("/".join(parts[:i]) in recorded for i in range(1, len(parts) + 1)):
      owned.append(name)
  return owned


# The stale lock of a run that was killed names the time it began: what
# appeared in the directory after it was that run's.
_SINCE = re.compile(r"\(t=([0-9.]+)\)")


class OutputDirectory(object):
  """The contract of a directory a run writes.

  Args:
    path: the directory.
    script: the script's name, recorded; another script's directory is
      refused.
    settings: dict name -> JSON value of what decides the contents; an
      InputFile (describe_file) in it is recorded by content.
    outputs: glob patterns (relative to `path`) of the names the script
      writes. What the script wrote is recorded by name in the manifest
      ("files"), and only that is removed by `--overwrite`; a name that
      matches a pattern but that the script did not write (a user's
      model.ckpt-best.*, a downloaded checkpoint) is never removed.
    inputs: paths the run reads (files or directories); an overwrite that
      would remove them is refused.
    overwrite: remove the earlier run's outputs when the settings differ.
    may_change: settings that a resumed run may change (recorded anew).
    lock_name: the lock file (several machines that write disjoint shares of
      one directory each take their own).
    require_record: refuse a directory that holds names of the script's
      patterns that it did not write, and no manifest (a run that only
      evaluates or predicts with a checkpoint made elsewhere passes False).
    temporaries: glob patterns (of the first name of a path) of the
      temporary files that a writer other than ours leaves behind when it
      fails (TensorFlow's `model.ckpt-N_temp/` of a save on a full disk,
      `graph.pbtxt.tmp<hex>`), names the script writes too: what of them
      the script wrote is removed when the run ends, however it ends, and
      when a later run opens the directory (a killed run's).
    adopt: with require_record, a function(names) for such a directory:
      it raises InputError when the names cannot be taken over, else the
      directory is adopted (its files stay the user's, never removed) and
      recorded from then on (run_pretraining.py: a downloaded checkpoint
      resumes in place).
  Use it as a context manager: the lock is held inside the block, and what
  the script wrote is recorded when the block ends, however it ends.
  """

  def __init__(self, path, script, settings, outputs, inputs=(),
               overwrite=False, may_change=(), lock_name=LOCK,
               require_record=True, adopt=None, temporaries=()):
    self.path = path
    self.script = script
    self.settings = settings
    self.outputs = list(outputs) + list(temporaries)
    self.inputs = [p for p in inputs if p]
    self.overwrite = overwrite
    self.may_change = set(may_change)
    self.lock_name = lock_name
    self.require_record = require_record
    self.adopt = adopt
    self.temporaries = list(temporaries)
    self._lock_fd = None
    self._lock_path = None
    self._recorded_settings = None
    self._files = set()  # names the script wrote
    self._fingerprints = {}
    self._snapshot = None  # name -> (mtime, size) of its names at open
    self._manifest_files = set()  # the names the manifest lists
    self.resumed = False
    self.adopted = False

  @property
  def manifest_path(self):
    return os.path.join(self.path, MANIFEST)

  def __enter__(self):
    self.open()
    return self

  def __exit__(self, *unused):
    self.close()
    return False

  # -- The file system (local, or remote through gfile).

  def _remote(self):
    return is_remote(self.path)

  def _names(self):
    """The files in the directory under the script's patterns (not the
    manifest or the lock), as paths relative to it with "/", sorted. A
    name of a pattern that is a directory (Beam's records/, the runner's
    pretrain/) is listed file by file, so that what the script wrote
    inside it is told apart from a user's file beside it."""
    if self._remote():
      top = [name.rstrip("/") for name in _gfile().listdir(self.path)]
    else:
      top = os.listdir(self.path)
    names = []
    for name in top:
      if name == MANIFEST or name.startswith(LOCK) or not any(
          fnmatch.fnmatch(name, pattern) for pattern in self.outputs):
        continue
      names.extend(self._files_under(name))
    return sorted(names)

  def _files_under(self, name):
    """`name` itself, or the files under it (and the links to directories,
    never followed) when it is a directory; an empty directory is listed
    as "path/" (Beam leaves its empty beam-temp-* behind)."""
    path = os.path.join(self.path, name)
    if self._remote():
      if not _gfile().isdir(path):
        return [name]
      walk = ((root, dirs, files) for root, dirs, files
              in _gfile().walk(path))
    elif os.path.isdir(path) and not os.path.islink(path):
      walk = os.walk(path)
    else:
      return [name]
    found = []
    for root, dirs, files in walk:
      relative = os.path.relpath(root, self.path).replace(os.sep, "/")
      # A link to a directory is a name of its own, never followed.
      leaves = list(files) + [d for d in dirs if not self._remote() and
                              os.path.islink(os.path.join(root, d))]
      found.extend("%s/%s" % (relative, leaf.rstrip("/")) for leaf in leaves)
      if not files and not dirs:
        found.append(relative + "/")
    return found

  def _stat(self, name):
    """(modification time in ns, size) of a name; None when it is gone."""
    path = os.path.join(self.path, name)
    try:
      if self._remote():
        found = _gfile().stat(path)
        return (found.mtime_nsec, found.length)
      found = os.lstat(path)
      return (found.st_mtime_ns, found.st_size)
    except Exception:
      return None

  def _remove(self, name):
    """Removes one file the script wrote, then each directory above it
    (below the output directory) that this left empty."""
    path = os.path.join(self.path, name)
    if name.endswith("/"):  # an empty directory: only while it is empty
      self._remove_if_empty(path.rstrip("/"))
    elif self._remote():
      gfile = _gfile()
      if gfile.isdir(path):
        gfile.rmtree(path)  # (a directory name of an earlier record)
      elif gfile.exists(path):
        gfile.remove(path)
    elif os.path.isdir(path) and not os.path.islink(path):
      shutil.rmtree(path)  # (a directory name of an earlier record)
    elif os.path.lexists(path):
      os.remove(path)
    parent = os.path.dirname(name.rstrip("/"))
    while parent and self._remove_if_empty(os.path.join(self.path, parent)):
      parent = os.path.dirname(parent)

  def _remove_if_empty(self, directory):
    """Removes an empty directory; False when it holds anything (a user's
    file) or cannot be removed."""
    try:
      if self._remote():
        if _gfile().listdir(directory):
          return False
        _gfile().rmtree(directory)
      else:
        os.rmdir(directory)
    except Exception:  # not empty, gone, or no permission: it stays
      return False
    return True

  # -- Opening.

  def open(self):
    """Checks, locks and records the directory."""
    if self._remote():
      try:
        _gfile().makedirs(self.path)
      except Exception as e:
        # (TensorFlow's OpError, e.g. no credentials or no network.)
        message = getattr(e, "message", None) or str(e)
        raise InputError(
            "%s: cannot make or reach the directory (%s): check the "
            "credentials (gcloud auth application-default login) and the "
            "network." % (self.path, " ".join(message.split())[:300]))
      since = None  # no lock on a remote file system (docs/reliability.md)
    else:
      if os.path.lexists(self.path) and not os.path.isdir(self.path):
        raise InputError("--output_dir %s exists and is not a directory." %
                         self.path)
      if self.overwrite:
        check_not_input(self.path, self.inputs)
      if not os.path.isdir(self.path):
        try:
          os.makedirs(self.path)
        except OSError as e:
          raise InputError("%s: cannot make the directory (%s)." %
                           (self.path, e.strerror or e))
      since = self._lock()
    try:
      self._open_locked(since)
    except BaseException:
      self.close(record=False)
      raise

  def _open_locked(self, since):
    recorded = self._read_manifest()
    names = self._names()
    if recorded is None:
      foreign = names
    elif "files" not in recorded:
      # A record of an earlier version, which kept no list: the names of
      # the script's patterns are taken as its own, as then.
      self._files = set(names)
      foreign = []
    else:
      self._files = set(_recorded_names(recorded["files"], names))
      foreign = [name for name in names if name not in self._files]
      if since is not None:
        # A run of this directory was killed (its lock file stayed): what
        # appeared or changed after it began is that run's.
        for name in list(foreign):
          found = self._stat(name)
          if found and found[0] >= int((since - 1) * 1e9):
            self._files.add(name)
            foreign.remove(name)
    self._remove_temporaries()
    if recorded is not None:
      self._fingerprints = dict(recorded.get("fingerprints") or {})
    seen = {}
    self.settings = resolve_files(self.settings, self._fingerprints, seen)
    self._fingerprints.update(seen)

    if recorded is None:
      if foreign and self.require_record:
        if self.adopt is None:
          raise InputError(not_written(self.path, self.script, foreign))
        self.adopt(foreign)
        self.adopted = True
    elif recorded.get("script") != self.script:
      raise InputError(
          "%s was written by %s, not %s: write to another --output_dir "
          "(--overwrite removes only what %s wrote)." % (
              self.path, recorded.get("script"), self.script, self.script))
    else:
      self._check_recorded(recorded["settings"])
    self._write_manifest(recorded)
    self._snapshot = {name: self._stat(name) for name in self._names()}

  def _check_recorded(self, settings):
    """Goes on, refuses or clears as the recorded settings say."""
    # A setting this run does not use (a training setting in a run that only
    # evaluates) is not compared, and stays recorded.
    keys = [k for k in self.settings if k not in self.may_change]
    difference = _first_difference(settings, self.settings, keys)
    if difference is None or not self._files:
      # The same settings, or an earlier run that wrote nothing (it failed
      # on bad input, say): go on.
      self.resumed = True
      self._recorded_settings = settings
      return
    why = "%s was written with %s = %s, this run has %s" % (
        self.path, difference.key, _show(difference.recorded),
        _show(difference.current))
    if not self.overwrite:
      raise InputError("%s: resume with the same settings, write to another "
                       "--output_dir, or pass --overwrite to replace what "
                       "%s wrote there." % (why, self.script))
    check_not_input(self.path, self.inputs)
    self.clear_outputs()

  def _read_manifest(self):
    if self._remote():
      if not _gfile().exists(self.manifest_path):
        return None
      reader = _gfile().GFile(self.manifest_path, "r")
    elif not os.path.exists(self.manifest_path):
      return None
    else:
      reader = io.open(self.manifest_path, encoding="utf-8")
    try:
      with reader as f:
        value = json.loads(f.read())
      value["settings"].items()
      return value
    except (ValueError, KeyError, TypeError, AttributeError) as e:
      raise InputError("%s is not a run manifest (%s): move it away or use "
                       "another --output_dir." % (self.manifest_path, e))

  def _manifest(self):
    settings = dict(self._recorded_settings or {})
    settings.update(self.settings)
    return collections.OrderedDict([
        ("script", self.script), ("settings", settings),
        ("files", sorted(self._files)),
        ("fingerprints", self._fingerprints)])

  def _write_manifest(self, recorded):
    """Writes the manifest when what it records changed (several machines
    resuming one tagging directory rewrite nothing)."""
    manifest = self._manifest()
    self._manifest_files = set(manifest["files"])
    if recorded is not None and all(recorded.get(key) == value
                                    for key, value in manifest.items()):
      return
    manifest["written"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_json(self.manifest_path, manifest)

  # -- What the script wrote.

  def owned_files(self):
    """The names in the directory that this script wrote (sorted): those
    recorded, and those that appeared or changed since the directory was
    opened."""
    names = self._names()
    if self._snapshot is not None:
      for name in names:
        if self._snapshot.get(name, None) != self._stat(name):
          self._files.add(name)
    return [name for name in names if name in self._files]

  def _remove_temporaries(self):
    """Removes the temporaries (see `temporaries`) the script wrote."""
    for name in sorted(self._files):
      first = name.split("/", 1)[0]
      if any(fnmatch.fnmatch(first, p) for p in self.temporaries):
        self._remove(name)
        self._files.discard(name)

  def clear_outputs(self, under=None):
    """Removes what the script wrote, nothing else; the manifest stays.
    `under`: only what it wrote in that subdirectory (a relative path)."""
    prefix = None if under is None else under.replace(os.sep, "/") + "/"
    for name in self.owned_files():
      if prefix is None or name.startswith(prefix):
        self._remove(name)
        self._files.discard(name)
    if prefix is None:
      self._files = set()
    if self._snapshot is not None:
      self._snapshot = {name: self._stat(name) for name in self._names()}

  def record_outputs(self):
    """Records in the manifest what the script has written so far (close
    does it too; a run may call it after each checkpoint, so that a killed
    run leaves its files accounted for)."""
    if self._snapshot is None:
      return
    owned = self.owned_files()
    if set(owned) == self._manifest_files:
      return
    with self._manifest_update_lock():
      recorded = self._read_manifest()
      if recorded is not None and recorded.get("files") is not None:
        # Other machines of one tagging directory record theirs too.
        self._files.update(_recorded_names(recorded["files"],
                                           self._names()))
      self._files.intersection_update(self._names())
      self._write_manifest(recorded)

  @contextlib.contextmanager
  def _manifest_update_lock(self):
    """Held while the manifest is read and rewritten: the directory itself
    is locked (no file is left), since machines that share a tagging
    directory each hold their own run lock."""
    if self._remote() or fcntl is None:
      yield
      return
    fd = os.open(self.path, os.O_RDONLY)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX)
      yield
    finally:
      os.close(fd)

  # -- The lock.

  def _lock(self):
    """Locks the directory for the run; returns the time a killed run that
    held it began (its lock file stayed), or None."""
    path = os.path.join(self.path, self.lock_name)
    stale = os.path.exists(path)
    fd, holder = _open_locked(path, keep=True)
    if fd is None:
      raise InputError("%s is in use by another run (%s): wait for it to "
                       "end or use another --output_dir." %
                       (self.path, holder or "holder unknown"))
    since = None
    if stale:
      found = _SINCE.search(os.read(fd, 4096).decode("utf-8", "replace"))
      # (A lock of an earlier version names no time: nothing is attributed.)
      since = float(found.group(1)) if found else None
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    self._lock_path = path
    os.write(fd, ("pid %d on %s since %s (t=%.3f): %s" % (
        os.getpid(), socket.gethostname(), time.strftime("%H:%M:%S"),
        time.time(), " ".join(sys.argv))).encode("utf-8"))
    self._lock_fd = fd
    return since

  def close(self, record=True):
    """Records what the script wrote, then releases the lock (and removes
    its file)."""
    try:
      if self.temporaries and self._snapshot is not None:
        self.owned_files()
        self._remove_temporaries()
      if record:
        self.record_outputs()
    finally:
      if self._lock_fd is not None:
        try:
          os.remove(self._lock_path)
        except OSError:
          pass
        os.close(self._lock_fd)
        self._lock_fd = None
