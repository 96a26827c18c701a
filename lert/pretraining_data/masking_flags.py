# coding=utf-8
"""The masking flags that create_pretraining_data.py and the Beam pipeline
share, and the keyword arguments of `instances.InstanceMaker` read from
them (docs/spec.md §4 holds the numbers).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

from lert.contract import script_flags
from lert.pretraining_data import masking
from lert.tagging import linguistic_tags




def define_masking_flags(flag_values):
  """The flags that decide the instances (InstanceMaker's settings), which
  this script and prepare_pretraining_data_beam.py share."""
  define = script_flags.FlagDefiner(flag_values)
  define.string("vocab_file", "configs/vocab.txt",
                "WordPiece vocabulary (the Chinese BERT vocab).")
  define.bool("do_lower_case", True, "Lower-case the text.")
  define.integer("max_seq_length", 512, "Maximum sequence length.")
  define.integer("max_predictions_per_seq", 75,
                 "Maximum masked positions per sequence.")
  define.float("masked_lm_prob", 0.15, "Share of tokens to mask.")
  define.float(
      "short_seq_prob",
      0.1, "Probability of a shorter sequence, to reduce the mismatch "
      "between pre-training and fine-tuning lengths.")
  define.integer("max_ngram", 4,
                 "Longest word N-gram masked (probabilities 0.4, 0.3, "
                 "0.2, 0.1 for n = 1..4, renormalised if smaller).")
  define.integer("dupe_factor", 10,
                 "Times each document is used, with different masks.")
  define.integer("random_seed", 12345, "Random seed.")
  define.enum(
      "linguistic_masking", "none", list(linguistic_tags.MASKING_MODES),
      "LMLM (paper §5.3, Table 9): the 80% case of a masked token writes a "
      "mask token naming its tag instead of [MASK]: pos ([MASK-POS-n]), "
      "ner, dep, all (the three, their embeddings summed), or mix (one of "
      "the three drawn per token). A token whose tag is missing gets "
      "[MASK]. Train such records with --linguistic_tasks= (MLM only).")
  define.float("max_untagged_share", 0.01,
               "With --linguistic_masking, the largest share of "
               "documents that may lack a tag the mode writes (their "
               "masked tokens get [MASK] instead); more is refused, "
               "since the records would no longer be what the mode is "
               "named. A corpus with none of the tag is refused before "
               "any record is made.")
  define.bool("fast_tokenizer", True,
              "Tokenize with Hugging Face tokenizers (Rust) where it is "
              "installed; the output is the same as tokenization.py's "
              "(which does every text the two could differ on).")
  define.validator(
      "max_ngram", lambda value: 1 <= value <= len(masking.NGRAM_PROBS),
      message="--max_ngram must be 1..%d." % len(masking.NGRAM_PROBS))
  define.validator(
      "max_seq_length", lambda value: value >= 5,
      message="--max_seq_length must be at least 5 ([CLS] A [SEP] B [SEP]).")
  define.at_least_one("max_predictions_per_seq", "dupe_factor")
  # As run_pretraining.py checks it: records it would refuse are not written.
  define.multi_validator(
      ["max_predictions_per_seq", "max_seq_length"],
      lambda v: v["max_predictions_per_seq"] <= v["max_seq_length"],
      message="--max_predictions_per_seq exceeds --max_seq_length.")
  define.validator(
      "masked_lm_prob", lambda value: 0.0 < value < 1.0,
      message="--masked_lm_prob must be in (0, 1).")
  define.validator(
      "max_untagged_share", lambda value: 0.0 <= value <= 1.0,
      message="--max_untagged_share must be in [0, 1].")


def maker_kwargs_from_flags(flag_values):
  """InstanceMaker's settings from the masking flags."""
  return dict(
      vocab_file=flag_values.vocab_file,
      do_lower_case=flag_values.do_lower_case,
      max_seq_length=flag_values.max_seq_length,
      max_predictions_per_seq=flag_values.max_predictions_per_seq,
      masked_lm_prob=flag_values.masked_lm_prob,
      short_seq_prob=flag_values.short_seq_prob,
      max_ngram=flag_values.max_ngram, dupe_factor=flag_values.dupe_factor,
      random_seed=flag_values.random_seed,
      linguistic_masking=flag_values.linguistic_masking,
      fast_tokenizer=flag_values.fast_tokenizer)


def warn_if_predictions_cap_the_masked_share(flag_values):
  expected = flag_values.masked_lm_prob * flag_values.max_seq_length
  if flag_values.max_predictions_per_seq < int(round(expected)):
    print("Warning: --max_predictions_per_seq %d caps the masked share below "
          "--masked_lm_prob %g (about %d of %d tokens)." % (
              flag_values.max_predictions_per_seq, flag_values.masked_lm_prob,
              int(round(expected)), flag_values.max_seq_length))
