"""`--model-dir` / WAN_MODEL_DIR: a model read from a local diffusers snapshot or an official
checkpoint folder (tests/data/model-dirs holds their config files, no weights).

Expected numbers come from WAN_FACTS (§5.1, §5.3), derived from the diffusers source and
confirmed by FlopCounterMode in tests/verify; never from wanmeter's own output."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANMETER", "build/wanmeter"))
if not BIN.is_absolute():
    BIN = ROOT / BIN
DIRS = ROOT / "tests" / "data" / "model-dirs"
SNAPSHOT = DIRS / "wan2.1-t2v-1.3b-diffusers"
OFFICIAL = DIRS / "wan2.1-t2v-14b-official"


def run(*args, env=None):
    e = dict(os.environ)
    e.pop("WAN_MODEL_DIR", None)
    e.update(env or {})
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, env=e,
                          timeout=60)


def report(*args, env=None):
    p = run("report", "--no-artifacts", "--format", "json", *args, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_diffusers_snapshot_is_the_1_3b_model():
    d = report("--model-dir", SNAPSHOT, "--workload", "wan2-1-480p-81f")
    # WAN_FACTS §5.3: T2V-1.3B @ 81x480x832, meta
    assert d["totals"]["flops_per_forward"] == 283_001_787_777_024
    stages = {st["id"]: st for st in d["stages"]}
    assert stages["transformer"]["params"] == 1_418_996_800
    assert d["model"]["source"] == f"model dir {SNAPSHOT} (diffusers snapshot)"
    assert d["model"]["id"] == SNAPSHOT.name
    assert d["model"]["variant"] == "t2v"
    # the scheduler's shift and the VAE's compression come from the snapshot
    assert d["model"]["pipeline"]["flow_shift"] == 3.0
    assert d["model"]["pipeline"]["vae_scale_factor_spatial"] == 8
    assert d["model"]["text_encoder"]["d_model"] == 4096
    assert d["model"]["vae"]["z_dim"] == 16


def test_official_folder_is_the_14b_model():
    d = report("--model-dir", OFFICIAL, "--workload", "wan2-1-720p-81f")
    # WAN_FACTS §5.1 (e): T2V-14B @ 81x720x1280, meta
    assert d["totals"]["flops_per_forward"] == 6_523_436_592_005_120
    assert d["model"]["source"] == f"model dir {OFFICIAL} (official config.json)"
    assert d["model"]["config"]["attention_head_dim"] == 128  # dim 5120 / 40 heads


def test_environment_variable():
    d = report("--workload", "wan2-1-ci-tiny", env={"WAN_MODEL_DIR": str(OFFICIAL)})
    assert d["model"]["id"] == OFFICIAL.name
    # WAN_FACTS §5.1 (a raw)
    assert d["totals"]["flops_per_forward"] == 6_462_617_681_920


def one_line(p, code):
    assert p.returncode == code, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wanmeter: ") and p.stdout == ""
    return lines[0]


def test_missing_file_names_it(tmp_path):
    d = tmp_path / "snap"
    shutil.copytree(SNAPSHOT, d)
    (d / "vae" / "config.json").unlink()
    line = one_line(run("report", "--no-artifacts", "--model-dir", d), 3)
    assert "vae/config.json" in line and "missing" in line


def test_missing_key_names_file_and_key(tmp_path):
    d = tmp_path / "snap"
    shutil.copytree(SNAPSHOT, d)
    cfg = json.loads((d / "transformer" / "config.json").read_text())
    del cfg["ffn_dim"]
    (d / "transformer" / "config.json").write_text(json.dumps(cfg))
    line = one_line(run("report", "--no-artifacts", "--model-dir", d), 3)
    assert "transformer/config.json" in line and "'ffn_dim'" in line


def test_malformed_json_has_a_position(tmp_path):
    d = tmp_path / "snap"
    shutil.copytree(SNAPSHOT, d)
    (d / "text_encoder" / "config.json").write_text('{\n  "d_model": 4096,\n  "d_ff": [\n}\n')
    line = one_line(run("report", "--no-artifacts", "--model-dir", d), 3)
    assert "text_encoder/config.json:" in line


def test_not_a_model_directory(tmp_path):
    line = one_line(run("report", "--no-artifacts", "--model-dir", tmp_path), 3)
    assert str(tmp_path) in line and "config.json" in line
    line = one_line(run("report", "--no-artifacts", "--model-dir", ""), 3)
    assert "--model-dir" in line
