# coding=utf-8
"""bench/device_check.sh on the CPU: every part of the GPU check but the GPU
(the same script, --device=cpu --tiny)."""

import os
import re
import subprocess
import sys

import pytest
import tensorflow.compat.v1 as tf

from conftest import REPO

from lert.model import flops
import modeling

# bench/device_check.py's --tiny model: 2 layers, hidden 32, intermediate 64,
# Chinese BERT's vocabulary.
TINY = modeling.BertConfig(vocab_size=21128, hidden_size=32,
                           num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64)


def test_model_flops_count_every_matmul_of_a_hand_worked_model():
  """L=1, H=2, I=4, T=3, P=1, V=5: per layer and token the forward pass
  multiplies Q, K, V and the attention output (4 H^2 = 16 MACs) and the two
  feed-forward matrices (2 H I = 16); attention scores and the weighted sum
  are 2 T H = 12 MACs per token; the MLM transform and the output
  embedding are H^2 + H V = 14 MACs per prediction. A MAC is 2 FLOPs and
  training is 3 forward passes: 6 (3 x 32 + 3 x 12 + 14) = 876."""
  config = modeling.BertConfig(vocab_size=5, hidden_size=2,
                               num_hidden_layers=1, num_attention_heads=1,
                               intermediate_size=4)
  assert flops.model_flops_per_example(config, 3, 1) == 876


@pytest.mark.slow
@pytest.mark.skipif(not tf.__version__.startswith("2."), reason="the "
                    "device check runs CUDA TensorFlow 2.15 "
                    "(tensorflow[and-cuda]==2.15.1)")
def test_device_check_runs_every_part_on_the_cpu():
  result = subprocess.run(
      ["bash", os.path.join(REPO, "bench", "device_check.sh"),
       "--device=cpu", "--tiny"], cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, universal_newlines=True, timeout=600,
      env=dict(os.environ, PYTHON=sys.executable))
  assert result.returncode == 0, result.stderr[-3000:]
  rows = [line.split(" | ") for line in result.stdout.splitlines()
          if line.startswith("| ") and "---" not in line][1:]
  pretrain = {(row[1], row[2]): row for row in rows
              if row[0] == "| pretrain"}
  assert sorted(pretrain) == sorted((length, mode) for length in ("32", "64")
                                    for mode in ("fp32", "fp16", "bf16",
                                                 "xla"))
  for row in pretrain.values():
    assert float(row[4].split()[0]) > 0 and row[-1] == "ok |", row
  # The same step twice on the CPU from the same weights: bit-identical.
  equal = [row for row in rows if row[0] == "| cpu=cpu"]
  assert equal and re.search(r"loss differs by 0\.0e\+00, \d+ variables by "
                             r"at most 0\.0e\+00", equal[0][-1]), rows
  finetune = [row for row in rows if row[0] == "| finetune"]
  assert finetune and float(finetune[0][4].split()[0]) > 0
  assert "Model FLOPs per example: %d at length 32" % (
      flops.model_flops_per_example(TINY, 32, 5)
  ) in result.stdout


def test_device_check_sh_refuses_a_bad_device():
  result = subprocess.run(
      ["bash", os.path.join(REPO, "bench", "device_check.sh"),
       "--device=tpu"], cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, universal_newlines=True)
  assert result.returncode == 2
  assert result.stderr.strip() == ("device_check.sh: error: --device must "
                                   "be gpu or cpu, not 'tpu'.")


def test_device_check_sh_refuses_lert_base_on_the_cpu():
  """--device=cpu without --tiny ran LERT-base for 8 minutes, then timed
  out and printed nothing."""
  result = subprocess.run(
      ["bash", os.path.join(REPO, "bench", "device_check.sh"),
       "--device=cpu"], cwd=REPO, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
  assert result.returncode == 2
  assert result.stderr.strip() == (
      "device_check.sh: error: --device=cpu runs LERT-base for longer than "
      "the 480 s limit: add --tiny (every part at a tiny size).")
