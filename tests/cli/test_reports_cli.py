"""CLI tests of `wanmeter hotspots` and `wanmeter compare`: report -> report.json -> read back.

The binary is $WANMETER (default build/wanmeter, relative to the repository root); run the
sanitized one with WANMETER=build/san/wanmeter. Expected values are recomputed here from the
report.json files with Python integers, never pasted from the program's output.
"""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANMETER", "build/wanmeter"))
if not BIN.is_absolute():
    BIN = ROOT / BIN

LINE_COL = re.compile(r"\b\d+:\d+\b")


def run(*args, check=None):
    p = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=120)
    if check is not None:
        assert p.returncode == check, f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


def one_line_error(p, code):
    """The process failed with `code` and printed exactly one line: `wanmeter: ...`."""
    assert p.returncode == code, f"rc={p.returncode}, stderr={p.stderr!r}"
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("wanmeter: ")
    assert p.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """report.json files: ci-tiny, ci-tiny with --frames 8, and the 1.3B model."""
    d = tmp_path_factory.mktemp("reports")
    out = {}
    for name, extra in {
        "tiny": [],
        "tiny8": ["--frames", "8"],
        "small": ["--model", "wan2.1-t2v-1.3b"],
    }.items():
        p = run("report", "--no-artifacts", "--format", "json", "--workload", "wan2-1-ci-tiny",
                *extra, check=0)
        path = d / f"{name}.json"
        path.write_text(p.stdout)
        out[name] = path
    return out


def load(path):
    return json.loads(Path(path).read_text())


def leaf_flops(doc):
    """Whole-generation FLOPs (calls x flops) of every leaf, in file order."""
    parents = {m["parent"] for m in doc["modules"] if m["parent"] is not None}
    return [(m["id"], m["category"], m["calls"] * m["flops"])
            for m in doc["modules"] if m["id"] not in parents]


# wm_id_pattern: a numeric path component right after a `blocks` (DiT) or `block` (umT5) one
BLOCK_INDEX = re.compile(r"(?<=\.blocks\.)\d+(?=[.#]|$)|(?<=\.block\.)\d+(?=[.#]|$)")


def expected_hotspots(doc, top):
    """Leaves grouped by layer (the block index as '*'), ranked by whole-generation FLOPs, ties
    by first appearance; categories summed over the leaves. Returns [(id, instances, flops)]."""
    leaves = [x for x in leaf_flops(doc) if x[2] > 0]
    groups, first = {}, {}
    for i, (mid, _, f) in enumerate(leaves):
        key = BLOCK_INDEX.sub("*", mid)
        n, total = groups.get(key, (0, 0))
        groups[key] = (n + 1, total + f)
        first.setdefault(key, i)
    mods = sorted(((k, n, f) for k, (n, f) in groups.items()),
                  key=lambda x: (-x[2], first[x[0]]))[:top]
    cats, first = {}, {}
    for i, (_, cat, f) in enumerate(leaves):
        cats[cat] = cats.get(cat, 0) + f
        first.setdefault(cat, i)
    ranked = sorted(cats.items(), key=lambda kv: (-kv[1], first[kv[0]]))[:5]
    return mods, ranked


# ---- hotspots -------------------------------------------------------------------------------


def test_hotspots_json_matches_modules(reports):
    doc = load(reports["tiny"])
    p = run("hotspots", reports["tiny"], "--format", "json", check=0)
    h = json.loads(p.stdout)
    mods, cats = expected_hotspots(doc, 10)
    assert [(m["id"], m["instances"], m["flops"]) for m in h["modules"]] == mods
    assert [(c["category"], c["flops"]) for c in h["categories"]] == cats
    # the 40 blocks of the 14B model are identical: a group is 40 copies of one call
    for m in h["modules"]:
        assert m["flops"] == m["instances"] * m["calls"] * m["flops_per_call"]
    assert h["modules"][0]["id"] == "transformer.blocks.*.ffn.net.0.proj"
    assert h["modules"][0]["instances"] == 40
    total = doc["totals"]["flops"]
    assert sum(m["share"] for m in h["modules"]) <= 1.0 + 1e-9
    assert sum(c["share"] for c in h["categories"]) <= 1.0 + 1e-9
    assert h["categories"][0]["share"] == pytest.approx(cats[0][1] / total, rel=1e-9)
    # every leaf's work is in some category: all categories add up to the generation total
    assert sum(f for _, _, f in leaf_flops(doc)) == total


def test_hotspots_recomputes_rather_than_echoing(reports, tmp_path):
    """Scrambling the stored hotspots does not change the output."""
    doc = load(reports["tiny"])
    doc["hotspots"] = {"modules": [], "categories": []}
    path = tmp_path / "scrambled.json"
    path.write_text(json.dumps(doc))
    a = json.loads(run("hotspots", path, "--format", "json", check=0).stdout)
    b = json.loads(run("hotspots", reports["tiny"], "--format", "json", check=0).stdout)
    assert a["modules"] == b["modules"] and a["categories"] == b["categories"]


def test_hotspots_table_and_md(reports):
    t = run("hotspots", reports["tiny"], check=0).stdout
    assert "Top 10 modules" in t and "Top 5 categories" in t
    assert "transformer.blocks.*.ffn.net.0.proj" in t
    md = run("hotspots", reports["tiny"], "--format", "md", "--top", "3", check=0).stdout
    assert "## Top 3 modules" in md
    rows = [ln for ln in md.splitlines() if re.match(r"^\| \d+ \|", ln)]
    assert len(rows) == 3


def test_hotspots_top_n(reports):
    doc = load(reports["tiny"])
    h = json.loads(run("hotspots", reports["tiny"], "--top", "25", "--format=json", check=0).stdout)
    mods, _ = expected_hotspots(doc, 25)
    assert [(m["id"], m["instances"], m["flops"]) for m in h["modules"]] == mods
    assert len(mods) == 25
    # the groups there are: 12 layers with counted work per DiT block and 7 top-level DiT leaves,
    # 8 per umT5 block (q, k, v, o, the attention core, wi_0, wi_1, wo), and the VAE's leaves
    groups, _ = expected_hotspots(doc, 10_000)
    dit = [g for g in groups if g[0].startswith("transformer.")]
    te = [g for g in groups if g[0].startswith("text_encoder.")]
    assert len(dit) == 19 and {n for _, n, _ in dit} == {1, 40}
    assert len(te) == 8 and {n for _, n, _ in te} == {24}
    assert any(g[0].startswith("vae.decoder.") for g in groups)
    h = json.loads(run("hotspots", reports["tiny"], "--top", "4", "--format=json", check=0).stdout)
    assert len(h["modules"]) == 4


@pytest.mark.parametrize("stages", ["transformer", "vae_decode", "text_encoder,vae_decode"])
def test_hotspots_of_selected_stages(stages, tmp_path):
    """With --stages, totals.flops counts the selected stages only; the hotspots rank that work:
    their categories add up to totals.flops, no share exceeds the whole, and every module is
    of a selected stage (roots: text_encoder, transformer, vae.post_quant_conv/vae.decoder)."""
    p = run("report", "--no-artifacts", "--format", "json", "--workload", "wan2-1-ci-tiny",
            "--stages", stages, check=0)
    path = tmp_path / "sel.json"
    path.write_text(p.stdout)
    doc = json.loads(p.stdout)
    total = doc["totals"]["flops"]
    assert total == sum(s["flops"] for s in doc["stages"] if s["selected"])
    prefixes = tuple({"text_encoder": "text_encoder.", "transformer": "transformer.",
                      "vae_decode": "vae."}[s] for s in stages.split(","))
    # the selected stages' modules (their roots themselves are containers, not leaves)
    selected = dict(doc, modules=[m for m in doc["modules"] if m["id"].startswith(prefixes)])
    assert sum(f for *_, f in leaf_flops(selected)) == total
    mods, cats = expected_hotspots(selected, 10)
    via_cmd = json.loads(run("hotspots", path, "--format", "json", check=0).stdout)
    for h in (doc["hotspots"], via_cmd):
        assert [(m["id"], m["instances"], m["flops"]) for m in h["modules"]] == mods
        assert [(c["category"], c["flops"]) for c in h["categories"]] == cats
        assert all(0 < m["share"] <= 1.0 + 1e-9 for m in h["modules"]), h["modules"][:3]
        assert h["modules"][0]["share"] == pytest.approx(mods[0][2] / total, rel=1e-9)


def test_hotspots_on_written_artifact(tmp_path):
    run("report", "--workload", "wan2-1-ci-tiny", "--out-dir", tmp_path, "--run-id", "r1", check=0)
    path = tmp_path / "r1" / "static_analysis" / "wan2_1" / "report.json"
    assert path.is_file() and (path.parent / "summary.md").is_file()
    h = json.loads(run("hotspots", path, "--format", "json", check=0).stdout)
    mods, _ = expected_hotspots(load(path), 10)
    assert [m["id"] for m in h["modules"]] == [i for i, _, _ in mods]
    # the report's own hotspots (summary.md, report.json) rank the same groups
    assert [m["id"] for m in load(path)["hotspots"]["modules"]] == [i for i, _, _ in mods]


# ---- compare --------------------------------------------------------------------------------


def test_compare_more_frames(reports):
    a, b = load(reports["tiny"]), load(reports["tiny8"])
    c = json.loads(run("compare", reports["tiny"], reports["tiny8"], "--format", "json",
                       check=0).stdout)
    tot = {t["key"]: t for t in c["totals"]}
    for key in ("flops", "flops_per_forward", "params", "weight_bytes", "peak_activation_bytes"):
        assert tot[key]["a"] == a["totals"][key]
        assert tot[key]["b"] == b["totals"][key]
        assert tot[key]["delta"] == b["totals"][key] - a["totals"][key]  # exact
    assert tot["flops"]["delta"] > 0
    assert tot["params"]["delta"] == 0
    # per-category deltas add up to the leaves' total change
    leaf_delta = sum(f for *_, f in leaf_flops(b)) - sum(f for *_, f in leaf_flops(a))
    assert sum(x["delta"] for x in c["categories"]) == leaf_delta == tot["flops"]["delta"]
    # the top module deltas are the largest |delta| among the common leaves
    la = {i: f for i, _, f in leaf_flops(a)}
    lb = {i: f for i, _, f in leaf_flops(b)}
    deltas = sorted((abs(lb[i] - la[i]) for i in la if i in lb and lb[i] != la[i]), reverse=True)
    assert [abs(m["delta"]) for m in c["modules"]["top"]] == deltas[:10]
    assert c["modules"]["changed"] == len(deltas)
    assert c["only_in_a"]["count"] == 0 and c["only_in_b"]["count"] == 0
    assert "attention core" in c["summary"] or "attention projections" in c["summary"]
    assert "num_frames 4 → 8" in " ".join(c["differences"])

    t = run("compare", reports["tiny"], reports["tiny8"], check=0).stdout
    assert re.search(r"FLOPs per generation .*\+", t)
    assert re.search(r"% of the \+[\d.]+ [KMGTPE]?FLOP change", t)
    assert "attention core" in t or "attention projections" in t


def test_compare_with_itself(reports):
    c = json.loads(run("compare", reports["tiny"], reports["tiny"], "--format", "json",
                       check=0).stdout)
    assert all(t["delta"] == 0 for t in c["totals"])
    assert all(x["delta"] == 0 for x in c["categories"])
    assert c["modules"]["changed"] == 0 and c["modules"]["top"] == []
    assert c["only_in_a"]["count"] == 0 and c["only_in_b"]["count"] == 0
    assert c["summary"].startswith("No FLOP change")
    t = run("compare", reports["tiny"], reports["tiny"], check=0).stdout
    assert "No FLOP change" in t
    assert not re.search(r"[+-]\d", t.split("Totals")[1].split("Categories")[0])


def test_compare_different_models(reports):
    c = json.loads(run("compare", reports["tiny"], reports["small"], "--format", "json",
                       "--top", "5", check=0).stdout)
    assert any("different models" in d for d in c["differences"])
    a, b = load(reports["tiny"]), load(reports["small"])
    ids_b = {m["id"] for m in b["modules"]}
    only_a = [m["id"] for m in a["modules"] if m["id"] not in ids_b]
    assert c["only_in_a"]["count"] == len(only_a) > 0  # 40 vs 30 blocks
    assert [m["id"] for m in c["only_in_a"]["modules"]] == only_a[:5]
    assert c["totals"][0]["delta"] < 0
    t = run("compare", reports["tiny"], reports["small"], check=0).stdout
    assert "different models: wan2.1-t2v-14b vs wan2.1-t2v-1.3b" in t
    md = run("compare", reports["tiny"], reports["small"], "--format", "md", check=0).stdout
    assert "## Totals" in md and "| quantity |" in md


def test_compare_different_modes(reports, tmp_path):
    p = run("report", "--no-artifacts", "--format", "json", "--workload", "wan2-1-ci-tiny",
            "--mode", "full", check=0)
    full = tmp_path / "full.json"
    full.write_text(p.stdout)
    t = run("compare", reports["tiny"], full, check=0).stdout
    assert "different counting modes: torch vs full" in t


# ---- bad input --------------------------------------------------------------------------------


def test_malformed_json(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{\n "schema_version": 1,\n "model": {"id": "x",,}\n}\n')
    for args in (["hotspots", bad], ["compare", bad, bad]):
        line = one_line_error(run(*args), 3)
        assert str(bad) in line
        assert "3:" in line and LINE_COL.search(line)


def test_missing_file(tmp_path, reports):
    missing = tmp_path / "nope.json"
    line = one_line_error(run("hotspots", missing), 4)
    assert str(missing) in line
    line = one_line_error(run("compare", reports["tiny"], missing), 4)
    assert str(missing) in line


def test_wrong_schema_version(tmp_path, reports):
    doc = load(reports["tiny"])
    doc["schema_version"] = 99
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    line = one_line_error(run("hotspots", path), 3)
    assert "schema_version" in line and "99" in line and str(path) in line


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["totals"].pop("flops"), "totals.flops"),
    (lambda d: d["modules"][3].__setitem__("flops", "12"), "modules[3].flops"),
    (lambda d: d["modules"][3].__setitem__("calls", -1), "modules[3].calls"),
    (lambda d: d.pop("modules"), "modules"),
    (lambda d: d["workload"].__setitem__("mode", "warp"), "workload.mode"),
])
def test_bad_fields(tmp_path, reports, mutate, field):
    doc = load(reports["tiny"])
    mutate(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    line = one_line_error(run("hotspots", path), 3)
    assert field in line and str(path) in line


def test_usage_errors(reports):
    one_line_error(run("hotspots", reports["tiny"], "--bogus"), 2)
    one_line_error(run("compare", reports["tiny"], reports["tiny"], "--bogus"), 2)
    one_line_error(run("hotspots"), 2)
    one_line_error(run("compare", reports["tiny"]), 2)
    one_line_error(run("compare", reports["tiny"], reports["tiny"], reports["tiny"]), 2)
    one_line_error(run("hotspots", reports["tiny"], "--format", "xml"), 2)
    one_line_error(run("hotspots", reports["tiny"], "--top"), 2)
    one_line_error(run("hotspots", reports["tiny"], "--top", "ten"), 3)


def test_help():
    for cmd in ("hotspots", "compare"):
        p = run(cmd, "--help", check=0)
        assert p.stdout.startswith(f"usage: wanmeter {cmd}")
        assert p.stderr == ""
