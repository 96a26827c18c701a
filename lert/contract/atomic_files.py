# coding=utf-8
"""The one atomic writer: a file is written under a temporary name beside its
target, flushed and renamed over the target only when complete. A target
that exists and is no regular file (a device, a FIFO, a directory, a link
to one) is refused; the temporary file is removed on every failure (a full
disk included) and is locked while it is written, so that a second run
writing the same target at once stops with one line. No TensorFlow here (it
is imported only for remote gs:// paths).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import contextlib
import io
import json
import os
import stat

from lert.contract.script_errors import InputError


try:
  import fcntl
except ImportError:  # not POSIX: no locks
  fcntl = None


def is_remote(path):
  return "://" in path


def gfile():
  import tensorflow.compat.v1 as tf
  return tf.io.gfile


def check_target(path):
  """The real path to write for `path`: its target when it is a link to a
  regular file. Raises InputError when `path` exists and is no regular file
  (a device, a FIFO, a socket, a directory, or a link to one)."""
  if is_remote(path):
    if gfile().isdir(path):
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


# What open_locked returns: the descriptor of the locked file, or None and
# what the run that holds it wrote there.
Locked = collections.namedtuple("Locked", ["fd", "holder"])


def open_locked(path, keep=False):
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
def locked_directory(path):
  """Holds an exclusive lock of the directory `path` itself (it leaves no
  file behind); nothing is locked without fcntl (not POSIX)."""
  if fcntl is None:
    yield
    return
  fd = os.open(path, os.O_RDONLY)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
  finally:
    os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path beside `path` for a writer that takes a path
  (a TFRecord writer, a checkpoint saver, safetensors); on success it is
  renamed to `path`, on any failure removed."""
  target = check_target(path)
  temp = target + ".tmp"
  if is_remote(target):
    remote = gfile()
    try:
      yield temp
      remote.rename(temp, target, overwrite=True)
    except BaseException:
      if remote.exists(temp):
        remote.remove(temp)
      raise
    return
  directory = os.path.dirname(target)
  if directory and not os.path.isdir(directory):
    os.makedirs(directory)
  fd = open_locked(temp).fd
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
  fd = open_locked(temp, keep=True).fd
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
      writer = gfile().GFile(temp, mode)
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
