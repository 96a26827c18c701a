# coding=utf-8
"""The one error hierarchy of every script, and input-file globbing and opening.

No TensorFlow here, so that processes which need none (the LTP tagger and
its workers) do not pay for importing it: TensorFlow is imported only to
expand a remote (gs://...) pattern.

`InputError` is bad input — a file, a line, a flag value, a config — whose
message names it; `run_reporting_errors` turns it (and file-system errors)
into the one line `script.py: error: <message>` and exit status 1.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import glob
import gzip
import io
import os
import re
import signal
import sys
import zlib


class InputError(Exception):
  """Bad input: a file, a line, a flag value, a config or a checkpoint that
  cannot be used; the message names it. The one error class of every
  script's input problems (modeling.ConfigError and
  convert_checkpoint.ConversionError name two kinds of it)."""


# A bad input line left out where skipping is the documented behaviour: its
# file, its 1-based line number and what is wrong with it.
SkippedLine = collections.namedtuple("SkippedLine", ["path", "line", "problem"])


class Stopped(BaseException):
  """Raised in the main thread when the script gets SIGTERM, SIGINT or
  SIGHUP (run_reporting_errors): not an Exception, so that nothing handles
  it as bad input, while every `finally` and context manager on the way out
  runs (a temporary file is removed, an output directory records what was
  written and is unlocked)."""

  def __init__(self, signum):
    super(Stopped, self).__init__(signum)
    self.signum = signum


# The signals that stop a script cleanly.
STOP_SIGNALS = tuple(getattr(signal, name) for name in
                     ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


def _stop(signum, unused_frame):
  # Once: a second signal (Ctrl-C twice) must not break off the clean-up.
  for other in STOP_SIGNALS:
    signal.signal(other, signal.SIG_IGN)
  raise Stopped(signum)


def _stopped(script, signum):
  sys.stderr.write("%s: stopped by %s.\n" % (script,
                                             signal.Signals(signum).name))
  raise SystemExit(128 + signum)


_STOPPED_TEXT = re.compile(r"script_errors\.Stopped: (\d+)")


def _stopped_inside(error):
  """The signal of a Stopped that a library caught and wrapped in `error`
  (Beam re-raises an error of a step as a RuntimeError naming it), or
  None."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, Stopped):
      return error.signum
    found = _STOPPED_TEXT.search(str(error))
    if found:
      return int(found.group(1))
    error = error.__cause__ or error.__context__
  return None


def run_reporting_errors(run, script, translate=None):
  """Calls run(); bad input (InputError and its subclasses, a file that
  cannot be read or written) ends the script with the one line
  `script: error: message` and exit status 1.

  `translate(error)` names bad input among other errors (TensorFlow's
  file-system errors, input_pipeline.tensorflow_problem; a Beam worker's
  error, in the Beam script): it returns the message, or None for an error
  that is a bug (raised as it is).

  SIGTERM, SIGINT and SIGHUP raise Stopped in run(), so that it cleans up as
  on any failure; then the one line `script: stopped by SIGTERM` and exit
  status 128 + the signal's number, as a shell reports a killed process.
  """
  previous = {}
  for signum in STOP_SIGNALS:
    try:
      previous[signum] = signal.signal(signum, _stop)
    except ValueError:  # not the main thread: leave the signals alone
      break
  try:
    return run()
  except Stopped as e:
    _stopped(script, e.signum)
  except (InputError, EnvironmentError) as e:
    raise SystemExit("%s: error: %s" % (script, e))
  except Exception as e:  # pylint: disable=broad-except
    signum = _stopped_inside(e)
    if signum is not None:
      _stopped(script, signum)
    message = translate(e) if translate else None
    if message is None:
      raise
    raise SystemExit("%s: error: %s" % (script, message))
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def init_worker_signals():
  """In a worker process of a pool: Ctrl-C (SIGINT to the whole process
  group) is for the main process, which stops the pool; SIGTERM (the pool's
  terminate) ends the worker at once."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_DFL)


def require_at_least_one(names, flag_values):
  """Registers, for each flag named, the check (when flags are parsed) that
  its value is at least 1."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  for name in names:
    flags.register_validator(name, lambda value: value >= 1,
                             message="--%s must be at least 1." % name,
                             flag_values=flag_values)


def open_binary(path):
  """Opens an input file for reading bytes, gunzipping it if it ends with
  .gz. The readers of the scripts take another opener in its place (the
  Beam pipeline's reads gs:// and other remote paths)."""
  return gzip.open(path, "rb") if path.endswith(".gz") else io.open(path, "rb")


# The control characters (Unicode category Cc: U+0000-U+001F and
# U+007F-U+009F) but the tab; a regular expression, since every line of every
# corpus passes through it.
CONTROL_CHARACTERS = re.compile(u"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def read_lines(path, on_error="stop", skipped=None, counts=None,
               open_file=open_binary):
  """Yields (line number, text) of every line of a UTF-8 text file, plain
  or gzipped: the one line reader of every script, with the same rules
  everywhere:

  * a BOM at the start of the file is dropped; the line end (LF or CRLF) is
    removed;
  * invalid UTF-8, or a NUL (a binary or corrupt file), is bad input;
  * other control characters (U+0008 and the like, which the BERT tokenizer
    drops anyway) are removed from the text, and each such line is counted
    in `counts["lines with control characters removed"]` (a Counter);
  * an empty file, or one that ends early (a truncated .gz), is an error.

  Bad input raises InputError naming the file and line; with
  on_error="skip" the line is left out and given to `skipped` (a list) as a
  SkippedLine instead.
  """
  number = 0
  if "://" not in path and not os.path.exists(path):
    raise InputError("%s does not exist." % path)
  try:
    with open_file(path) as reader:
      for number, raw in enumerate(reader, 1):
        problem = None
        try:
          line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
          problem = "invalid UTF-8 (%s at byte %d)" % (e.reason, e.start)
        else:
          if number == 1 and line.startswith(u"\ufeff"):
            line = line[1:]
          if line.endswith(u"\n"):
            line = line[:-2] if line.endswith(u"\r\n") else line[:-1]
          if u"\x00" in line:
            problem = "a NUL character (is this a binary file?)"
          elif CONTROL_CHARACTERS.search(line):
            line = CONTROL_CHARACTERS.sub(u"", line)
            if counts is not None:
              counts["lines with control characters removed"] += 1
        if problem:
          if on_error == "skip":
            if skipped is not None:
              skipped.append(SkippedLine(path, number, problem))
            continue
          raise InputError("%s:%d: %s." % (path, number, problem))
        yield number, line
  except (EOFError, zlib.error, IOError, OSError) as e:
    raise InputError("%s: cannot be read after line %d (%s)." %
                     (path, number, e))
  if not number:
    raise InputError("%s is empty." % path)


def _glob(pattern):
  if "://" in pattern:
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    try:
      return [(path, tf.gfile.IsDirectory(path))
              for path in sorted(tf.gfile.Glob(pattern))]
    except tf.errors.NotFoundError:  # TF 1.15, for a missing directory
      return []
  return [(path, os.path.isdir(path)) for path in sorted(glob.glob(pattern))]


def expand_input_files(input_file, glob_fn=_glob, flag="--input_file"):
  """Expands a comma-separated list of globs; every glob must match files.

  `glob_fn(pattern)` lists (path, is a directory) of a glob, sorted; the
  default reads local paths, and remote ones through TensorFlow. `flag`
  names the flag in the errors.
  """
  files = []
  for pattern in input_file.split(","):
    pattern = pattern.strip()
    if not pattern:
      continue
    matched = glob_fn(pattern)
    if not matched:
      raise InputError("%s pattern %r matches no file." % (flag, pattern))
    for path, is_directory in matched:
      if is_directory:
        raise InputError("%s: %s is a directory; give its files "
                         "(e.g. %s/*)." % (flag, path, path.rstrip("/")))
    files.extend(path for path, _ in matched)
  if not files:
    raise InputError("%s is empty: give one or more file globs." % flag)
  return files
