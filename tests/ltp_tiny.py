# coding=utf-8
"""The tests' LTP 4 model: bench/random_ltp.py's "tiny" architecture (a
1-layer BERT with LTP's heads and random weights), saved in the layout
`ltp.LTP(path)` loads."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "bench"))

import random_ltp  # noqa: E402


def build_tiny_ltp(directory, vocab_file, seed=0):
  return random_ltp.build_random_ltp(directory, vocab_file, "tiny", seed)
