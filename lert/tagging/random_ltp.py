# coding=utf-8
"""Builds and saves an LTP 4 model directory with random weights, through
ltp_core's own model classes.

The directory has the layout `ltp.LTP(path)` loads: `config.json` (with
"nerual": true, the `model` section that ltp_core instantiates, and the
`vocabs` per task), `pytorch_model.bin`, `vocab.txt` and
`tokenizer_config.json`. Its analyses are random but structurally real, and
it runs exactly the computation of the released model of its architecture:
speed does not depend on the weights' values.

Architectures:
  tiny   a 1-layer BERT, hidden 32 (the tests' model);
  small  LTP/small's: the Chinese ELECTRA-180G small discriminator (12
         layers, hidden 256, 4 heads, feed-forward 1024, embeddings 128);
  base   LTP/base's: the Chinese ELECTRA-180G base discriminator (12 layers,
         hidden 768, 12 heads, feed-forward 3072).
The heads are LTP's (multi_model.yaml of ltp_core): MLP token classifiers
for CWS, POS and NER, the biaffine graph classifier for DEP (arc and
relation hidden sizes 100, as there; 16 and 8 in tiny). The SRL and SDP
heads are left out: linguistic_tagger.py never runs them.
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


def _bert(vocab_size, hidden, layers, heads, intermediate):
  return {"_ltp_target_": "transformers.BertModel",
          "add_pooling_layer": False,
          "config": {"_ltp_target_": "transformers.BertConfig",
                     "vocab_size": vocab_size, "hidden_size": hidden,
                     "num_hidden_layers": layers,
                     "num_attention_heads": heads,
                     "intermediate_size": intermediate,
                     "max_position_embeddings": 512}}


def _electra(vocab_size, hidden, layers, heads, intermediate, embedding):
  return {"_ltp_target_": "transformers.ElectraModel",
          "config": {"_ltp_target_": "transformers.ElectraConfig",
                     "vocab_size": vocab_size, "embedding_size": embedding,
                     "hidden_size": hidden, "num_hidden_layers": layers,
                     "num_attention_heads": heads,
                     "intermediate_size": intermediate,
                     "max_position_embeddings": 512}}


# architecture -> (backbone builder of a vocabulary size, hidden size, DEP
# arc and relation hidden sizes)
ARCHITECTURES = {
    "tiny": (lambda v: _bert(v, 32, 1, 2, 64), 32, 16, 8),
    "small": (lambda v: _electra(v, 256, 12, 4, 1024, 128), 256, 100, 100),
    "base": (lambda v: _electra(v, 768, 12, 12, 3072, 768), 768, 100, 100),
}


def build_random_ltp(directory, vocab_file, architecture="tiny", seed=0):
  """Writes the model directory; returns it."""
  import torch
  from ltp_core.models.utils import instantiate

  backbone, hidden, arc_hidden, rel_hidden = ARCHITECTURES[architecture]
  vocab_size = sum(1 for _ in open(vocab_file, encoding="utf-8"))

  def token_head(num_labels):
    return {"_ltp_target_":
                "ltp_core.models.components.token.MLPTokenClassifier",
            "input_size": hidden, "num_labels": num_labels}

  model = {
      "_ltp_target_": "ltp_core.models.ltp_model.LTPModule",
      "backbone": backbone(vocab_size),
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
                  "arc_hidden_size": arc_hidden,
                  "rel_hidden_size": rel_hidden},
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
