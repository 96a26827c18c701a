# coding=utf-8
"""The one output-directory contract of every script: `OutputDirectory`.

A directory a run writes is locked for the run, records the settings that
decide its contents in `lert_run.json`, lets a re-run with the same
settings resume, refuses one with other settings (naming the first
difference) unless `--overwrite`, and `--overwrite` removes only what the
script itself writes, never an input. Its files are written through
`atomic_files`; its inputs are recorded through `fingerprints`.
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
import re
import shutil
import socket
import sys
import time

from lert.contract import atomic_files
from lert.contract import fingerprints
from lert.contract.script_errors import InputError


MANIFEST = "lert_run.json"


LOCK = ".lert_run.lock"


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
    return atomic_files.is_remote(self.path)

  def _names(self):
    """The files in the directory under the script's patterns (not the
    manifest or the lock), as paths relative to it with "/", sorted. A
    name of a pattern that is a directory (Beam's records/, the runner's
    pretrain/) is listed file by file, so that what the script wrote
    inside it is told apart from a user's file beside it."""
    if self._remote():
      top = [name.rstrip("/")
             for name in atomic_files.gfile().listdir(self.path)]
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
      if not atomic_files.gfile().isdir(path):
        return [name]
      walk = ((root, dirs, files) for root, dirs, files
              in atomic_files.gfile().walk(path))
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
        found = atomic_files.gfile().stat(path)
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
      gfile = atomic_files.gfile()
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
        if atomic_files.gfile().listdir(directory):
          return False
        atomic_files.gfile().rmtree(directory)
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
        atomic_files.gfile().makedirs(self.path)
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
        fingerprints.check_not_input(self.path, self.inputs)
      if not os.path.isdir(self.path):
        try:
          os.makedirs(self.path)
        except OSError as e:
          raise InputError("%s: cannot make the directory (%s)." %
                           (self.path, e.strerror or e))
      since = self._lock()
    try:
      self.open_locked(since)
    except BaseException:
      self.close(record=False)
      raise

  def open_locked(self, since):
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
    self.settings = fingerprints.resolve_files(self.settings,
                                               self._fingerprints, seen)
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
    difference = fingerprints.first_difference(settings, self.settings, keys)
    if difference is None or not self._files:
      # The same settings, or an earlier run that wrote nothing (it failed
      # on bad input, say): go on.
      self.resumed = True
      self._recorded_settings = settings
      return
    why = "%s was written with %s = %s, this run has %s" % (
        self.path, difference.key, fingerprints._show(difference.recorded),
        fingerprints._show(difference.current))
    if not self.overwrite:
      raise InputError("%s: resume with the same settings, write to another "
                       "--output_dir, or pass --overwrite to replace what "
                       "%s wrote there." % (why, self.script))
    fingerprints.check_not_input(self.path, self.inputs)
    self.clear_outputs()

  def _read_manifest(self):
    if self._remote():
      if not atomic_files.gfile().exists(self.manifest_path):
        return None
      reader = atomic_files.gfile().GFile(self.manifest_path, "r")
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
    atomic_files.write_json(self.manifest_path, manifest)

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
    if self._remote():
      yield
      return
    with atomic_files.locked_directory(self.path):
      yield

  # -- The lock.

  def _lock(self):
    """Locks the directory for the run; returns the time a killed run that
    held it began (its lock file stayed), or None."""
    path = os.path.join(self.path, self.lock_name)
    stale = os.path.exists(path)
    fd, holder = atomic_files.open_locked(path, keep=True)
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
