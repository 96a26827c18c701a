# coding=utf-8
"""Reading input: the one line reader of every script, and input globbing.

No TensorFlow here (the LTP tagger and its workers need none): TensorFlow
is imported only to expand a remote (gs://...) pattern.

* `read_lines`: every line of a UTF-8 text file, plain or gzipped, with the
  same rules in every stage (BOM, CRLF, invalid UTF-8, NUL and control
  characters, empty or truncated files); bad input raises
  script_errors.InputError naming the file and line, or is skipped as a
  `SkippedLine` where skipping is the documented behaviour;
* `open_binary`: the default opener (gunzips .gz);
* `expand_input_files`: comma-separated globs, each of which must match
  files.
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
import zlib

from lert.contract.script_errors import InputError


# A bad input line left out where skipping is the documented behaviour: its
# file, its 1-based line number and what is wrong with it.
SkippedLine = collections.namedtuple("SkippedLine", ["path", "line", "problem"])


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
    import tensorflow.compat.v1 as tf
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


def describe_files(paths):
  """Input files as an error line names them: the first, and how many more
  ("a.jsonl and 3 more")."""
  if len(paths) == 1:
    return paths[0]
  return "%s and %d more" % (paths[0], len(paths) - 1)
