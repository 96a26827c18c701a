# coding=utf-8
"""run_experiments.py and experiments.py: the paper's tables as cells."""

import io
import json
import os
import signal
import sys
import pytest
from conftest import run_script
from conftest import REPO
from conftest import stop_midway
from conftest import write_sample_without

from lert.contract import figures
from lert.contract import script_errors
from lert.experiments import recipe
from lert.experiments import tables
from lert.experiments import task_data
from lert.experiments import variants

SCRIPT = os.path.join(REPO, "run_experiments.py")
SAMPLE = os.path.join(REPO, "data", "sample", "tagged.jsonl")


def run(*args):
  return run_script(SCRIPT, *args)


def test_the_averages_of_the_paper_s_own_table_8_baseline():
  """The paper's Table 8 baseline row gives its Average 83.58 and Table 9's
  MLM row (MRC 84.2, TC 79.8, NER 94.5): a task's score is the mean of its
  metrics, a group the mean of its tasks, Average the mean of the ten."""
  row = [66.8, 86.7, 89.0, 94.1, 78.1, 88.7, 85.1, 94.2, 56.4, 76.0, 94.6,
         94.4]
  tasks = list(recipe.FINETUNE_TASKS)
  scores = dict(zip(tables.columns(tasks), row))
  summary = tables.seed_summary(scores, tasks)
  assert round(summary["Average"], 2) == 83.58
  assert round(summary["MRC"], 1) == 84.2
  assert round(summary["TC"], 1) == 79.8
  assert round(summary["NER"], 1) == 94.5
  stat = tables.stat([1.0, 2.0, 6.0])
  assert stat.mean == 3.0 and stat.max == 6.0 and stat.n == 3
  assert abs(stat.std - 2.6457513) < 1e-6  # sample std, n - 1


def test_variants_a_corpus_without_dep_can_train():
  table8, notes = variants.variants_for("table8", ["pos", "ner"])
  assert [v.name for v in table8] == ["MLM", "+POS", "+NER",
                                      "+All (POS+NER)"]
  assert table8[-1].linguistic_tasks == ("pos", "ner")
  assert notes == ["table8 +DEP left out: the corpus has no DEP labels."]
  table9, _ = variants.variants_for("table9", ["pos", "ner"],
                                    ["MLM", "NER-mask"])
  assert [(v.name, v.masking) for v in table9] == [("MLM", "none"),
                                                  ("NER-mask", "ner")]
  # All-mask and Mix-mask write all three tags: left out, never renamed.
  table9, notes = variants.variants_for("table9", ["pos"])
  assert [v.name for v in table9] == ["MLM", "POS-mask"]
  assert notes == [
      "table9 NER-mask left out: the corpus has no NER labels.",
      "table9 DEP-mask left out: the corpus has no DEP labels.",
      "table9 All-mask left out: the corpus has no NER/DEP labels.",
      "table9 Mix-mask left out: the corpus has no NER/DEP labels."]
  # LERT keeps its LIP schedule over the tasks there are.
  table7, notes = variants.variants_for("table7", ["pos", "ner"])
  assert [(v.name, v.linguistic_tasks, v.lip_schedule) for v in table7] == [
      ("BERT (MLM)", (), "none"),
      ("LERT (POS+NER)", ("pos", "ner"), "linear")] and not notes
  # Figure 3 needs DEP in every variant's schedule: nothing is left.
  assert variants.variants_for("figure3", ["pos", "ner"])[0] == []
  with pytest.raises(script_errors.InputError, match="--variants: POS is not"):
    variants.check_variant_names(["table8"], ["POS"])
  # Shared settings, shared cells: Table 8's MLM is Table 9's.
  keys = {variants.variant_key(v) for e in ("table8", "table9")
          for v in variants.EXPERIMENTS[e].variants if v.name == "MLM"}
  assert keys == {"mlm"}


def flags(command):
  return dict(a[2:].split("=", 1) for a in command if "=" in a)


def test_paper_dry_run_prints_the_paper_s_recipe_for_each_table(tmp_path):
  expected = {  # the paper: §4.1, Table 2, Table 8, Figure 3, footnote 6
      "table7": ("small", 2000000, 1024,
                 {("", "none", "PND"), ("pos,ner,dep", "linear", "PND")},
                 {"none"}),
      "table8": ("base", 500000, 416,
                 {("", "none", "PND"), ("pos", "none", "PND"),
                  ("ner", "none", "PND"), ("dep", "none", "PND"),
                  ("pos,ner,dep", "none", "PND")}, {"none"}),
      "figure3": ("base", 1000000, 416,
                  {("pos,ner,dep", "linear", o) for o in
                   ("PND", "PDN", "NPD", "DNP")} |
                  {("pos,ner,dep", "none", "PND")}, {"none"}),
      "table9": ("base", 500000, 416, {("", "none", "PND")},
                 {"none", "pos", "ner", "dep", "all", "mix"}),
  }
  for name, (size, steps, batch, heads, maskings) in expected.items():
    result = run("--experiment=" + name, "--scale=paper", "--dry_run",
                 "--corpus=" + SAMPLE, "--output_dir=%s" % (tmp_path / name),
                 "--tasks=cmrc2018,chnsenticorp,msra_ner")
    assert result.returncode == 0, result.stderr[-2000:]
    commands = [line.split() for line in result.stdout.splitlines()
                if line.startswith(sys.executable)]
    pretrain = [flags(c) for c in commands if c[1].endswith(
        "run_pretraining.py")]
    assert {(f["linguistic_tasks"], f["lip_schedule"], f["lip_order"])
            for f in pretrain} == heads
    for f in pretrain:
      assert f["bert_config_file"].endswith("lert_config_%s.json" % size)
      assert int(f["num_train_steps"]) == steps
      assert int(f["train_batch_size"]) == batch
      assert (f["max_seq_length"], f["max_predictions_per_seq"],
              f["learning_rate"], f["num_warmup_steps"]) == (
                  "512", "75", "0.0001", "10000")
    records = [flags(c) for c in commands if c[1].endswith(
        "create_pretraining_data.py")]
    assert {f["linguistic_masking"] for f in records} == maskings
    assert {f["dupe_factor"] for f in records} == {"10"}
    finetune = [flags(c) for c in commands if "--do_eval" in c]
    lr = {"small": "5e-05", "base": "3e-05"}[size]
    column = ("small", "base").index(size)
    table3 = {"cmrc2018": ("512", (3, 2)), "chnsenticorp": ("256", (5, 5)),
              "msra_ner": ("256", (10, 10))}
    assert len(finetune) == len(pretrain) * 3 * 5  # five seeds
    for f in finetune:
      task = f["output_dir"].split(os.sep)[-2]
      assert f["max_seq_length"] == table3[task][0]
      assert float(f["num_train_epochs"]) == table3[task][1][column]
      assert f["learning_rate"] == lr
    assert not (tmp_path / name).exists()  # a dry run writes nothing


def squad(articles):
  return {"version": "v1", "data": [
      {"title": "a%d" % i, "paragraphs": [{"context": u"北京是首都。", "qas": [
          {"id": "%d-%d" % (i, j), "question": u"首都？",
           "answers": [{"text": u"北京", "answer_start": 0}]}
          for j in range(3)]}]} for i in range(articles)]}


def test_a_task_with_one_split_is_held_out_by_article(tmp_path):
  source = tmp_path / "cmrc2018"
  source.mkdir()
  (source / "cmrc2018_trial.json").write_text(json.dumps(squad(10)))
  found = task_data.find_task_source(str(tmp_path), "cmrc2018")
  assert found.whole == str(source / "cmrc2018_trial.json")
  target = task_data.task_data_paths(str(tmp_path / "out"), "cmrc2018")
  os.makedirs(os.path.dirname(target.train))
  counts = task_data.prepare_task_data(found, "cmrc2018", target, None,
                                       None)
  train = json.load(open(target.train))["data"]
  dev = json.load(open(target.dev))["data"]
  assert len(dev) == 2 and len(train) == 8  # 20% of the articles
  assert not {a["title"] for a in train} & {a["title"] for a in dev}
  assert counts["train_examples"] == 24 and counts["dev_examples"] == 6
  # The same split again (seeded), and a cap by questions.
  again = task_data.task_data_paths(str(tmp_path / "again"), "cmrc2018")
  os.makedirs(os.path.dirname(again.train))
  task_data.prepare_task_data(found, "cmrc2018", again, 7, None)
  assert json.load(open(again.dev)) == json.load(open(target.dev))
  assert len(json.load(open(again.train))["data"]) == 3  # 9 questions >= 7


def test_missing_task_data_is_one_line_before_anything_runs(tmp_path):
  (tmp_path / "data" / "chnsenticorp").mkdir(parents=True)
  (tmp_path / "data" / "chnsenticorp" / "train.tsv").write_text(
      "label\ttext_a\n")
  result = run("--experiment=table9", "--scale=test", "--corpus=" + SAMPLE,
               "--output_dir=%s" % (tmp_path / "out"),
               "--data_dir=%s" % (tmp_path / "data"), "--tasks=chnsenticorp")
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "run_experiments.py: error: chnsenticorp: no dev data in %s: it needs "
      "train (train.tsv) and dev (dev.tsv) (docs/finetuning.md says where "
      "the public data lives)." % (tmp_path / "data" / "chnsenticorp"))
  assert not (tmp_path / "out").exists()
  result = run("--experiment=table9", "--corpus=%s" % (tmp_path / "no.jsonl"),
               "--output_dir=%s" % (tmp_path / "out"), "--dry_run")
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "run_experiments.py: error: --corpus pattern %r matches no file." %
      str(tmp_path / "no.jsonl"))


def test_the_corpus_tags_are_read_from_the_corpus_before_any_cell(tmp_path):
  """--variants=+DEP (default --corpus_tasks) on a corpus without DEP
  trained and tabulated a "+DEP" row from records with 0 DEP labels."""
  corpus = write_sample_without(tmp_path / "no_dep.jsonl", "dep_head",
                                "dep_label")
  common = ["--scale=test", "--corpus=" + corpus, "--dry_run",
            "--output_dir=%s" % (tmp_path / "out"), "--tasks=chnsenticorp"]
  result = run("--experiment=table8,table9", *common)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "The corpus carries POS/NER tags (no document has DEP)." in (
      result.stdout)
  assert "Note: table8 +DEP left out: the corpus has no DEP labels." in (
      result.stdout)
  assert "Note: table9 All-mask left out: the corpus has no DEP labels." in (
      result.stdout)
  assert "--linguistic_tasks=dep" not in result.stdout
  assert "--linguistic_masking=dep" not in result.stdout
  assert "--linguistic_masking=mix" not in result.stdout
  result = run("--experiment=table8", "--variants=+DEP", *common)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "run_experiments.py: error: No variant of table8 can be trained on "
      "this corpus (its tags: pos,ner).")
  result = run("--experiment=table8", "--corpus_tasks=pos,ner,dep", *common)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "run_experiments.py: error: --corpus_tasks=pos,ner,dep, but no "
      "document of --corpus (%s) carries DEP tags: pass "
      "--corpus_tasks=pos,ner, or tag the corpus with linguistic_tagger.py."
      % corpus)


@pytest.mark.parametrize("flag,message", [
    ("--finetuning_flags=--no_such_flag=1",
     "run_classifier.py of finetune tiny-4-mlm chnsenticorp seed 1: Unknown "
     "command line flag 'no_such_flag' (check --finetuning_flags)."),
    ("--pretraining_flags=--num_gpus=2",
     "run_pretraining.py of pretrain tiny-4-mlm: --num_gpus=2, but "
     "TensorFlow sees 0 GPUs on this machine (no CUDA device, or a "
     "TensorFlow built without CUDA): pass --num_gpus=0 (0 runs on the "
     "CPU)."),
    ("--pretraining_flags=--learning_rate=fast",
     "run_pretraining.py of pretrain tiny-4-mlm: flag --learning_rate=fast: "
     "could not convert string to float: 'fast' (check "
     "--pretraining_flags).")])
def test_flags_passed_through_and_devices_are_checked_before_any_cell(
    tmp_path, flag, message):
  """These failed only at their cell, after the records and pre-training,
  quoting absl's "Pass --helpshort" instead of the error."""
  result = run("--experiment=table9", "--variants=MLM", "--scale=test",
               "--corpus=" + SAMPLE, "--data_dir=" + write_task_data(
                   tmp_path / "data"), "--tasks=chnsenticorp",
               "--output_dir=%s" % (tmp_path / "out"), flag)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "run_experiments.py: error: " + message)
  assert not (tmp_path / "out").exists()


def test_a_bad_task_file_is_named_in_the_users_file_before_any_cell(
    tmp_path):
  data = write_task_data(tmp_path / "data")
  train = os.path.join(data, "chnsenticorp", "train.tsv")
  with io.open(train, "a", encoding="utf-8") as f:
    f.write(u"7\t这一行的标签不对\n")
  result = run("--experiment=table9", "--variants=MLM", "--scale=test",
               "--corpus=" + SAMPLE, "--data_dir=" + data,
               "--tasks=chnsenticorp", "--output_dir=%s" % (tmp_path / "out"))
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("run_experiments.py: error: %s:50: " % train), last
  assert "'7'" in last
  assert not (tmp_path / "out").exists()


def write_task_data(root):
  """A tiny ChnSentiCorp of the sample corpus's sentences."""
  directory = root / "chnsenticorp"
  directory.mkdir(parents=True)
  sentences = []
  with io.open(SAMPLE, encoding="utf-8") as f:
    for line in f:
      sentences += [s["text"] for s in json.loads(line)["sentences"]]
  rows = ["label\ttext_a"] + ["%d\t%s" % (i % 2, s)
                              for i, s in enumerate(sentences[:48])]
  for name in ("train.tsv", "dev.tsv"):
    (directory / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
  return str(root)


@pytest.mark.slow
def test_a_table_end_to_end_and_a_killed_run_resumes_to_the_same_table(
    tmp_path):
  data = write_task_data(tmp_path / "data")
  args = ["--experiment=table9", "--scale=test", "--corpus=" + SAMPLE,
          "--data_dir=" + data, "--tasks=chnsenticorp", "--seeds=2",
          "--variants=MLM,All-mask"]
  whole = run(*(args + ["--output_dir=%s" % (tmp_path / "whole")]))
  assert whole.returncode == 0, whole.stderr[-3000:]
  # data, records, pre-training and guard of each variant, two seeds each.
  assert ("[11/11] finetune tiny-4-lmlm-all chnsenticorp seed 2 (0 remain; "
          "about") in whole.stdout
  table = (tmp_path / "whole" / "results" / "table9.tsv").read_text()
  rows = [line.split("\t") for line in table.splitlines()[1:]]
  assert {(r[0], r[1]) for r in rows} == {
      (v, c) for v in ("MLM", "All-mask") for c in (
          "chnsenticorp ACC", "TC", "Average")}
  markdown = (tmp_path / "whole" / "results" / "table9.md").read_text()
  assert "python run_experiments.py --experiment=table9" in markdown
  # The All-mask records carry the summed tag masks.
  assert "tag masks POS" in (tmp_path / "whole" / "logs" /
                             "records_all.log").read_text()
  assert "The records carry mask_tag_ids" in (
      tmp_path / "whole" / "logs" / "pretrain_tiny-4-lmlm-all.log").read_text()

  # Stopped while a fine-tuning cell runs; the same command finishes it.
  out = tmp_path / "stopped"
  command = [sys.executable, SCRIPT] + args + ["--output_dir=%s" % out]
  stopped = stop_midway(command, str(out / "finetune" / "*" / "chnsenticorp" /
                                     "seed-1" / "graph.pbtxt"),
                       signal.SIGTERM, tmp_path)
  assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
  assert stopped.stderr.strip().splitlines()[-1] == (
      "run_experiments.py: stopped by SIGTERM.")
  assert not list(out.glob("logs/*.tmp"))
  resumed = run(*(args + ["--output_dir=%s" % out]))
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "finished earlier" in resumed.stdout
  assert (out / "results" / "table9.tsv").read_text() == table

  # Another setting into the same directory is refused, naming the first
  # cell it changes and what changed.
  changed = run(*(args + ["--output_dir=%s" % out,
                          "--finetuning_flags=--warmup_proportion=0.2"]))
  assert changed.returncode == 1
  assert changed.stderr.strip().splitlines()[-1].startswith(
      "run_experiments.py: error: %s: the cell 'finetune tiny-4-mlm "
      "chnsenticorp seed 1' was made with command[17] = null, this run has "
      "\"--warmup_proportion=0.2\": resume with the same settings" % out)

  # Task data is recorded by content: dev labels flipped in --data_dir are
  # a change of the data cell and of the fine-tuning cells that read it,
  # not of the records or the pre-training, which --overwrite keeps. A
  # user's files inside the runner's directories stay.
  dev = os.path.join(data, "chnsenticorp", "dev.tsv")
  with io.open(dev, encoding="utf-8") as f:
    rows = f.read().splitlines()
  flipped = rows[:1] + ["%d\t%s" % (1 - int(r[0]), r[2:]) for r in rows[1:]]
  with io.open(dev, "w", encoding="utf-8") as f:
    f.write(u"\n".join(flipped) + u"\n")
  refused = run(*(args + ["--output_dir=%s" % out, "--seeds=3"]))
  assert refused.returncode == 1
  last = refused.stderr.strip().splitlines()[-1]
  assert ("the cell 'data chnsenticorp' was made with inputs[1] = [\"%s\", "
          % dev) in last, last
  assert "redo it and the 4 other finished cells that differ" in last
  checkpoint = out / "pretrain" / "tiny-4-mlm" / "model.ckpt-4.index"
  before = checkpoint.stat().st_mtime_ns
  mine = [out / "results" / "my_table.md", out / "logs" / "my_log.txt",
          out / "pretrain" / "my-own-run" / "model.ckpt-1.index",
          out / "finetune" / "my-manual-run" / "eval_results.txt"]
  for path in mine:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(u"mine")
  redone = run(*(args + ["--output_dir=%s" % out, "--overwrite"]))
  assert redone.returncode == 0, redone.stderr[-3000:]
  assert "11 cells, 6 finished earlier, 5 to run." in redone.stdout
  assert checkpoint.stat().st_mtime_ns == before
  assert all(path.read_text() == u"mine" for path in mine)


def test_figure3_is_a_chart_of_the_groups(tmp_path):
  pytest.importorskip("matplotlib")
  tasks = ["cmrc2018", "msra_ner", "chnsenticorp"]
  rows = []
  for name, shift in (("PND", 0.0), ("no warm-up", 1.0)):
    per_seed = [{key: 50.0 + shift + seed for key in tables.columns(tasks)}
                for seed in range(3)]
    rows.append((name, tables.variant_row(per_seed, tasks)))
  assert rows[1][1]["NER"].mean == 52.0 and rows[1][1]["NER"].max == 53.0
  path = str(tmp_path / "figure3.png")
  tables.draw_figure3(path, rows)
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  markdown, tsv = tables.format_tables("Figure 3", rows)
  assert "| no warm-up | 52.00 ± 1.00 |" in markdown
  # Every seed of "no warm-up" is 1 above the same seed of PND: the paired
  # difference is 1 with no spread, though each row's std is 1.
  assert "| no warm-up | +1.00 [+1.00, +1.00] |" in markdown
  assert ("no warm-up\tAverage\t52.0000\t1.0000\t53.0000\t3\t1.0000\t"
          "1.0000\t1.0000") in tsv
  assert "PND\tAverage\t51.0000\t1.0000\t52.0000\t3\t\t\t" in tsv


def test_paired_difference_of_a_hand_worked_case():
  """Differences 1, 2, 3: mean 2, sd 1, t(2) = 4.303, half-width
  4.303 / sqrt(3) = 2.4843."""
  difference = tables.paired_difference([3.0, 5.0, 7.0], [2.0, 3.0, 4.0])
  assert difference.mean == 2.0 and difference.n == 3
  assert abs(difference.low - (2.0 - 2.48434)) < 1e-4
  assert abs(difference.high - (2.0 + 2.48434)) < 1e-4
  one = tables.paired_difference([3.0], [2.0])
  assert one.mean == 1.0 and one.low is None and one.high is None
  with pytest.raises(ValueError, match="3 seeds against 2"):
    tables.paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])


def test_the_t_quantiles_leave_two_and_a_half_percent_above():
  """Each T_975 entry is the 97.5% quantile of Student's t: its density,
  integrated numerically (Simpson) from 0, gives 0.475."""
  import math
  for df, quantile in enumerate(tables.T_975, 1):
    scale = math.exp(math.lgamma((df + 1) / 2.0) - math.lgamma(df / 2.0)) / (
        math.sqrt(df * math.pi))

    def density(t):
      return scale * (1 + t * t / df) ** (-(df + 1) / 2.0)
    steps = 20000
    h = quantile / steps
    area = density(0) + density(quantile) + sum(
        (4 if i % 2 else 2) * density(i * h) for i in range(1, steps))
    assert abs(area * h / 3 - 0.475) < 5e-5, (df, quantile, area * h / 3)


def test_a_failed_cell_is_quoted_by_its_error_line(tmp_path):
  """absl ends a flag error with "Pass --helpshort or --helpfull to see
  help on flags.", which the runner quoted instead of the error."""
  from lert.experiments import cells
  log = tmp_path / "cell.log"
  log.write_text(u"python run_classifier.py ...\n"
                 u"FATAL Flags parsing error: Unknown command line flag "
                 u"'no_such_flag'\n"
                 u"Pass --helpshort or --helpfull to see help on flags.\n")
  assert cells.error_line(str(log)) == (
      "FATAL Flags parsing error: Unknown command line flag 'no_such_flag'")
  log.write_text(u"INFO: step 1\nKilled\n")
  assert cells.error_line(str(log)) == "Killed"


def _tsv_rows(path):
  with io.open(str(path), encoding="utf-8") as f:
    lines = f.read().splitlines()
  header = lines[0].split("\t")
  return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


@pytest.mark.slow
def test_a_collapsed_encoder_is_a_row_that_says_so_and_is_not_fine_tuned(
    tmp_path):
  """With a guard limit that every encoder reaches, the pre-trained variant
  is tabulated as collapsed with its guard figures, its fine-tuning cells
  are skipped, and the from-scratch row keeps its scores; a directory of
  the runner before the guard is refused as a whole."""
  data = write_task_data(tmp_path / "data")
  out = tmp_path / "out"
  args = ["--experiment=table9", "--scale=test", "--corpus=" + SAMPLE,
          "--data_dir=" + data, "--tasks=chnsenticorp", "--seeds=1",
          "--variants=MLM", "--from_scratch", "--cosine_limit=-0.99",
          "--output_dir=%s" % out]
  result = run(*args)
  assert result.returncode == 0, result.stderr[-3000:]
  assert ("skipped finetune tiny-4-mlm chnsenticorp seed 1: its encoder "
          "collapsed (final-layer cosine") in result.stdout
  assert not (out / "finetune" / "tiny-4-mlm").exists()
  guard = json.loads((out / "guard" / "tiny-4-mlm" / "guard.json")
                     .read_text())
  assert guard["collapsed"] is True and guard["verdict"] == "collapsed"
  rows = _tsv_rows(out / "results" / "table9.tsv")
  assert [(r["system"], r["column"], r["mean"]) for r in rows
          if r["system"] == "MLM"] == [("MLM", "collapsed", "")]
  scratch = [r for r in rows if r["system"] == "from scratch"]
  with io.open(str(out / "finetune" / "tiny-scratch" / "chnsenticorp" /
                   "seed-1" / "eval_results.txt"), encoding="utf-8") as f:
    accuracy = tables.read_metrics(f.name)["accuracy"]
  assert float(scratch[0]["mean"]) == pytest.approx(100 * accuracy,
                                                    abs=1e-4)
  markdown = (out / "results" / "table9.md").read_text()
  assert "| MLM | collapsed (final-layer cosine %.3f" % (
      guard["final_layer_cosine"]) in markdown
  assert "Difference from" not in markdown  # no baseline to differ from
  assert "| MLM | %.3f | %.3f | %.4f | collapsed |" % (
      guard["mlm_loss"], guard["unigram_entropy"],
      guard["final_layer_cosine"]) in markdown

  # --report prints the tables of the finished cells, writing nothing.
  reported = run(*(args + ["--report"]))
  assert reported.returncode == 0, reported.stderr[-3000:]
  assert "chnsenticorp, seeds 1 of 1 finished" in reported.stdout
  assert "| MLM | collapsed (final-layer cosine" in reported.stdout
  assert "| from scratch | %.2f ± 0.00 |" % (100 * accuracy) in (
      reported.stdout)
  scores = out / "finetune" / "tiny-scratch" / "chnsenticorp" / "seed-1" / (
      "eval_results.txt")
  scores.rename(scores.with_suffix(".moved"))
  partial = run(*(args + ["--report"]))
  assert "chnsenticorp, seeds none of 1 finished" in partial.stdout
  scores.with_suffix(".moved").rename(scores)

  # A directory of the runner before the guard: refused as a whole.
  record = json.loads((out / "lert_run.json").read_text())
  record["settings"].pop("collapse_guard")
  (out / "lert_run.json").write_text(json.dumps(record))
  refused = run(*args)
  assert refused.returncode == 1
  assert "collapse_guard" in refused.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_the_low_resource_curve_samples_nested_sizes_on_one_dev_split(
    tmp_path):
  """--experiment=lowresource fine-tunes on each training size, a smaller
  sample inside a larger one, all scored on the same dev examples; its
  table's means and stds are those of the cells' own eval_results.txt,
  recomputed here with NumPy."""
  import numpy as np
  data = write_task_data(tmp_path / "data")
  out = tmp_path / "out"
  result = run("--experiment=lowresource", "--scale=test",
               "--corpus=" + SAMPLE, "--data_dir=" + data,
               "--tasks=chnsenticorp", "--seeds=2", "--variants=BERT",
               "--from_scratch", "--train_sizes=10,20",
               "--output_dir=%s" % out)
  assert result.returncode == 0, result.stderr[-3000:]
  small = (out / "data" / "chnsenticorp-n10" / "train.tsv").read_text()
  large = (out / "data" / "chnsenticorp-n20" / "train.tsv").read_text()
  small_rows, large_rows = small.splitlines()[1:], large.splitlines()[1:]
  assert (len(small_rows), len(large_rows)) == (10, 20)
  assert set(small_rows) < set(large_rows)
  assert ((out / "data" / "chnsenticorp-n10" / "dev.tsv").read_text() ==
          (out / "data" / "chnsenticorp-n20" / "dev.tsv").read_text())
  rows = _tsv_rows(out / "results" / "lowresource.tsv")
  assert {(r["system"], r["column"]) for r in rows} == {
      (s, "chnsenticorp ACC n=%d" % n) for s in ("BERT (MLM)", "from scratch")
      for n in (10, 20)}
  for row in rows:
    model = "tiny-4-mlm" if row["system"] == "BERT (MLM)" else "tiny-scratch"
    size = row["column"].rsplit("=", 1)[1]
    scores = [100 * tables.read_metrics(str(
        out / "finetune" / model / ("chnsenticorp-n" + size) /
        ("seed-%d" % seed) / "eval_results.txt"))["accuracy"]
              for seed in (1, 2)]
    assert float(row["mean"]) == pytest.approx(np.mean(scores), abs=1e-4)
    assert float(row["std"]) == pytest.approx(np.std(scores, ddof=1),
                                              abs=1e-4)
  if figures.available():
    assert (out / "results" / "lowresource.png").stat().st_size > 1000


@pytest.mark.slow
def test_the_probe_experiment_probes_each_encoder_and_the_control(tmp_path):
  """--experiment=probe runs run_probe.py on each pre-trained encoder and
  on random weights (the from-scratch row), and tabulates each task by
  variant and layer from the cells' own probe.tsv; held-out text that is
  also in --corpus is refused before any cell."""
  from probe_helpers import ud_sentences
  from probe_helpers import write_conllu
  train = write_conllu(tmp_path / "train.conllu.gz", ud_sentences(20, 1))
  test = write_conllu(tmp_path / "test.conllu.gz", ud_sentences(8, 2))
  out = tmp_path / "out"
  args = ["--experiment=probe", "--scale=test", "--corpus=" + SAMPLE,
          "--variants=BERT", "--from_scratch",
          "--probe_conllu=%s,%s" % (train, test), "--output_dir=%s" % out]
  result = run(*args)
  assert result.returncode == 0, result.stderr[-3000:]
  rows = _tsv_rows(out / "results" / "probe.tsv")
  for row in rows:
    model = "tiny-4-mlm" if row["system"] == "BERT (MLM)" else "tiny-scratch"
    own = {(r["task"], r["layer"]): r for r in _tsv_rows(
        out / "probe" / model / "probe.tsv")}
    assert row["accuracy"] == own[row["task"], row["layer"]]["accuracy"]
  assert {(r["system"], r["task"]) for r in rows} == {
      (s, t) for s in ("BERT (MLM)", "from scratch")
      for t in ("upos", "deprel")}
  assert "--random_init" in (out / "logs" / "probe_tiny-scratch.log"
                             ).read_text().splitlines()[0]
  if figures.available():
    assert (out / "results" / "probe.png").stat().st_size > 1000

  unused = run("--experiment=table7", "--scale=test", "--corpus=" + SAMPLE,
               "--probe_conllu=%s,%s" % (train, test), "--dry_run",
               "--output_dir=%s" % (tmp_path / "other"))
  assert unused.returncode == 1
  assert unused.stderr.strip().splitlines()[-1] == (
      "run_experiments.py: error: --probe_conllu is for --experiment=probe, "
      "which this run does not include (--experiment=table7).")
  refused = run("--experiment=probe", "--scale=test", "--corpus=" + SAMPLE,
                "--probe_tagged=" + SAMPLE, "--output_dir=%s" % (
                    tmp_path / "other"))
  assert refused.returncode == 1
  assert "is in --corpus: the probes need text that pre-training never saw" \
      in refused.stderr
  assert not (tmp_path / "other").exists()
