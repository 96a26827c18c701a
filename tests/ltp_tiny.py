# coding=utf-8
"""The tests' LTP 4 model: lert/tagging/random_ltp.py's "tiny" architecture
(a 1-layer BERT with LTP's heads and random weights), saved in the layout
`ltp.LTP(path)` loads."""

from lert.tagging import random_ltp


def build_tiny_ltp(directory, vocab_file, seed=0):
  return random_ltp.build_random_ltp(directory, vocab_file, "tiny", seed)
