# coding=utf-8
"""The one error hierarchy of every script, and the one way a script stops.

No TensorFlow here, so that processes which need none (the LTP tagger and
its workers) do not pay for importing it.

`InputError` is bad input — a file, a line, a flag value, a config — whose
message names it; `run_reporting_errors` turns it (and file-system errors)
into the one line `script.py: error: <message>` and exit status 1, and
turns SIGTERM, SIGINT and SIGHUP into `Stopped`, so that a stopped script
cleans up as on any failure and says so in one line. Reading input lives in
`input_files.py`; the flags' parse-time checks in `script_flags.py`.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import contextlib
import re
import signal
import sys
import threading


# The bad-input errors of Google's three BERT modules as this project writes
# them (modeling.py, tokenization.py): they import nothing of the project, so
# that each drops into any BERT codebase, and raise ValueErrors of their own.
BERT_MODULE_ERRORS = (("modeling", "ConfigError"),
                      ("tokenization", "VocabularyError"))


def is_bert_module_error(error):
  """Whether `error` is one of BERT_MODULE_ERRORS (of a module imported)."""
  for module, name in BERT_MODULE_ERRORS:
    kind = getattr(sys.modules.get(module), name, None)
    if kind is not None and isinstance(error, kind):
      return True
  return False


class InputError(Exception):
  """Bad input: a file, a line, a flag value, a config or a checkpoint that
  cannot be used; the message names it. The one error class of every
  script's input problems (convert_checkpoint.ConversionError names a kind
  of it; the BERT modules' own errors, BERT_MODULE_ERRORS, count as it)."""


class Stopped(BaseException):
  """Raised in the main thread when the script gets SIGTERM, SIGINT or
  SIGHUP (run_reporting_errors): not an Exception, so that nothing handles
  it as bad input, while every `finally` and context manager on the way out
  runs (a temporary file is removed, an output directory records what was
  written and is unlocked). `step`: the training step a stopped training
  saved its checkpoint at (stops_deferred), or None."""

  def __init__(self, signum, step=None):
    super(Stopped, self).__init__(signum)
    self.signum = signum
    self.step = step


# The signals that stop a script cleanly.
STOP_SIGNALS = tuple(getattr(signal, name) for name in
                     ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))


# While a training loop runs (stops_deferred): the stop signals received,
# else None.
_deferred = None


def _stop(signum, unused_frame):
  if _deferred is not None and not _deferred:
    # The loop ends after its step and saves; a second signal stops at once.
    _deferred.append(signum)
    return
  # Once: a second signal (Ctrl-C twice) must not break off the clean-up.
  for other in STOP_SIGNALS:
    signal.signal(other, signal.SIG_IGN)
  raise Stopped(signum)


@contextlib.contextmanager
def stops_deferred():
  """Inside the block a first stop signal does not raise: it is recorded
  (`pending_stop`) for a training loop to end after its current step and
  save a checkpoint there (estimator_runner.EstimatorRunner.train); a second
  one raises Stopped at once."""
  global _deferred
  outer, _deferred = _deferred, []
  try:
    yield
  finally:
    _deferred = outer


def reclaim_stop_signals():
  """Installs this module's stop handler again where it was installed
  (run_reporting_errors), from the main thread: TensorFlow's preemption
  notifier (a multi-worker TF_CONFIG run, TensorFlow 2) replaces the
  process's SIGTERM handler with its own, which only logs "SIGTERM caught",
  while Python still believes its handler is in place."""
  if threading.current_thread() is not threading.main_thread():
    return
  for signum in STOP_SIGNALS:
    if signal.getsignal(signum) is _stop:
      signal.signal(signum, _stop)


def pending_stop():
  """The stop signal received inside stops_deferred, or None."""
  return _deferred[0] if _deferred else None


def _stopped(script, signum, step=None):
  name = signal.Signals(signum).name
  if step is None:
    sys.stderr.write("%s: stopped by %s.\n" % (script, name))
  else:
    sys.stderr.write("%s: stopped by %s at step %d; run the same command to "
                     "resume.\n" % (script, name, step))
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
    _stopped(script, e.signum, e.step)
  except (InputError, EnvironmentError) as e:
    raise SystemExit("%s: error: %s" % (script, e))
  except Exception as e:
    if is_bert_module_error(e):
      raise SystemExit("%s: error: %s" % (script, e))
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
