# coding=utf-8
"""The training FLOPs of a LERT/BERT example, for model-FLOPs utilisation
(bench/device_check.py).

Training = 3 x forward; matmuls only:
  6 T L (4 H^2 + 2 H I) + 12 L T^2 H + 6 P (H^2 + H V)
for length T, L layers, hidden H, intermediate I, P masked predictions and
vocabulary V: per layer and token the forward pass multiplies Q, K, V and
the attention output (4 H^2 MACs) and the two feed-forward matrices (2 H I);
the attention scores and the weighted sum are 2 T H MACs per token; the MLM
transform and the output embedding are H^2 + H V MACs per prediction. A
MAC is 2 FLOPs. The linguistic heads' small output layers are left out.
"""


def model_flops_per_example(config, length, predictions):
  """Training FLOPs of one example of `length` tokens with `predictions`
  masked positions (config: a modeling.BertConfig)."""
  h, i, layers, v = (config.hidden_size, config.intermediate_size,
                     config.num_hidden_layers, config.vocab_size)
  return (6 * length * layers * (4 * h * h + 2 * h * i) +
          12 * layers * length * length * h +
          6 * predictions * (h * h + h * v))
