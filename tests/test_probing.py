# coding=utf-8
"""The linear probes (run_probe.py, lert/probing/): the logistic regression
against finite differences and scikit-learn, the CoNLL-U and tagged
readers on hand-written files, the examples of a relation, the word
features against a BertModel run here, and the script end to end."""

import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conftest import REPO
from conftest import run_script
from conftest import tiny_config
from conftest import write_config
from probe_helpers import CONLLU
from probe_helpers import ud_sentences
from probe_helpers import write_conllu
from lert.contract import figures
from lert.contract import script_errors
from lert.probing import features
from lert.probing import logistic
from lert.probing import probe_data
from lert.probing import probes
import modeling
import tokenization

SAMPLE = os.path.join(REPO, "data", "sample", "tagged.jsonl")
VOCAB_FILE = os.path.join(REPO, "configs", "vocab.txt")


def separable_case(n=400, d=6, k=4, seed=0):
  rng = np.random.RandomState(seed)
  x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + 1.0
  y = (x.dot(rng.normal(size=(d, k))) + rng.gumbel(size=(n, k))).argmax(1)
  return x, y, k


def test_the_gradient_of_the_objective_is_that_of_finite_differences():
  x, y, k = separable_case(n=50)
  onehot = np.eye(k)[y]
  params = np.random.RandomState(1).normal(size=x.shape[1] * k + k) * 0.3
  value, grad = logistic._objective(params, x, onehot, 0.7)
  numeric = np.zeros_like(params)
  for i in range(len(params)):
    step = np.zeros_like(params)
    step[i] = 1e-6
    numeric[i] = (logistic._objective(params + step, x, onehot, 0.7)[0] -
                  logistic._objective(params - step, x, onehot, 0.7)[0]) / 2e-6
  np.testing.assert_allclose(grad, numeric, atol=1e-7)
  # The value by hand: C * cross-entropy sum + |W|^2 / 2, over n.
  w = params[:x.shape[1] * k].reshape(-1, k)
  logits = x.dot(w) + params[x.shape[1] * k:]
  log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
  assert value == pytest.approx(
      (-0.7 * log_probs[np.arange(len(y)), y].sum() + 0.5 * (w * w).sum()) /
      len(y), rel=1e-12)


def test_the_probe_is_scikit_learn_s_logistic_regression():
  linear_model = pytest.importorskip("sklearn.linear_model")
  x, y, k = separable_case()
  probe = logistic.fit(x, y, k, c=0.5, tolerance=1e-7)
  assert probe.converged
  standardised = (x - x.mean(0)) / x.std(0)
  reference = linear_model.LogisticRegression(
      C=0.5, tol=1e-10, max_iter=10000).fit(standardised, y)
  np.testing.assert_allclose(probe.weights, reference.coef_.T, atol=2e-4)
  np.testing.assert_allclose(logistic.probabilities(probe, x),
                             reference.predict_proba(standardised),
                             atol=1e-4)
  assert (logistic.predict(probe, x) == reference.predict(standardised)).all()


def test_conllu_sentences_and_a_bad_line(tmp_path):
  sentences = probe_data.read_conllu(write_conllu(tmp_path / "a.conllu.gz"))
  assert [s.words for s in sentences] == [[u"他", u"来", u"了", u"。"],
                                          [u"北京", u"大学"]]
  assert sentences[0].heads == [1, -1, 1, 1]
  assert sentences[0].labels["deprel"] == ["nsubj", "root", "aux", "punct"]
  assert sentences[1].labels["upos"] == ["PROPN", "NOUN"]
  bad = write_conllu(tmp_path / "b.conllu.gz",
                     CONLLU.replace(u"3\t了\t了\tAUX", u"3\t了\tAUX"))
  with pytest.raises(script_errors.InputError) as error:
    probe_data.read_conllu(bad)
  assert str(error.value).startswith(
      "%s:5: a CoNLL-U word line has 10 tab-separated fields, this one 9." %
      bad)


def test_a_relation_example_is_the_word_beside_its_head():
  sentence = probe_data.Sentence([u"他", u"来", u"了"], {
      "deprel": ["nsubj", "root", "aux"]}, [1, -1, 1])
  # Word 2 has no features (too long a sentence): its example is left out.
  examples = probes.task_examples([sentence], [0, 1, None], "deprel")
  assert examples.labels == ["nsubj", "root"] and examples.skipped == 1
  layer = np.array([[1.0, 2.0], [3.0, 4.0]])
  np.testing.assert_array_equal(probes.design(layer, examples),
                                [[1, 2, 3, 4], [3, 4, 0, 0]])


def test_word_features_are_the_mean_of_the_word_s_token_states(tmp_path):
  config = tiny_config(vocab_size=21128)
  tokenizer = tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=True)
  words = [u"北京", u"是", u"首都", u"   "]
  ids = tokenizer.convert_tokens_to_ids(["[CLS]", u"北", u"京", u"是",
                                         "[SEP]"])
  checkpoint = str(tmp_path / "model.ckpt")
  with tf.Graph().as_default():
    model = modeling.BertModel(config, False, tf.constant([ids]),
                               tf.ones([1, 5], tf.int32), add_pooler=False)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      layers = session.run([model.get_embedding_output()] +
                           model.get_all_encoder_layers())
      tf.train.Saver().save(session, checkpoint)
  got = features.word_features(config, checkpoint, tokenizer, [words],
                               max_seq_length=5)
  # [CLS] 北 京 是 [SEP]: 首都 does not fit, "   " has no WordPiece.
  assert got.rows == [0, 1, None, None]
  assert len(got.layers) == config.num_hidden_layers + 1
  for mine, theirs in zip(got.layers, layers):
    np.testing.assert_allclose(mine[0], theirs[0, 1:3].mean(0), atol=1e-5)
    np.testing.assert_allclose(mine[1], theirs[0, 3], atol=1e-5)


@pytest.mark.slow
def test_run_probe_end_to_end_against_scikit_learn(tmp_path):
  """At test scale: a random encoder probed on the sample corpus (pos,
  ner) and a small treebank (upos, deprel); the table's accuracy of one
  task and layer is recomputed with scikit-learn on features of the same
  words."""
  config = tiny_config(vocab_size=21128)
  config_file = write_config(str(tmp_path / "config.json"), config)
  train = write_conllu(tmp_path / "train.conllu.gz", ud_sentences(30, 1))
  test = write_conllu(tmp_path / "test.conllu.gz", ud_sentences(10, 2))
  out = tmp_path / "probe"
  args = ["--bert_config_file=" + config_file, "--vocab_file=" + VOCAB_FILE,
          "--random_init", "--random_seed=3", "--tagged_file=" + SAMPLE,
          "--test_share=0.5", "--conllu_train=" + train,
          "--conllu_test=" + test, "--tolerance=1e-8",
          "--output_dir=" + str(out)]
  result = run_script("run_probe.py", *args)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = (out / "probe.tsv").read_text().splitlines()
  rows = [dict(zip(lines[0].split("\t"), line.split("\t")))
          for line in lines[1:]]
  assert {(r["task"], r["layer"]) for r in rows} == {
      (t, str(layer)) for t in ("pos", "ner", "upos", "deprel")
      for layer in range(config.num_hidden_layers + 1)}
  assert "| embeddings |" in (out / "probe.md").read_text()
  if figures.available():
    assert (out / "probe.png").stat().st_size > 1000

  # The same run again keeps its promises: same settings resume, other
  # settings are refused without --overwrite.
  again = run_script("run_probe.py", *(args[:-1] + [
      "--regularization=0.5", "--output_dir=" + str(out)]))
  assert again.returncode == 1
  assert "regularization" in again.stderr.strip().splitlines()[-1]

  linear_model = pytest.importorskip("sklearn.linear_model")
  tokenizer = tokenization.FullTokenizer(VOCAB_FILE, do_lower_case=True)
  train_sentences = probe_data.read_conllu(train)
  test_sentences = probe_data.read_conllu(test)
  layer = 2
  data = []
  for sentences in (train_sentences, test_sentences):
    got = features.word_features(config, None, tokenizer,
                                 [s.words for s in sentences], seed=3)
    x = np.concatenate([got.layers[layer][[got.rows[i] for i in range(
        sum(len(s.words) for s in sentences[:j]),
        sum(len(s.words) for s in sentences[:j + 1]))]]
                        for j in range(len(sentences))])
    data.append((x, [label for s in sentences for label in
                     s.labels["upos"]]))
  (x_train, y_train), (x_test, y_test) = data
  mean, scale = x_train.mean(0), x_train.std(0)
  scale[scale < 1e-8] = 1
  reference = linear_model.LogisticRegression(C=1.0, tol=1e-10,
                                              max_iter=10000).fit(
                                                  (x_train - mean) / scale,
                                                  y_train)
  expected = np.mean(reference.predict((x_test - mean) / scale) ==
                     np.array(y_test))
  row = [r for r in rows if (r["task"], r["layer"]) == ("upos", "2")][0]
  assert float(row["accuracy"]) == pytest.approx(expected, abs=1e-6)
