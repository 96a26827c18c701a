# coding=utf-8
"""--help of the scripts documents every flag."""

import os
import subprocess
import sys

from absl import flags
import pytest

import convert_checkpoint
import create_pretraining_data
import linguistic_tagger
import predict_linguistic
import run_classifier
import run_ner
import run_squad

from conftest import REPO


def beam_script():
  pytest.importorskip("apache_beam", reason="Apache Beam is in the TF 2.15 "
                      "environment only")
  import prepare_pretraining_data_beam  # pylint: disable=g-import-not-at-top
  return prepare_pretraining_data_beam


@pytest.mark.parametrize("module,min_flags", [
    (create_pretraining_data, 10), (linguistic_tagger, 10),
    (predict_linguistic, 20), (convert_checkpoint, 6), (run_classifier, 30),
    (run_ner, 30), (run_squad, 30), (beam_script, 20)])
def test_help_documents_every_flag(module, min_flags):
  if module is beam_script:
    module = beam_script()
  flag_values = flags.FlagValues()
  module.define_flags(flag_values)
  script = os.path.join(REPO, module.__name__ + ".py")
  result = subprocess.run([sys.executable, script, "--help"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  text = result.stdout + result.stderr
  assert "Traceback" not in text
  assert len(list(flag_values)) >= min_flags
  # absl wraps the help text: compare with whitespace normalised, the whole
  # of every flag's help (not just its first word).
  flat = " ".join(text.split())
  for name in flag_values:
    flag = flag_values[name]
    assert "--" + name in text or "--[no]" + name in text, name
    assert flag.help and " ".join(flag.help.split()) in flat, name
