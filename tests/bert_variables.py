# coding=utf-8
"""Google BERT's variable names and shapes, written out by hand: what a
drop-in BertModel (and a LERT checkpoint) must hold."""


# Google BERT's variables of one encoder layer, relative to the layer scope.
LAYER_VARIABLES = [
    ("attention/self/query/kernel", "HH"), ("attention/self/query/bias", "H"),
    ("attention/self/key/kernel", "HH"), ("attention/self/key/bias", "H"),
    ("attention/self/value/kernel", "HH"), ("attention/self/value/bias", "H"),
    ("attention/output/dense/kernel", "HH"),
    ("attention/output/dense/bias", "H"),
    ("attention/output/LayerNorm/beta", "H"),
    ("attention/output/LayerNorm/gamma", "H"),
    ("intermediate/dense/kernel", "HI"), ("intermediate/dense/bias", "I"),
    ("output/dense/kernel", "IH"), ("output/dense/bias", "H"),
    ("output/LayerNorm/beta", "H"), ("output/LayerNorm/gamma", "H"),
]


def expected_bert_variables(config):
  dims = {"H": config.hidden_size, "I": config.intermediate_size}
  expected = {
      "bert/embeddings/word_embeddings": [config.vocab_size,
                                          config.hidden_size],
      "bert/embeddings/token_type_embeddings": [config.type_vocab_size,
                                                config.hidden_size],
      "bert/embeddings/position_embeddings": [
          config.max_position_embeddings, config.hidden_size],
      "bert/embeddings/LayerNorm/beta": [config.hidden_size],
      "bert/embeddings/LayerNorm/gamma": [config.hidden_size],
      "bert/pooler/dense/kernel": [config.hidden_size, config.hidden_size],
      "bert/pooler/dense/bias": [config.hidden_size],
  }
  for layer in range(config.num_hidden_layers):
    for name, shape in LAYER_VARIABLES:
      expected["bert/encoder/layer_%d/%s" % (layer, name)] = [
          dims[d] for d in shape]
  return expected
