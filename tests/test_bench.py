# coding=utf-8
"""The benchmark that `make bench` leads with, at a size that runs in
seconds: run_pretraining.py beside its stripped loop
(bench/pretrain_throughput.py). It breaks silently if the script stops
writing a summary at every step, or if the two time different steps."""

import json
import os
import re

import pytest

from conftest import run_script, tiny_config
import synthetic_data


@pytest.mark.slow
def test_pretrain_throughput_times_the_same_steps_of_script_and_loop(
    tmp_path):
  config = tmp_path / "config.json"
  config.write_text(tiny_config(vocab_size=21128).to_json_string())
  args = ["--config=%s" % config, "--max_seq_length=32", "--batch_size=4",
          "--steps=3", "--warmup_steps=2", "--repeats=1"]
  result = run_script("bench/pretrain_throughput.py", *args)
  assert result.returncode == 0, result.stderr[-3000:]
  rows = dict(re.findall(r"^\| (loop|script) \| (.*)$", result.stdout,
                         re.MULTILINE))
  assert sorted(rows) == ["loop", "script"], result.stdout
  assert re.search(r"^script / loop: \d+\.\d\d \(by the mean step: "
                   r"\d+\.\d\d\)$", result.stdout, re.MULTILINE)

  # Each kind alone: exactly --steps step times, every one positive.
  records = tmp_path / "records"
  records.mkdir()
  for i in range(4):
    synthetic_data.write_synthetic_records(
        str(records / ("synthetic-%d.tfrecord" % i)), 8, 32, 5, 21128,
        seed=i, missing_label_rate=0.05)
  for kind in ("loop", "script"):
    result = run_script("bench/pretrain_throughput.py", "--only=" + kind,
                        "--records=%s" % os.path.join(str(records),
                                                      "synthetic-*.tfrecord"),
                        *args)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(measured["step_seconds"]) == 3, (kind, measured)
    assert all(seconds > 0 for seconds in measured["step_seconds"])
