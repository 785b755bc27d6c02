"""Snakemake integration: the whole DAG on a tiny synthetic config, partial reruns, lint."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = REPO / "tests" / "data" / "tiny.yaml"
TINY_COMPOSITE = REPO / "tests" / "data" / "tiny_composite.yaml"

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, config: Path = TINY) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--configfile", str(config),
           "--directory", str(workdir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200)


def planned_jobs(workdir: Path, config: Path) -> dict[str, int]:
    """Job counts per rule of a dry run ({} when nothing is to be done)."""
    from mexflow.workflow_support import planned_job_counts

    res = snakemake(workdir, "-n", "-q", "rules", config=config)
    assert res.returncode == 0, res.stderr[-3000:]
    return planned_job_counts(res.stdout + res.stderr)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny_run")
    res = snakemake(workdir, "--cores", "2")
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-5000:])
    return workdir


def edited_config(tmp_path: Path, edit) -> Path:
    cfg = yaml.safe_load(TINY.read_text())
    edit(cfg)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_full_dag_produces_the_contracted_outputs(tiny_run):
    res = tiny_run / "results" / "tiny"
    metrics = pd.read_parquet(res / "reports" / "metrics.parquet")
    for col in ["condition", "feature_set", "model", "protocol", "accuracy", "uf1", "uar",
                "n_clips", "n_subjects"]:
        assert col in metrics.columns
    # the experiment matrix of tiny.yaml: 6 banks x linear SVM x (loso, logo2), RBF SVM x (loso,
    # holdout), the 3D CNN on four banks, the two-stream model, and the leave-one-sample-out contrast
    cells = set(zip(metrics["feature_set"], metrics["model"], metrics["protocol"]))
    assert len(metrics) == len(cells) == 20
    assert {("flow_strain", "rbf_svm", "holdout"), ("frames", "cnn3d", "loso"),
            ("apex_flow", "two_stream", "loso"), ("lbptop", "linear_svm", "loo")} <= cells
    assert set(metrics["protocol"]) == {"loso", "logo2", "holdout", "loo"}
    assert metrics.loc[metrics["protocol"] == "loo", "subject_independent"].eq(False).all()
    assert metrics.loc[metrics["protocol"] != "loo", "subject_independent"].all()
    assert metrics[["accuracy", "uf1", "uar"]].apply(lambda s: s.between(0, 1)).all().all()
    # 20 clips generated; the 'unknown_label' quirk is rejected with a trace, the '/' apex kept
    index = pd.read_parquet(res / "index.parquet")
    rejected = pd.read_parquet(res / "rejected.parquet")
    assert len(index) == 19 and len(rejected) == 1
    assert "unknown label 'bewilderment'" in rejected["reason"].iloc[0]
    assert (index["apex_source"] == "midpoint").sum() == 1
    assert (metrics["n_clips"] == 19).all() and (metrics["n_subjects"] == 4).all()
    holdout = metrics[metrics["protocol"] == "holdout"].iloc[0]
    assert holdout["n_test_subjects"] == 1 and holdout["n_tested"] < 19  # one subject-disjoint test set
    assert (metrics.loc[metrics["protocol"] != "holdout", "n_tested"] == 19).all()
    assert metrics.loc[metrics["model"] == "cnn3d", "au_macro_f1"].between(0, 1).all()
    # every stage cached as Parquet/NPZ
    for rel in ["aligned/shard0.npz", "aligned/shard1.parquet", "clips/original/shard0.npz",
                "features/original/lbptop/manifest.parquet", "features/original/flow_strain/shard1.npz",
                "eval/original/lbptop/linear_svm/loso/predictions.parquet", "reports/metrics.md"]:
        assert (res / rel).is_file(), rel
    preds = pd.read_parquet(res / "eval/original/flow_strain/linear_svm/loso/predictions.parquet")
    assert preds["clip_id"].is_unique and len(preds) == 19
    # each LOSO fold tests exactly one subject
    assert preds.groupby("fold")["subject"].nunique().eq(1).all()
    summary = json.loads((res / "eval/original/flow_strain/linear_svm/loso/summary.json").read_text())
    assert summary["n_features"] == 5 * 4 * 4 * 3  # (T-1) pairs x 4x4 blocks x (u, v, strain)
    assert "| original | lbptop | linear_svm | loso |" in (res / "reports/metrics.md").read_text()
    # the deep model learned the AUs too, and its epoch count was chosen on training subjects
    deep = pd.read_parquet(res / "eval/original/flow_strain/cnn3d/loso/predictions.parquet")
    assert {"au_true", "au_pred"} <= set(deep.columns) and len(deep) == 19
    summary = json.loads((res / "eval/original/flow_strain/cnn3d/loso/summary.json").read_text())
    assert {row["epochs"] for row in summary["selected_per_fold"].values()} <= {1, 2}
    assert len(summary["selected_per_fold"]) == 4


def test_every_feature_family_is_banked_with_its_documented_shapes(tiny_run):
    from mexflow.bank import load_bank
    from mexflow.features.registry import output_shapes

    res = tiny_run / "results" / "tiny"
    cfg = yaml.safe_load(TINY.read_text())
    clip_ids = pd.read_parquet(res / "index.parquet")["clip_id"].tolist()
    for name, spec in cfg["features"].items():
        manifest = res / "features" / "original" / name / "manifest.parquet"
        for array, (shape, dtype) in output_shapes(spec, cfg["temporal"]["frames"],
                                                   cfg["alignment"]["crop_size"]).items():
            if array == "image":
                continue
            stacked, missing = load_bank(manifest, clip_ids, array)
            assert missing == [] and stacked.shape == (len(clip_ids), *shape), (name, array)
            assert stacked.dtype == np.dtype(dtype), (name, array)
    pngs = sorted((res / "features/original/flowmap28").glob("images*/*.png"))
    assert len(pngs) == len(clip_ids)
    assert cv2.imread(str(pngs[0])).shape == (28, 28, 3)


def test_landmarks_and_masks_for_every_clip_match_the_generator(tiny_run):
    """FaceMesh on each aligned reference crop vs the generator's landmarks mapped into the crop
    (96 px crops here): median error below 1 crop px for every clip, and every region mask
    non-empty. The figure of the masks is drawn."""
    from mexflow.shards import iter_clips
    from mexflow.synthetic.corpus import truth_path
    from mexflow.synthetic.ground_truth import landmarks_in_crop, load_clip_truth

    res = tiny_run / "results" / "tiny"
    aligned = pd.concat([pd.read_parquet(p) for p in sorted(res.glob("aligned/shard?.parquet"))])
    geometry = pd.concat([pd.read_parquet(p) for p in sorted(res.glob("geometry/shard?.parquet"))])
    assert sorted(geometry["clip_id"]) == sorted(aligned["clip_id"]) and len(geometry) == 19
    boxes = {}
    for row, arrays in iter_clips(res / "aligned", aligned, ["box"]):
        boxes[row["clip_id"]] = (arrays["box"], int(row["reference"]))
    errors = []
    for row, arrays in iter_clips(res / "geometry", geometry, ["reference_landmarks", "masks"]):
        _, subject, clip = row["clip_id"].split("/")
        truth = load_clip_truth(truth_path(res / "corpus", subject, clip))
        box, ref = boxes[row["clip_id"]]
        true_pts = landmarks_in_crop(truth, box, 96, ref)
        errors.append(np.median(np.linalg.norm(arrays["reference_landmarks"] - true_pts, axis=1)))
        assert arrays["masks"].shape == (7, 96, 96) and arrays["masks"].reshape(7, -1).any(1).all()
    assert max(errors) < 1.0, errors
    assert (res / "reports/face_regions.png").stat().st_size > 10_000


def test_flow_recogniser_learns_the_synthetic_labels(tiny_run):
    """Synthetic labels are a function of the AUs: flow + strain under LOSO must beat chance
    (0.2 for 5 classes) clearly even on this 19-clip corpus (the run is seeded, so this is a
    fixed number, ~0.44 when written); the default corpus gives 0.68 (README)."""
    metrics = pd.read_parquet(tiny_run / "results/tiny/reports/metrics.parquet")
    row = metrics[(metrics["feature_set"] == "flow_strain") & (metrics["protocol"] == "loso")
                  & (metrics["model"] == "linear_svm")].iloc[0]
    assert row["chance_uf1_uar"] == pytest.approx(0.2)
    assert row["uf1"] > 1.5 * row["chance_uf1_uar"] and row["uar"] > 1.5 * row["chance_uf1_uar"]


def test_nothing_to_do_after_a_complete_run(tiny_run):
    assert planned_jobs(tiny_run, TINY) == {}


def test_changing_one_feature_set_reruns_only_that_bank_and_its_evaluations(tiny_run, tmp_path):
    cfg = edited_config(tmp_path, lambda c: c["features"]["lbptop"].update(grid=[2, 2]))
    jobs = planned_jobs(tiny_run, cfg)
    # 2 shards of the lbptop bank, its merge, its 3 evaluations (loso, logo2, loo), the reports
    assert jobs == {"feature_shard": 2, "merge_bank": 1, "evaluate": 3, "report": 1,
                    "report_figures": 1, "runtime_report": 1, "all": 1}
    res = snakemake(tiny_run, "-n", "--summary", config=cfg)
    pending = [line.split("\t")[0] for line in res.stdout.splitlines() if "update pending" in line
               or "params changed" in line]
    assert pending and all("flow_strain" not in p for p in pending), pending


def test_changing_a_model_reruns_only_evaluations(tiny_run, tmp_path):
    cfg = edited_config(tmp_path, lambda c: c["models"]["linear_svm"].update(C_grid=[0.1]))
    # the linear SVM's 12 cells and its leave-one-sample-out contrast; nothing of the other models
    assert planned_jobs(tiny_run, cfg) == {"evaluate": 13, "report": 1, "report_figures": 1,
                                           "runtime_report": 1, "all": 1}


def test_runtime_table_covers_every_job(tiny_run):
    """Every job's benchmark file is aggregated: one row per job, a per-rule summary."""
    res = tiny_run / "results" / "tiny"
    jobs = pd.read_parquet(res / "reports" / "runtime.parquet")
    counts = jobs["rule"].value_counts().to_dict()
    assert counts["evaluate"] == 20 and counts["feature_shard"] == 16 and counts["align_shard"] == 2
    assert {"synthesize_corpus", "build_index", "geometry_shard", "normalise_shard", "merge_bank",
            "report", "report_figures", "face_region_figure"} <= set(counts)
    assert (jobs["s"] > 0).all() and jobs["max_rss"].dropna().gt(10).all()  # MB
    table = (res / "reports" / "runtime.md").read_text()
    assert "| evaluate | 20 |" in table and "| all |" in table


def test_same_config_gives_identical_metrics(tiny_run):
    """Determinism: rerunning every evaluation (seeded SVMs, deep models, bootstrap, holdout
    search) reproduces the metrics table exactly."""
    before = pd.read_parquet(tiny_run / "results/tiny/reports/metrics.parquet")
    res = snakemake(tiny_run, "--cores", "2", "--forcerun", "evaluate")
    assert res.returncode == 0, res.stderr[-3000:]
    after = pd.read_parquet(tiny_run / "results/tiny/reports/metrics.parquet")
    pd.testing.assert_frame_equal(before, after, check_exact=True)


def test_html_report_gathers_tables_and_figures(tiny_run):
    """`snakemake --report` builds one self-contained HTML file from the report() outputs."""
    out = tiny_run / "report.html"
    res = snakemake(tiny_run, "--report", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    text = out.read_text(errors="replace")
    for name in ("metrics.html", "recognition.png", "confusion.png", "face_regions.png", "runtime.html"):
        assert name in text, name
    assert out.stat().st_size > 100_000



def test_metrics_page_accounts_for_the_data_and_embeds_the_configuration(tiny_run):
    """metrics.html traces the rejected clip, marks the contrast, and embeds the configuration
    the run resolved (tiny.yaml composed with config.yaml, and the schema's defaults)."""
    import html

    page = html.unescape((tiny_run / "results/tiny/reports/metrics.html").read_text())
    assert "unknown label 'bewilderment'" in page and "LEAKY CONTRAST" in page
    used = yaml.safe_load(page.split("<pre class='config'>", 1)[1].split("</pre>", 1)[0])
    tiny = yaml.safe_load(TINY.read_text())
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())
    assert used["experiments"] == tiny["experiments"] and set(used["models"]) == set(tiny["models"])
    for name, entry in tiny["models"].items():  # tiny's settings, over config.yaml's same-named entry
        assert used["models"][name] == {**defaults["models"][name], **entry}
    assert used["datasets"]["tiny"]["synthetic"] == tiny["datasets"]["tiny"]["synthetic"]
    assert used["datasets"]["tiny"]["missing_apex"] == "midpoint"  # a default filled in


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["experiments"]["deep"].update(feature_sets=["lbptop"]), "needs a feature set with dense data"),
    (lambda c: c["experiments"]["deep"].update(models=["svm9"]), "not in models"),
    (lambda c: c["models"]["cnn3d"].update(epoch=3), "models.cnn3d"),
])
def test_experiment_matrix_errors_name_the_entry(tmp_path, edit, message):
    res = snakemake(tmp_path, "-n", config=edited_config(tmp_path, edit))
    out = res.stdout + res.stderr
    assert res.returncode != 0 and message in out, out[-2000:]


def test_invalid_config_is_refused_before_any_job(tmp_path):
    cfg = edited_config(tmp_path, lambda c: c["temporal"].update(frames=1))
    res = snakemake(tmp_path, "-n", config=cfg)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "frames" in out and "minimum" in out, out
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(conditions=["original", "nowhere"]), "no magnify.conditions.nowhere entry"),
    (lambda c: c.update(conditions=["original", "m"], magnify={"conditions": {
        "m": {"method": "learned", "model": "nowhere", "alpha": 4}}}), "magnifier 'nowhere'"),
    (lambda c: c.update(conditions=["original", "m"], magnify={"pretrained": "/nowhere/flowmag.pth",
        "conditions": {"m": {"method": "learned", "model": "pretrained", "alpha": 4}}}), "/nowhere/flowmag.pth"),
])
def test_magnify_config_errors_name_the_condition(tmp_path, edit, message):
    res = snakemake(tmp_path, "-n", config=edited_config(tmp_path, edit))
    assert res.returncode != 0 and message in res.stdout + res.stderr, res.stderr[-2000:]


def test_lint_is_clean(tmp_path):
    res = snakemake(tmp_path, "--lint")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Lints for" not in res.stdout + res.stderr


def test_complete_run_leaves_no_temporary_files(tiny_run):
    """Outputs are written to temporary files and renamed: none may be left behind."""
    leftovers = [p for p in (tiny_run / "results").rglob("*.tmp")]
    assert leftovers == []


@pytest.fixture(scope="module")
def composite_run(tmp_path_factory):
    """SAMM- and 4DME-layout synthetic corpora (MediaPipe detector, similarity alignment, TIM)
    combined into the composite set `mix`."""
    workdir = tmp_path_factory.mktemp("composite_run")
    res = snakemake(workdir, "--cores", "2", config=TINY_COMPOSITE)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-5000:])
    return workdir / "results"


def test_samm_and_4dme_layouts_are_read_end_to_end(composite_run):
    samm = pd.read_parquet(composite_run / "tsamm/index.parquet")
    fourd = pd.read_parquet(composite_run / "t4dme/index.parquet")
    assert len(samm) == 9 and len(fourd) == 9  # no clip lost; quirks are read, not rejected
    assert (samm["fps"] == 200).all() and (fourd["fps"] == 60).all()
    assert samm["frame_pattern"].str.fullmatch(r"\d{3}_\{:05d\}\.jpg").all()
    assert samm["objective"].notna().all()
    assert (samm["apex_source"] == "midpoint").sum() == 1  # the -1 apex quirk
    assert fourd["emotion"].str.contains(r"\+").sum() == 1  # the compound label ...
    assert fourd.loc[fourd["emotion"].str.contains(r"\+"), "class3"].tolist() == ["positive"]
    assert fourd["au_codes"].map(lambda codes: any("(k)" in c for c in codes)).sum() == 1


def test_composite_set_combines_corpora_and_leaves_one_corpus_out(composite_run):
    mix = composite_run / "mix"
    index = pd.read_parquet(mix / "index.parquet")
    assert sorted(index["dataset"].unique()) == ["t4dme", "tsamm"] and len(index) == 18
    assert index["subject"].str.match(r"^(tsamm|t4dme)/").all()
    assert not list(mix.glob("features/**/*.npz")), "the composite reuses its members' banks"
    preds = pd.read_parquet(mix / "eval/original/flowmap/linear_svm/loco/predictions.parquet")
    assert sorted(preds["fold"].unique()) == ["loco:t4dme", "loco:tsamm"]
    for fold, rows in preds.groupby("fold"):
        assert set(rows["clip_id"].str.split("/").str[0]) == {fold.split(":")[1]}
    metrics = pd.read_parquet(mix / "reports/metrics.parquet")
    assert sorted(metrics["protocol"]) == ["loco", "loso"]
    # loco applies to composite sets only
    assert pd.read_parquet(composite_run / "tsamm/reports/metrics.parquet")["protocol"].tolist() == ["loso"]


def test_run_datasets_limits_what_all_builds(tmp_path):
    """A dataset left out of run_datasets (e.g. config.yaml's synthetic default under a merged
    --configfile) is not built; a name that is not a dataset is refused."""
    def add_second(c):
        c["datasets"]["other"] = {**c["datasets"]["tiny"], "root": "results/other/corpus"}
        c["run_datasets"] = ["tiny"]
    jobs = planned_jobs(tmp_path, edited_config(tmp_path, add_second))
    assert jobs["synthesize_corpus"] == 1 and jobs["report"] == 1
    res = snakemake(tmp_path, "-n", config=edited_config(tmp_path, lambda c: c.update(run_datasets=["nope"])))
    assert res.returncode != 0 and "run_datasets names 'nope'" in res.stdout + res.stderr


TINY_MAGNIFY = REPO / "tests" / "data" / "tiny_magnify.yaml"


@pytest.fixture(scope="module")
def magnify_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("magnify_run")
    res = snakemake(workdir, "--cores", "2", config=TINY_MAGNIFY)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-5000:])
    return workdir


def test_every_condition_flows_into_banks_and_evaluations(magnify_run):
    cfg = yaml.safe_load(TINY_MAGNIFY.read_text())
    res = magnify_run / "results" / "tinymag"
    metrics = pd.read_parquet(res / "reports" / "metrics.parquet")
    assert set(metrics["condition"]) == set(cfg["conditions"])
    assert len(metrics) == len(cfg["conditions"]) * len(cfg["features"])
    # finetune_subjects: reserved -> the reserved subject is in no evaluation, in any condition.
    reserved = None
    for c in cfg["conditions"]:
        summary = json.loads((res / "eval" / c / "flow_dis" / "linear_svm" / "loso" / "summary.json").read_text())
        assert summary["n_subjects"] == 3 and summary["reserved_for_finetuning"] == 3
    magplus_meta = json.loads((res / "magnifiers" / "magplus.json").read_text())
    reserved = magplus_meta["subjects"]
    assert len(reserved) == 1
    preds = pd.read_parquet(res / "eval" / "faceaware_l2" / "flow_dis" / "linear_svm" / "loso" / "predictions.parquet")
    assert not set(preds["subject"]) & set(reserved)


def test_magnified_clips_differ_from_the_original_and_keep_their_shape(magnify_run):
    from mexflow.shards import iter_clips

    res = magnify_run / "results" / "tinymag" / "clips"
    orig = {r["clip_id"]: a for r, a in iter_clips(res / "original", pd.read_parquet(res / "original" / "shard0.parquet"))}
    for cond in ("evm", "evm_me", "lagrangian", "flowmag", "flowmag_targeted", "flowmag_tta", "magplus",
                 "demagplus", "faceaware_l5"):
        for row, a in iter_clips(res / cond, pd.read_parquet(res / cond / "shard0.parquet")):
            o = orig[row["clip_id"]]
            assert a["frames"].shape == o["frames"].shape and a["frames"].dtype == np.uint8
            assert np.array_equal(a["source_frames"], o["source_frames"])
            if not cond.startswith("evm"):  # learned, Lagrangian: frame 0 is the reference, unchanged
                assert np.array_equal(a["frames"][0], o["frames"][0])
                assert np.array_equal(a["key_frames"][0], o["key_frames"][0])


def test_targeted_condition_records_its_alpha_mask_per_clip(magnify_run):
    res = magnify_run / "results" / "tinymag"
    geometry = pd.concat([pd.read_parquet(p) for p in sorted((res / "geometry").glob("shard?.parquet"))])
    manifest = pd.concat([pd.read_parquet(p) for p in sorted((res / "clips" / "flowmag_targeted").glob("shard?.parquet"))])
    original = pd.concat([pd.read_parquet(p) for p in sorted((res / "clips" / "original").glob("shard?.parquet"))])
    assert sorted(manifest["clip_id"]) == sorted(original["clip_id"])  # no clip vanishes
    with_geometry = manifest["clip_id"].isin(geometry["clip_id"])
    assert (manifest["targeted"] == with_geometry).all()
    assert (manifest.loc[~with_geometry, "alpha_mask"] == "none: no geometry").all()
    assert (manifest.loc[with_geometry, "alpha_mask"] == "face_parts").all()
    assert cv2.imread(str(res / "reports" / "evm_band.png")) is not None
    assert "preset band" in (res / "logs" / "magnify" / "evm_me_shard0.log").read_text()


def test_magnifier_checkpoints_carry_metadata_and_load_safely(magnify_run):
    import torch

    from mexflow.magnify.generator import load_generator

    res = magnify_run / "results"
    generic = json.loads((res / "magnifiers" / "generic.json").read_text())
    assert generic["mode"] == "generic" and generic["steps"] == 3 and generic["architecture"]["width"] == 4
    demag = json.loads((res / "tinymag" / "magnifiers" / "demagplus.json").read_text())
    assert demag["alpha_range"] == [0.0625, 1] and demag["init"].endswith("magplus.pt")
    assert demag["freeze_encoder"] is True
    face = json.loads((res / "tinymag" / "magnifiers" / "faceaware_l5.json").read_text())
    assert face["loss"]["landmark"] == 5
    for path in (res / "magnifiers" / "generic.pt", res / "tinymag" / "magnifiers" / "faceaware_l5.pt"):
        torch.load(path, map_location="cpu", weights_only=True)
        assert load_generator(path).width == 4


def test_motion_table_covers_every_magnified_condition_and_clip(magnify_run):
    res = magnify_run / "results" / "tinymag"
    motion = pd.read_parquet(res / "reports" / "motion.parquet")
    index = pd.read_parquet(res / "index.parquet")
    magnified = [c for c in yaml.safe_load(TINY_MAGNIFY.read_text())["conditions"] if c != "original"]
    assert set(motion["condition"]) == set(magnified)
    assert len(motion) == len(magnified) * len(index)
    for col in ("mmr", "motion_error", "magnification_error", "truth_effective_alpha",
                "truth_orig_effective_alpha", "truth_added_share_in_masks", "truth_effective_alpha_mouth"):
        assert col in motion.columns, col
    # The truth comparison sees EVM's magnification: at 96 px Farnebäck recovers only ~0.45 of
    # the sub-pixel truth on the original clips, and ~3x that on EVM's (alpha 10).
    evm = motion[motion["condition"] == "evm"]
    assert 0.2 < evm["truth_orig_effective_alpha"].median() < 1.5
    assert (evm["truth_effective_alpha"] / evm["truth_orig_effective_alpha"]).median() > 2
    assert (evm["mmr"] > 1.5).mean() > 0.8
    # The Lagrangian reference moves frame 0 by alpha x its own flow estimate (measured: MMR 10.1,
    # gain ratio 5.4), and the me preset's band passes more of these short MEs than the default
    # band (measured gain ratio 4.0 vs 3.1).
    ratio = motion["truth_effective_alpha"] / motion["truth_orig_effective_alpha"]
    by = ratio.groupby(motion["condition"]).median()
    lagrangian = motion[motion["condition"] == "lagrangian"]
    assert by["lagrangian"] > 3 and (lagrangian["mmr"] > 5).mean() > 0.8
    assert by["evm_me"] > by["evm"]
    assert (res / "reports" / "motion.md").read_text().startswith("# Motion fidelity")
    assert cv2.imread(str(res / "reports" / "magnification.png")) is not None


def _data_files(root: Path) -> dict[str, Path]:
    """Every Parquet, NPZ and JSON result under root/results, but timings (logs, benchmark files,
    the runtime table)."""
    skip = {"logs", "benchmarks", "runtime.parquet"}
    return {str(p.relative_to(root)): p for p in (root / "results").rglob("*")
            if p.suffix in (".parquet", ".npz", ".json") and not skip & set(p.relative_to(root).parts)}


def _same_content(a: Path, root_a: Path, b: Path, root_b: Path) -> bool:
    """Equal content; paths inside tables (the index's frame folders) are compared relative to
    their run's working directory."""
    if a.suffix == ".parquet":
        x, y = pd.read_parquet(a), pd.read_parquet(b)
        for df, root in ((x, root_a), (y, root_b)):
            for col in df.columns[df.dtypes == object]:
                if df[col].map(lambda v: isinstance(v, str)).all():
                    df[col] = df[col].str.replace(str(root), "<workdir>", regex=False)
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=str(a))
    elif a.suffix == ".npz":  # zip members carry timestamps: compare the arrays
        with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
            assert sorted(x.files) == sorted(y.files), a
            for k in x.files:
                assert np.array_equal(x[k], y[k]), (a, k)
    else:
        assert json.loads(a.read_text()) == json.loads(b.read_text()), a
    return True


def test_a_killed_run_resumes_to_identical_outputs(tiny_run, tmp_path):
    """Kill the whole run (SIGKILL to snakemake and its jobs, as a crashed node would) once the
    clips are normalised, unlock, run again: the outputs equal the uninterrupted run's."""
    import os
    import signal
    import time

    cmd = [SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--configfile", str(TINY),
           "--directory", str(tmp_path), "--cores", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    marker = tmp_path / "results/tiny/clips/original/shard0.npz"
    deadline = time.monotonic() + 600
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "results/tiny/reports/metrics.parquet").exists()
    assert snakemake(tmp_path, "--unlock").returncode == 0
    res = snakemake(tmp_path, "--cores", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    resumed, reference = _data_files(tmp_path), _data_files(tiny_run)
    assert sorted(resumed) == sorted(reference)
    assert all(_same_content(resumed[k], tmp_path, reference[k], tiny_run) for k in sorted(reference))
