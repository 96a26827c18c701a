# LERT: set-up, tests, demo and benchmarks.
#
#   make test    the style gate (ruff), then both runtimes: TF 1.15.5 / Python 3.7
#                and TF 2.15 / Python 3.11
#   make style   fixes what ruff can fix
#   make test-fast  the style gate and the tests not marked slow, on TF 2.15
#                (a few minutes; CI runs the whole of make test)
#   make demo    the whole job on the shipped sample corpus, on CPU
#   make bench   throughput benchmarks (the ratios first: docs/performance.md)
#
# Each target creates the virtual environments it needs (.venv-tf1, .venv-tf2).
# Without python3.7 the TF 1.15 leg is skipped loudly, unless REQUIRE_TF1=1.

SHELL := /bin/bash
PYTHON37 ?= $(shell scripts/find_python.sh 3.7)
PYTHON311 ?= $(shell scripts/find_python.sh 3.11)
VENV_TF1 := .venv-tf1
VENV_TF2 := .venv-tf2
PYTEST_ARGS ?=
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: test test-fast test-tf1 test-tf2 style-check style demo bench venvs clean

test: style-check test-tf2 test-tf1

# ruff, configured in pyproject.toml (pycodestyle and pyflakes, 80 columns).
style-check: $(VENV_TF2)/.installed
	$(VENV_TF2)/bin/ruff check .

style: $(VENV_TF2)/.installed
	$(VENV_TF2)/bin/ruff check --fix .

# requirements-beam.txt (Apache Beam) goes on top of requirements.txt, which
# constrains it (protobuf stays TensorFlow 2.15's).
$(VENV_TF2)/.installed: requirements.txt requirements-beam.txt
	@test -n "$(PYTHON311)" || { echo "ERROR: python3.11 not found; install Python 3.11." >&2; exit 1; }
	rm -rf $(VENV_TF2)
	$(PYTHON311) -m venv $(VENV_TF2)
	$(VENV_TF2)/bin/python -m pip install --quiet --upgrade "pip==24.3.1"
	$(VENV_TF2)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV_TF2)/bin/python -m pip install --quiet -r requirements-beam.txt -c requirements.txt
	touch $@

$(VENV_TF1)/.installed: requirements-tf1.txt
	@test -n "$(PYTHON37)" || { echo "ERROR: python3.7 not found." >&2; exit 1; }
	rm -rf $(VENV_TF1)
	$(PYTHON37) -m venv $(VENV_TF1)
	$(VENV_TF1)/bin/python -m pip install --quiet --upgrade "pip==23.3.2"
	$(VENV_TF1)/bin/python -m pip install --quiet -r requirements-tf1.txt
	touch $@

test-tf2: $(VENV_TF2)/.installed
	@echo "===== Tests on TensorFlow 2.15 / Python 3.11 ====="
	$(VENV_TF2)/bin/python -m pytest -p no:cacheprovider tests $(PYTEST_ARGS)

test-fast: style-check
	$(VENV_TF2)/bin/python -m pytest -p no:cacheprovider -m "not slow" tests $(PYTEST_ARGS)

test-tf1:
	@if [ -z "$(PYTHON37)" ]; then \
	  if [ "$(REQUIRE_TF1)" = "1" ]; then \
	    echo "ERROR: python3.7 not found and REQUIRE_TF1=1: cannot run the TF 1.15 tests." >&2; exit 1; \
	  fi; \
	  echo "#####################################################################"; \
	  echo "# WARNING: python3.7 not found: the TensorFlow 1.15 tests DID NOT RUN."; \
	  echo "# Install Python 3.7 (e.g. pyenv install 3.7) to test the release's runtime."; \
	  echo "#####################################################################"; \
	else \
	  $(MAKE) --no-print-directory $(VENV_TF1)/.installed && \
	  echo "===== Tests on TensorFlow 1.15.5 / Python 3.7 =====" && \
	  $(VENV_TF1)/bin/python -m pytest -p no:cacheprovider tests $(PYTEST_ARGS); \
	fi

venvs: $(VENV_TF2)/.installed
	@if [ -n "$(PYTHON37)" ]; then $(MAKE) --no-print-directory $(VENV_TF1)/.installed; fi

DEMO_DIR := demo_output
DEMO_STEPS ?= 800
LTP_MODEL ?=
DEMO_PREDICT := $(VENV_TF2)/bin/python predict_linguistic.py \
  --checkpoint $(DEMO_DIR)/model --bert_config_file configs/lert_config_tiny.json

# The whole job on the shipped sample: tag it with LTP when LTP_MODEL names a
# model (hub name or local directory), else use its hand annotation; write
# TFRecords; pre-train a tiny LERT on CPU; evaluate; ask it about masked words.
demo: $(VENV_TF2)/.installed
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	@if [ -n "$(LTP_MODEL)" ]; then \
	  echo "== 1. Tagging data/sample/corpus.txt with LTP ($(LTP_MODEL))"; \
	  $(VENV_TF2)/bin/python linguistic_tagger.py --input_file data/sample/corpus.txt \
	    --output_dir $(DEMO_DIR)/tagged --ltp_model "$(LTP_MODEL)" --num_output_shards 1 || exit 1; \
	else \
	  echo "== 1. Using the hand annotation data/sample/tagged.jsonl (set LTP_MODEL=... to tag with LTP)"; \
	  mkdir -p $(DEMO_DIR)/tagged && cp data/sample/tagged.jsonl $(DEMO_DIR)/tagged/; \
	fi
	@echo "== 2. Writing pre-training TFRecords"
	$(VENV_TF2)/bin/python create_pretraining_data.py --input_file '$(DEMO_DIR)/tagged/*.jsonl' \
	  --output_file $(DEMO_DIR)/data/sample-0.tfrecord,$(DEMO_DIR)/data/sample-1.tfrecord \
	  --vocab_file configs/vocab.txt --max_seq_length 128 --max_predictions_per_seq 20 \
	  --dupe_factor 40 --dump_examples 3
	@echo "== 3. Pre-training a tiny LERT for $(DEMO_STEPS) steps on CPU, then evaluating"
	$(VENV_TF2)/bin/python run_pretraining.py \
	  --bert_config_file configs/lert_config_tiny.json \
	  --input_file '$(DEMO_DIR)/data/*.tfrecord' --output_dir $(DEMO_DIR)/model \
	  --do_train --do_eval --train_batch_size 32 --eval_batch_size 32 \
	  --max_seq_length 128 --max_predictions_per_seq 20 \
	  --num_train_steps $(DEMO_STEPS) --num_warmup_steps 100 --learning_rate 1e-3 \
	  --save_checkpoints_steps 200 --save_summary_steps 10 --max_eval_steps 100 2>&1 \
	  | grep -E "Training:|λ_|Saving checkpoints|loss = |Error|error" || true
	@test -f $(DEMO_DIR)/model/eval_results.txt || { echo "Pre-training failed." >&2; exit 1; }
	@echo; echo "Accuracy at the masked positions of the training records ($(DEMO_DIR)/model/eval_results.txt)"
	@echo "(the sample is ~200 sentences: this shows that the heads learn, not that they generalise):"
	@awk -F' = ' '{v[$$1] = $$2} END { \
	  printf "  MLM  accuracy %.3f\n", v["masked_lm_accuracy"]; n = split("pos ner dep", t, " "); \
	  for (i = 1; i <= n; i++) printf "  %s  accuracy %.3f   majority-class baseline %.3f\n", \
	    toupper(t[i]), v[t[i] "_accuracy"], v[t[i] "_majority_accuracy"] }' \
	  $(DEMO_DIR)/model/eval_results.txt
	@echo; echo "== 4. Asking the model about masked words (predict_linguistic.py)"
	@$(DEMO_PREDICT) --text '哈尔滨工业大学位于黑龙江省哈尔滨市。学校创建于1920年。它是中国著名的理工科大学之一。' \
	  --text '昨天，人工智能大会在北京开幕。大会吸引了5000多名观众。清华大学发布了新模型。' \
	  --mask 哈尔滨工业大学,位于,1920年,北京,清华大学 --output_file $(DEMO_DIR)/predictions.jsonl
	@echo; echo "Masking 15% of the words of every sample document, against the hand annotation:"
	@$(DEMO_PREDICT) --tagged_file data/sample/tagged.jsonl --quiet
	@echo; echo "Examples of masked instances: $(DEMO_DIR)/data/sample-0.tfrecord.examples.txt"
	@echo "TensorBoard: $(VENV_TF2)/bin/tensorboard --logdir $(DEMO_DIR)/model"

# Google BERT's run_classifier.py (PyPI's bert-tensorflow), the reference of
# bench/finetune_vs_google.py; it runs on TensorFlow 1.15.
GOOGLE_BERT := .bench/bert-tensorflow
$(GOOGLE_BERT)/bert/run_classifier.py: $(VENV_TF1)/.installed
	$(VENV_TF1)/bin/python -m pip install --quiet --no-deps --target $(GOOGLE_BERT) "bert-tensorflow==1.0.4"

# First the ratios measured in one run (each script beside its stripped loop
# on both runtimes; fine-tuning beside Google's run_classifier.py), then the
# data, fine-tuning and tagging throughputs. docs/performance.md shows them.
# RELEASE_DIR=LERT/src (a clone of github.com/ymcui/LERT) times the released
# pre-training script beside ours on TF 1.15 too.
RELEASE_DIR ?=
bench: $(VENV_TF2)/.installed $(VENV_TF1)/.installed $(GOOGLE_BERT)/bert/run_classifier.py
	$(VENV_TF2)/bin/python -m bench.pretrain_throughput --config configs/lert_config_small.json --max_seq_length 128 --batch_size 32 --repeats 3
	$(VENV_TF1)/bin/python -m bench.pretrain_throughput --config configs/lert_config_small.json --max_seq_length 128 --batch_size 32 --repeats 3 $(if $(RELEASE_DIR),--release_dir $(RELEASE_DIR) --google_bert $(GOOGLE_BERT))
	$(VENV_TF2)/bin/python -m bench.finetune_vs_google --google_bert $(GOOGLE_BERT) --repeats 2
	$(VENV_TF2)/bin/python -m bench.data_throughput --sizes 5000 --dupe_factor 5 --repeats 3 --beam
	$(VENV_TF2)/bin/python -m bench.data_throughput --sizes 50000 --dupe_factor 5 --repeats 1 --beam --workers 2
	$(VENV_TF2)/bin/python -m bench.finetune_throughput --steps 100 --max_seq_length 128
	$(VENV_TF2)/bin/python -m bench.finetune_throughput --task cmrc2018 --steps 100 --max_seq_length 256
	$(VENV_TF2)/bin/python -m bench.finetune_throughput --task drcd --steps 100 --max_seq_length 256
	$(VENV_TF2)/bin/python -m bench.input_state_cost --lengths 128,512 --batch_size 32
	$(VENV_TF2)/bin/python -m bench.tagging_throughput --architectures small,base --sentences 2000,600 --batch_sizes 1,8,32 --workers 1,2

clean:
	rm -rf $(VENV_TF1) $(VENV_TF2) $(DEMO_DIR) .bench
