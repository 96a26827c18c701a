#!/usr/bin/env bash
# The whole pipeline, small, with a SHA-256 digest of every output: run it on
# two versions of the code and diff the lists to show that a refactoring kept
# every byte (docs/testing.md#refactoring).
#
#   tests/pipeline_digests.sh REPO OUT [PYTHON]
#
# REPO is the checkout to run (its scripts are called by path), OUT an empty
# directory; PYTHON defaults to REPO/.venv-tf2/bin/python. Needs ../shared
# beside REPO for the fine-tuning tasks ($SHARED overrides). Writes
# OUT/digests.txt: one line per output file, "sha256  path"; files that hold
# wall-clock times (TensorBoard events, logs, the `checkpoint` index of TF 2,
# run records) are listed by name only; a .safetensors file is hashed by its
# tensors and metadata (its writer orders the metadata at random), Beam's
# records as a set (it shards them at random), and a graph (graph.pbtxt,
# *.meta) with TF 1.15's per-process saver strings blanked and its maps
# compared as maps.
# Outputs name their own paths (eval_results.txt, the cached features):
# compare two versions run in the same OUT, one after the other.
set -euo pipefail
REPO=$(cd "$1" && pwd)
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
PY=${3:-$REPO/.venv-tf2/bin/python}
SHARED=${SHARED:-$(cd "$REPO/.." && pwd)/shared}/data
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
cd "$OUT"
run() { local script=$1; shift; "$PY" "$REPO/$script" "$@" > "$OUT/logs/${script%.py}.$RANDOM.log" 2>&1 || { echo "FAILED: $script $*" >&2; exit 1; }; }
mkdir -p logs help data

# --help of every script.
for script in "$REPO"/*.py; do
  name=$(basename "$script")
  case $name in modeling.py|optimization.py|tokenization.py) continue;; esac
  grep -q "^def main" "$script" || continue
  (cd "$REPO" && "$PY" "$name" --help > "$OUT/help/$name.txt" 2>/dev/null) || true
done

# Fine-tuning data: small slices of the real tasks.
head -41 "$SHARED/chnsenticorp/train.tsv" > data/csc-train.tsv
head -21 "$SHARED/chnsenticorp/dev.tsv" > data/csc-dev.tsv
awk 'BEGIN{n=0} {print} /^$/{if (++n == 30) exit}' "$SHARED/peopledaily/dev.txt" > data/pd-train.txt
awk 'BEGIN{n=0} /^$/{n++} n>=30 {print} /^$/{if (n == 45) exit}' "$SHARED/peopledaily/dev.txt" | sed '1{/^$/d}' > data/pd-dev.txt
"$PY" - "$SHARED/cmrc2018/cmrc2018_trial.json" data/cmrc-train.json data/cmrc-dev.json <<'EOF'
import json, sys
data = json.load(open(sys.argv[1], encoding="utf-8"))
for path, part in ((sys.argv[2], data["data"][:6]), (sys.argv[3], data["data"][6:10])):
  json.dump(dict(data, data=part), open(path, "w", encoding="utf-8"), ensure_ascii=False)
EOF

# A fixed modification time: run_squad.py's feature cache is keyed by it.
touch -d @1000000000 data/*

# The inputs are copied into OUT, so that two versions read the same paths.
mkdir -p inputs && cp -r "$REPO/configs" "$REPO/data/sample" inputs/
CONFIG=$OUT/inputs/configs/lert_config_tiny.json
VOCAB=$OUT/inputs/configs/vocab.txt
SAMPLE=$OUT/inputs/sample

# Tagging with a tiny random LTP model (needs ltp; skipped without it).
if "$PY" -c "import ltp" 2>/dev/null; then
  PYTHONPATH=$REPO:$REPO/bench "$PY" - "$OUT/ltp" "$VOCAB" <<'EOF'
import sys
try:
  from lert.tagging import random_ltp
except ImportError:
  import random_ltp
random_ltp.build_random_ltp(sys.argv[1], sys.argv[2], "tiny", 0)
EOF
  run linguistic_tagger.py --input_file "$SAMPLE/corpus.txt" --output_dir tagged --ltp_model "$OUT/ltp" --num_output_shards 2 --device cpu
fi

# Pre-training data: plain, linguistic masking, LMLM; Beam on tagged input.
for mode in none all pos; do
  run create_pretraining_data.py --input_file "$SAMPLE/tagged.jsonl" --output_file "records-$mode/a.tfrecord,records-$mode/b.tfrecord" --vocab_file "$VOCAB" --max_seq_length 64 --max_predictions_per_seq 10 --dupe_factor 2 --dump_examples 2 --linguistic_masking "$mode" --random_seed 7
done
if "$PY" -c "import apache_beam" 2>/dev/null; then
  run prepare_pretraining_data_beam.py --input_file "$SAMPLE/tagged.jsonl" --input_format tagged --output_dir beam --vocab_file "$VOCAB" --max_seq_length 64 --max_predictions_per_seq 10 --dupe_factor 2 --num_record_shards 2
fi

# Pre-training, evaluation, prediction of masked tags, conversion.
run run_pretraining.py --bert_config_file "$CONFIG" --input_file 'records-none/*.tfrecord' --output_dir pretrain --do_train --do_eval --train_batch_size 8 --eval_batch_size 8 --max_seq_length 64 --max_predictions_per_seq 10 --num_train_steps 12 --num_warmup_steps 2 --learning_rate 1e-3 --save_checkpoints_steps 6 --max_eval_steps 3
run predict_linguistic.py --checkpoint pretrain --bert_config_file "$CONFIG" --vocab_file "$VOCAB" --text '哈尔滨工业大学位于黑龙江省哈尔滨市。' --mask 哈尔滨工业大学,位于 --output_file predictions.jsonl
if "$PY" -c "import torch, transformers" 2>/dev/null; then
  run convert_checkpoint.py --direction tf2hf --input pretrain --bert_config_file "$CONFIG" --vocab_file "$VOCAB" --output_dir hf
fi

# Fine-tuning: classification, NER, reading comprehension, and the scorer.
FT=(--bert_config_file "$CONFIG" --vocab_file "$VOCAB" --init_checkpoint pretrain --do_train --do_eval --do_predict --train_batch_size 8 --eval_batch_size 8 --predict_batch_size 8 --max_train_steps 6 --save_checkpoints_steps 6 --learning_rate 1e-4)
run run_classifier.py --task_name chnsenticorp --train_file data/csc-train.tsv --eval_file data/csc-dev.tsv --predict_file data/csc-dev.tsv --output_dir ft-csc --max_seq_length 64 "${FT[@]}"
run run_ner.py --train_file data/pd-train.txt --eval_file data/pd-dev.txt --predict_file data/pd-dev.txt --output_dir ft-ner --max_seq_length 64 "${FT[@]}"
run run_squad.py --train_file data/cmrc-train.json --eval_file data/cmrc-dev.json --predict_file data/cmrc-dev.json --output_dir ft-squad --max_seq_length 128 --doc_stride 64 "${FT[@]}"
"$PY" "$REPO/cmrc2018_evaluate.py" data/cmrc-dev.json ft-squad/predictions.json > cmrc-score.txt 2>&1 || true

find . -type f ! -path './logs/*' ! -path './inputs/*' ! -name digests.txt | sort | while read -r f; do
  case $f in
    *events.out.tfevents*|*/checkpoint|*.log|*run.json|*.lock) echo "(timed)  $f";;
    ./beam/records/*) ;;  # Beam shards its records at random: digested as a set below
    *.meta|*/graph.pbtxt) ;;  # digested below, TF 1.15's per-process strings blanked
    *.safetensors) "$PY" -c '
import hashlib, json, sys
from safetensors import safe_open
with safe_open(sys.argv[1], "np") as f:
  digest = hashlib.sha256(json.dumps(f.metadata(), sort_keys=True).encode())
  for key in sorted(f.keys()):
    digest.update(key.encode() + f.get_tensor(key).tobytes())
print(digest.hexdigest() + "  " + sys.argv[1])' "$f";;
    *) sha256sum "$f" | awk -v f="$f" '{print $1 "  " f}';;
  esac
done > digests.txt
# Graphs: TF 1.15's saver names a temporary shard directory by a random
# UUID and the process (pid.time), and writes protobuf maps in hash order.
find . -name '*.meta' -o -name graph.pbtxt | sort | "$PY" -c '
import hashlib, json, re, sys
import tensorflow.compat.v1 as tf
from google.protobuf import json_format, text_format
from tensorflow.core.protobuf import control_flow_pb2, meta_graph_pb2
def blank(text):
  text = re.sub(r"_temp_[0-9a-f]{32}/part", "_temp_X/part", text)
  return re.sub(r"\"\.[0-9]+\.[0-9]+\"", "\".PID.TIME\"", text)
for path in sys.stdin.read().split():
  if path.endswith("graph.pbtxt"):
    text = blank(open(path, encoding="utf-8").read())
  else:
    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString(open(path, "rb").read())
    collections = {}
    for key, value in meta.collection_def.items():
      kind = {"cond_context": control_flow_pb2.CondContextDef,
              "while_context": control_flow_pb2.WhileContextDef}.get(key)
      if kind is None:
        collections[key] = json_format.MessageToDict(value)
        continue
      collections[key] = []
      for raw in value.bytes_list.value:
        context = kind()
        context.ParseFromString(raw)
        collections[key].append(json_format.MessageToDict(context))
    text = json.dumps([blank(str(meta.graph_def)), collections,
                       str(meta.saver_def), str(meta.meta_info_def)],
                      sort_keys=True)
  print(hashlib.sha256(text.encode("utf-8")).hexdigest() + "  " + path)
' 2>/dev/null >> digests.txt
if [ -d beam/records ]; then
  "$PY" - beam/records >> digests.txt <<'EOF2'
import glob, hashlib, os, struct, sys
records = []
for path in glob.glob(os.path.join(sys.argv[1], "*.tfrecord")):
  with open(path, "rb") as f:
    data = f.read()
  at = 0
  while at < len(data):
    length = struct.unpack("<Q", data[at:at + 8])[0]
    records.append(data[at + 12:at + 12 + length])
    at += 16 + length
digest = hashlib.sha256(b"".join(sorted(records))).hexdigest()
print("%s  ./beam/records/ (its %d records as a set)" % (digest, len(records)))
EOF2
fi
wc -l digests.txt
