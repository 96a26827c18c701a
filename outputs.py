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
import io
import json
import os
import shutil
import socket
import stat
import sys
import time

import script_errors

try:
  import fcntl
except ImportError:  # not POSIX: no locks
  fcntl = None

InputError = script_errors.InputError

MANIFEST = "lert_run.json"
LOCK = ".lert_run.lock"


def is_remote(path):
  return "://" in path


def _gfile():
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
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


def _open_locked(path):
  """Opens `path` (made if needed), locks it exclusively without waiting and
  empties it. When another run holds it: Locked(None, its contents). Without
  fcntl (not POSIX) nothing is locked."""
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


def describe_file(path):
  """A file as recorded in a manifest: its absolute path and size, so that a
  changed file is seen."""
  if not path:
    return None
  if is_remote(path):
    return [path, None]
  try:
    return [os.path.abspath(path), os.path.getsize(path)]
  except OSError:
    return [os.path.abspath(path), None]


def _first_difference(recorded, current, keys):
  for key in keys:
    if recorded.get(key) != current.get(key):
      return key
  return None


def _show(value):
  text = json.dumps(value, ensure_ascii=False, sort_keys=True)
  return text if len(text) <= 120 else text[:117] + "..."


class OutputDirectory(object):
  """The contract of a directory a run writes.

  Args:
    path: the directory.
    script: the script's name, recorded; another script's directory is
      refused.
    settings: dict name -> JSON value of what decides the contents.
    outputs: glob patterns (relative to `path`) of what the script writes;
      `--overwrite` removes only those (and the manifest).
    inputs: paths the run reads (files or directories); an overwrite that
      would remove them is refused.
    overwrite: remove the earlier run's outputs when the settings differ.
    may_change: settings that a resumed run may change (recorded anew).
    lock_name: the lock file (several machines that write disjoint shares of
      one directory each take their own).
    require_record: refuse a directory that holds outputs of the script but
      no manifest (a run that only evaluates or predicts with a checkpoint
      made elsewhere passes False).
  Use it as a context manager: the lock is held inside the block.
  """

  def __init__(self, path, script, settings, outputs, inputs=(),
               overwrite=False, may_change=(), lock_name=LOCK,
               require_record=True):
    self.path = path
    self.script = script
    self.settings = settings
    self.outputs = list(outputs)
    self.inputs = [p for p in inputs if p]
    self.overwrite = overwrite
    self.may_change = set(may_change)
    self.lock_name = lock_name
    self.require_record = require_record
    self._lock_fd = None
    self._lock_path = None
    self._recorded_settings = None
    self.resumed = False

  @property
  def manifest_path(self):
    return os.path.join(self.path, MANIFEST)

  def __enter__(self):
    self.open()
    return self

  def __exit__(self, *unused):
    self.close()
    return False

  def open(self):
    """Checks, locks and records the directory."""
    if is_remote(self.path):
      return self._open_remote()
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
    self._lock()
    try:
      recorded = self._read_manifest()
      owned = self.owned_files()
      if recorded is not None:
        self._check_recorded(recorded, owned)
      elif self.require_record and owned:
        self._refuse_or_clear(
            "%s holds %s but no %s: it was written by a run that recorded no "
            "settings" % (self.path, owned[0], MANIFEST))
      manifest = self._manifest()
      if not (recorded and recorded.get("script") == self.script and
              recorded.get("settings") == manifest["settings"]):
        # (Several machines resuming one tagging directory rewrite nothing.)
        write_json(self.manifest_path, manifest)
    except BaseException:
      self.close()
      raise

  def _open_remote(self):
    """A remote directory: no lock (the file system has none), but the
    manifest is checked and written all the same."""
    gfile = _gfile()
    gfile.makedirs(self.path)
    if gfile.exists(self.manifest_path):
      with gfile.GFile(self.manifest_path, "r") as f:
        self._check_recorded(json.loads(f.read()), self.owned_files())
    write_json(self.manifest_path, self._manifest())

  def _manifest(self):
    settings = dict(self._recorded_settings or {})
    settings.update(self.settings)
    return {"script": self.script, "settings": settings,
            "written": time.strftime("%Y-%m-%d %H:%M:%S")}

  def _read_manifest(self):
    if not os.path.exists(self.manifest_path):
      return None
    try:
      with io.open(self.manifest_path, encoding="utf-8") as f:
        value = json.load(f)
      value["settings"].items()
      return value
    except (ValueError, KeyError, TypeError, AttributeError) as e:
      raise InputError("%s is not a run manifest (%s): move it away or use "
                       "another --output_dir." % (self.manifest_path, e))

  def _check_recorded(self, recorded, owned):
    """Goes on, refuses or clears as the manifest `recorded` and the
    script's files there (`owned`) say."""
    if recorded.get("script") != self.script:
      self._refuse_or_clear("%s was written by %s, not %s" % (
          self.path, recorded.get("script"), self.script))
      return
    settings = recorded["settings"]
    # A setting this run does not use (a training setting in a run that only
    # evaluates) is not compared, and stays recorded.
    keys = [k for k in self.settings if k not in self.may_change]
    different = _first_difference(settings, self.settings, keys)
    if different is None or not owned:
      # The same settings, or an earlier run that wrote nothing (it failed
      # on bad input, say): go on.
      self.resumed = True
      self._recorded_settings = settings
      return
    self._refuse_or_clear(
        "%s was written with %s = %s, this run has %s" % (
            self.path, different, _show(settings.get(different)),
            _show(self.settings.get(different))))

  def _refuse_or_clear(self, why):
    if not self.overwrite:
      raise InputError("%s: resume with the same settings, write to another "
                       "--output_dir, or pass --overwrite to replace what "
                       "%s wrote there." % (why, self.script))
    check_not_input(self.path, self.inputs)
    self.clear()

  def owned_files(self):
    """The names in the directory that this script writes (sorted; not the
    manifest or a lock)."""
    if is_remote(self.path):
      names = [name.rstrip("/") for name in _gfile().listdir(self.path)]
    else:
      names = os.listdir(self.path)
    return [name for name in sorted(names)
            if name != MANIFEST and not name.startswith(LOCK) and
            any(fnmatch.fnmatch(name, pattern) for pattern in self.outputs)]

  def clear_outputs(self):
    """Removes what the script wrote (the patterns of `outputs`), nothing
    else; the manifest stays."""
    for name in self.owned_files():
      path = os.path.join(self.path, name)
      if is_remote(path):
        if _gfile().isdir(path):
          _gfile().rmtree(path)
        else:
          _gfile().remove(path)
      elif os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      else:
        os.remove(path)

  def clear(self):
    """clear_outputs, and the manifest."""
    self.clear_outputs()
    if is_remote(self.manifest_path):
      if _gfile().exists(self.manifest_path):
        _gfile().remove(self.manifest_path)
    elif os.path.exists(self.manifest_path):
      os.remove(self.manifest_path)

  def _lock(self):
    path = os.path.join(self.path, self.lock_name)
    fd, holder = _open_locked(path)
    if fd is None:
      raise InputError("%s is in use by another run (%s): wait for it to "
                       "end or use another --output_dir." %
                       (self.path, holder or "holder unknown"))
    self._lock_path = path
    os.write(fd, ("pid %d on %s since %s: %s" % (
        os.getpid(), socket.gethostname(), time.strftime("%H:%M:%S"),
        " ".join(sys.argv))).encode("utf-8"))
    self._lock_fd = fd

  def close(self):
    """Releases the lock (and removes its file)."""
    if self._lock_fd is not None:
      try:
        os.remove(self._lock_path)
      except OSError:
        pass
      os.close(self._lock_fd)
      self._lock_fd = None
