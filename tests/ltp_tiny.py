# coding=utf-8
"""Builds and saves a tiny neural LTP 4 model directory with random weights.

The directory has the layout `ltp.LTP(path)` loads: `config.json` (with
"nerual": true, the `model` section that ltp_core instantiates, and the
`vocabs` per task), `pytorch_model.bin`, `vocab.txt` and
`tokenizer_config.json`. Its analyses are random but structurally real.
"""

import json
import os
import shutil

# LTP's own label sets (LTP 4 writes POS `x` and can emit DEP `IS`).
LTP_POS = ("n v wp u d a m p r ns c q nt nh nd j i b ni nz nl z k ws o h e "
           "x").split()
LTP_NER = ["O", "S-Nh", "B-Nh", "I-Nh", "E-Nh", "S-Ni", "B-Ni", "I-Ni",
           "E-Ni", "S-Ns", "B-Ns", "I-Ns", "E-Ns"]
LTP_DEP = ("ATT WP ADV VOB SBV COO RAD HED POB CMP LAD FOB DBL IOB "
           "IS").split()


def build_tiny_ltp(directory, vocab_file, seed=0, hidden=32):
  import torch
  from ltp_core.models.utils import instantiate

  vocab_size = sum(1 for _ in open(vocab_file, encoding="utf-8"))

  def token_head(num_labels):
    return {"_ltp_target_":
                "ltp_core.models.components.token.MLPTokenClassifier",
            "input_size": hidden, "num_labels": num_labels}

  model = {
      "_ltp_target_": "ltp_core.models.ltp_model.LTPModule",
      "backbone": {
          "_ltp_target_": "transformers.BertModel",
          "add_pooling_layer": False,
          "config": {"_ltp_target_": "transformers.BertConfig",
                     "vocab_size": vocab_size, "hidden_size": hidden,
                     "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 2 * hidden,
                     "max_position_embeddings": 512}},
      "processor": {
          "cws": {"_ltp_target_": "ltp_core.models.processor.TokenOnly"},
          "pos": {"_ltp_target_": "ltp_core.models.processor.WordsOnly"},
          "ner": {"_ltp_target_": "ltp_core.models.processor.WordsOnly"},
          "dep": {"_ltp_target_": "ltp_core.models.processor.WordsWithHead"},
      },
      "heads": {
          "cws": token_head(2),
          "pos": token_head(len(LTP_POS)),
          "ner": token_head(len(LTP_NER)),
          "dep": {"_ltp_target_":
                      "ltp_core.models.components.graph.BiaffineClassifier",
                  "input_size": hidden, "num_labels": len(LTP_DEP),
                  "arc_hidden_size": 16, "rel_hidden_size": 8},
      },
  }
  config = {"nerual": True, "model": model,
            "vocabs": {"cws": ["I-W", "B-W"], "pos": LTP_POS, "ner": LTP_NER,
                       "dep": LTP_DEP}}
  if not os.path.isdir(directory):
    os.makedirs(directory)
  torch.manual_seed(seed)
  module = instantiate(model)
  torch.save(module.state_dict(), os.path.join(directory,
                                               "pytorch_model.bin"))
  with open(os.path.join(directory, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
  shutil.copy(vocab_file, os.path.join(directory, "vocab.txt"))
  with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
    json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True,
               "model_max_length": 512}, f)
  return directory
