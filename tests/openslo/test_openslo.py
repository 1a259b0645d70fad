"""OpenSLO in and out: one invalid document per rule with its exact message, golden
files for import and export, the round trip, the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from openslo.documents import OpenSLOError
from openslo.exporter import export_openslo, export_sloth, openslo_documents
from openslo.importer import _clean, import_files, import_texts, plan, validate_texts
from slaguard.cli import main
from slaguard.cli.openslo import render_slos
from slaguard.config import load_config
from slaguard.config.schema import Config
from tests.conftest import EXAMPLE_CONFIG, check_golden

HERE = Path(__file__).parent
CONFIG = HERE / "config.yaml"
SHAPES = HERE / "shapes.yaml"
GOLDEN = HERE / "golden"
INVALID = sorted((HERE / "invalid").glob("*.yaml"))


def expected_errors(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# error: "), f"{path.name}: first line must be '# error: ...'"
    return [x.removeprefix("# error: ") for x in lines if x.startswith("# error: ")]


def schema_only(path: Path) -> Config:
    """The configuration as the schema reads it.  The shapes file holds entries with
    only an ``objective``, which the semantic checks refuse until slaguard/config/
    validate.py counts ``objective`` among an SLO's kinds (the lead applies it); the
    round trip is about the model, which the schema alone gives."""
    return Config.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def as_config(cfg: Config) -> dict[str, Any]:
    """What an export must give back: every service and SLO, in the file's terms."""
    return {"services": {k: v.model_dump(mode="json") for k, v in cfg.services.items()},
            "slos": {s.name: _clean(s.model_dump(mode="json")) for s in cfg.slos}}


def round_trip(cfg: Config) -> dict[str, Any]:
    imported = import_texts([("export.yaml", export_openslo(cfg))], cfg)
    services = {k: v.model_dump(mode="json") for k, v in cfg.services.items()}
    for name, svc in imported.services.items():  # what the export carried back
        services[name] = Config.model_validate(
            {"version": 1, "services": {name: svc}}).services[name].model_dump(mode="json")
    assert set(imported.services) == set(cfg.services)
    return {"services": services, "slos": {s["name"]: s for s in imported.slos}}


# -- rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_document_gives_its_exact_message(path: Path) -> None:
    cfg, _ = load_config(CONFIG)
    with pytest.raises(OpenSLOError) as exc:
        import_files([str(path)], cfg)
    assert [e.removeprefix(f"{path}: ") for e in exc.value.errors] == expected_errors(path)


def test_every_error_of_a_set_is_reported_at_once() -> None:
    cfg, _ = load_config(CONFIG)
    bad = [p for p in INVALID if p.stem in ("target-one", "source-location", "service-unknown")]
    texts = [(p.name, p.read_text(encoding="utf-8")) for p in bad]
    with pytest.raises(OpenSLOError) as exc:
        import_texts(texts, cfg)
    assert len(exc.value.errors) == 3
    assert sorted(e.split(": ")[0] for e in exc.value.errors) == [p.name for p in bad]


def test_validate_applies_the_spec_alone() -> None:
    """``validate`` knows no configuration: an SLO over Prometheus is valid OpenSLO."""
    text = (HERE / "invalid" / "source-type-prometheus.yaml").read_text(encoding="utf-8")
    assert validate_texts([("x.yaml", text)]) == 1
    text = (HERE / "invalid" / "time-window-two.yaml").read_text(encoding="utf-8")
    with pytest.raises(OpenSLOError) as exc:
        validate_texts([("x.yaml", text)])
    assert exc.value.errors == ["x.yaml: document 1 (SLO web-availability): spec.timeWindow: "
                                "must hold exactly one item, got 2"]


# -- import -----------------------------------------------------------------------------


def test_import_by_reference_golden(update_golden: bool) -> None:
    cfg, _ = load_config(CONFIG)
    imported = import_files([str(HERE / "sets" / "refs.yaml")], cfg)
    text = render_slos(imported.slos, ["sets/refs.yaml"], "config.yaml")
    check_golden(GOLDEN / "import-refs.yaml", text, update_golden)
    summary = "\n".join(line.removeprefix(f"{HERE}/") for line in imported.summary) + "\n"
    check_golden(GOLDEN / "import-refs.summary.txt", summary, update_golden)
    # What is written reads back as the same entries.
    assert yaml.safe_load(text)["slos"] == [
        {**e, **({"objective": {**e["objective"], "burn_alerts": [
            {**a, "threshold": float(a["threshold"])} for a in e["objective"]["burn_alerts"]]}}
            if e["objective"].get("burn_alerts") else {})} for e in imported.slos]


def test_import_maps_each_shape_exactly() -> None:
    cfg, _ = load_config(CONFIG)
    imported = import_files([str(HERE / "sets" / "refs.yaml")], cfg)
    by_name = {e["name"]: e for e in imported.slos}
    assert by_name["web-latency-28d"] == {
        "name": "web-latency-28d", "targets": ["web"],
        "objective": {"sli": "latency", "threshold": "< 3s", "target": "99%", "window": "28d",
                      "budgeting": "timeslices", "timeslice_window": "5m",
                      "timeslice_target": "95%", "burn_alerts": [
                          {"name": "fast-burn", "severity": "page", "threshold": "14.4",
                           "op": "gt", "lookback": "1h", "alert_after": "5m"},
                          {"name": "slow-burn", "severity": "ticket", "threshold": "6",
                           "op": "gte", "lookback": "6h"}]}}
    # bad/total reads the same results; no target or service: the SLO's service
    assert by_name["portal-month-2"]["services"] == ["portal"]
    assert by_name["portal-month-2"]["objective"]["window"] == "1M"
    # thresholdMetric: op lte and value 500 (ms) are the inclusive threshold
    assert by_name["search-latency"]["objective"]["threshold"] == "<= 500ms"
    assert imported.services == {}


# -- export and the round trip ----------------------------------------------------------


@pytest.mark.parametrize("name", ["example", "shapes"])
def test_export_golden(name: str, update_golden: bool) -> None:
    cfg = load_config(EXAMPLE_CONFIG, env={})[0] if name == "example" else schema_only(SHAPES)
    check_golden(GOLDEN / f"export-{name}.openslo.yaml", export_openslo(cfg), update_golden)
    check_golden(GOLDEN / f"export-{name}.sloth.yaml", export_sloth(cfg)[0], update_golden)


def test_export_is_valid_openslo() -> None:
    docs = openslo_documents(schema_only(SHAPES))
    assert validate_texts([("x.yaml", yaml.safe_dump_all(docs))]) == len(docs)
    for d in docs:
        assert len(d["metadata"]["name"]) <= 63


@pytest.mark.parametrize("name", ["example", "shapes"])
def test_import_of_export_is_the_identity(name: str) -> None:
    cfg = load_config(EXAMPLE_CONFIG, env={})[0] if name == "example" else schema_only(SHAPES)
    assert round_trip(cfg) == as_config(cfg)


def test_import_of_export_changes_nothing_in_the_same_configuration() -> None:
    cfg = schema_only(SHAPES)
    p = plan(import_texts([("e.yaml", export_openslo(cfg))], cfg), cfg, "shapes.yaml")
    assert p.write == [] and p.errors == []
    assert len(p.unchanged) == len(cfg.services) + len(cfg.slos)


def test_a_changed_service_objective_or_slo_is_refused() -> None:
    cfg = schema_only(SHAPES)
    text = export_openslo(cfg).replace("target: 0.999\n    timeSliceTarget",
                                       "target: 0.995\n    timeSliceTarget", 1)
    other = Config.model_validate({**yaml.safe_load(SHAPES.read_text(encoding="utf-8")),
                                   "slos": []})
    p = plan(import_texts([("e.yaml", text)], cfg), cfg, "shapes.yaml")
    assert p.errors == ["services.portal: differs from shapes.yaml (availability '99.9' there, "
                        "'99.5' here); a service's monthly objective (what compensation uses) "
                        "is changed there"]
    renamed = export_openslo(cfg).replace("threshold: < 3s", "threshold: < 4s")
    p = plan(import_texts([("e.yaml", renamed)], cfg), cfg, "shapes.yaml")
    assert p.errors == []  # mean < 3s rides in an annotation: unchanged there
    docs = openslo_documents(cfg)
    for d in docs:
        if d["metadata"].get("annotations", {}).get("slaguard.io/source") == \
                "slos.search-latency-7d.objective":
            d["spec"]["objectives"][0]["target"] = 0.96
    objective = yaml.safe_dump_all(docs)
    p = plan(import_texts([("e.yaml", objective)], cfg), cfg, "shapes.yaml")
    assert p.errors == ["slos[search-latency-7d]: shapes.yaml has an SLO of this name with "
                        "other settings; rename one"]
    assert len(plan(import_texts([("e.yaml", objective)], other), other, "x").write) == 8


def test_sloth_leaves_out_what_is_not_probe_success() -> None:
    _, left = export_sloth(schema_only(SHAPES))
    assert left == [
        "slos[page-load]: latency, RPO and RTO bounds are no probe_success events",
        "slos[upload-30s]: latency, RPO and RTO bounds are no probe_success events",
        "slos[rpo]: latency, RPO and RTO bounds are no probe_success events",
        "slos[rto]: latency, RPO and RTO bounds are no probe_success events",
        "slos[search-latency-7d].objective: latency, timeslices: Sloth counts probe_success "
        "events only",
        "slos[web-month].objective: availability, ratio_timeslices: Sloth counts probe_success "
        "events only",
        "slos[Odd_SLO:x].objective: latency, occurrences: Sloth counts probe_success events "
        "only"]


# -- the command line -------------------------------------------------------------------


def _config(tmp_path: Path) -> Path:
    p = tmp_path / "slaguard.yaml"
    p.write_text(CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    return p


def test_cli_export_and_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    out = tmp_path / "slos.openslo.yaml"
    assert main(["openslo", "export", "-c", str(config), "-o", str(out)]) == 0
    assert main(["openslo", "validate", str(out)]) == 0
    assert capsys.readouterr().out.endswith("ok (4 documents)\n")
    assert main(["openslo", "export", "-c", str(config), "--format", "sloth"]) == 0
    assert "version: prometheus/v1" in capsys.readouterr().out
    bad = HERE / "invalid" / "time-window-two.yaml"
    assert main(["openslo", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {bad}: document 1 (SLO web-availability): spec.timeWindow: must hold " \
                  "exactly one item, got 2\n"
    assert main(["openslo", "validate", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read: No such file or directory" in capsys.readouterr().err


def test_cli_import_writes_the_included_file(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Exported latency bounds of another configuration are new here: written, included
    with --include, and a second import replaces the file with the same content."""
    shapes = tmp_path / "shapes.openslo.yaml"
    source = schema_only(SHAPES)
    docs = [d for d in openslo_documents(source) if d["metadata"].get("annotations", {}).get(
        "slaguard.io/source", "").startswith("slos.page-load.")]
    shapes.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    config = _config(tmp_path)
    assert main(["openslo", "import", str(shapes), "-c", str(config), "--include"]) == 0
    out = capsys.readouterr().out
    assert "slos.openslo.yaml: 1 SLO(s) written; 0 already in" in out
    assert f"{config}: appended include: [slos.openslo.yaml]" in out
    written = (tmp_path / "slos.openslo.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(written)["slos"] == [
        {"name": "page-load", "targets": ["web"], "latency": {"p95": "< 5s", "p99.9": "<= 8s"}}]
    cfg, _ = load_config(config)
    assert [s.name for s in cfg.slos] == ["page-load"]
    assert main(["openslo", "import", str(shapes), "-c", str(config), "--include"]) == 0
    assert "1 SLO(s) written; 0 already in" in capsys.readouterr().out
    assert (tmp_path / "slos.openslo.yaml").read_text(encoding="utf-8") == written
    assert config.read_text(encoding="utf-8").count("include:") == 1


def test_cli_import_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    bad = HERE / "invalid" / "calendar-other-time-zone.yaml"
    assert main(["openslo", "import", str(bad), "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: document 1 (SLO web-availability): spec.timeWindow[0]"
                          ".calendar.timeZone: must be the configuration's timezone")
    assert not (tmp_path / "slos.openslo.yaml").exists()
    assert main(["openslo", "import", str(tmp_path / "nope.yaml"), "-c", str(config)]) == 2
    assert main(["openslo", "import", str(bad), "-c", str(tmp_path / "none.yaml")]) == 2


def test_cli_import_of_windowed_objectives(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    assert main(["openslo", "import", str(HERE / "sets" / "refs.yaml"), "-c",
                 str(config)]) == 0
    assert "4 SLO(s) written" in capsys.readouterr().out
    cfg, _ = load_config(config, extra=[tmp_path / "slos.openslo.yaml"])
    assert [s.name for s in cfg.slos] == ["web-latency-28d", "portal-month-1",
                                          "portal-month-2", "search-latency"]


def test_any_broken_document_is_an_error_never_a_crash() -> None:
    """Whatever a document holds (values of every wrong type, keys misspelt, several
    at once), an import ends in the documents' errors, each naming its document."""
    import copy
    import random

    cfg, _ = load_config(CONFIG)
    base = list(yaml.safe_load_all((HERE / "sets" / "refs.yaml").read_text(encoding="utf-8")))
    base += openslo_documents(schema_only(SHAPES))[3:5]
    junk: list[object] = [None, 0, -1, 1.5, "x", "", "1M", "5w", [], {}, [1], {"a": 1}, True,
                          "openslo/v1", "slaguard", "< 3s", {"spec": {}}]

    def paths(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        items = (node.items() if isinstance(node, dict)
                 else enumerate(node) if isinstance(node, list) else [])
        return [path] + [p for k, v in items for p in paths(v, (*path, k))]

    every = paths(base)[1:]
    rnd = random.Random(19)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: 10 times faster
    for _ in range(300):
        docs = copy.deepcopy(base)
        for _ in range(rnd.randint(1, 3)):
            *head, last = rnd.choice(every)
            node: Any = docs
            try:
                for part in head:
                    node = node[part]
                node[last]
            except (KeyError, IndexError, TypeError):
                continue
            if isinstance(node, dict) and rnd.random() < 0.2:
                node[f"{last}x"] = node.pop(last)
            else:
                node[last] = rnd.choice(junk)
        try:
            import_texts([("f.yaml", yaml.dump_all(docs, Dumper=dumper))], cfg)
        except OpenSLOError as e:
            assert e.errors and all(m.startswith("f.yaml: document ") for m in e.errors), e.errors


def test_an_availability_slo_without_its_service_document_says_nothing_of_the_title() -> None:
    cfg = schema_only(SHAPES)
    # (the odd service's name comes back through its Service document only)
    docs = [d for d in openslo_documents(cfg) if d["kind"] != "Service"
            and d.get("spec", {}).get("service") != "odd-service-x"]
    imported = import_texts([("e.yaml", yaml.safe_dump_all(docs))], cfg)
    assert imported.services["portal"] == {"availability": "99.9%"}
    p = plan(imported, cfg, "shapes.yaml")
    assert "services.portal" in p.unchanged
    # page-load's mean bound rode in the portal Service's annotation: without it the
    # entry differs, and says so
    assert p.errors == ["slos[page-load]: shapes.yaml has an SLO of this name with other "
                        "settings; rename one"]


def test_cli_include_refuses_to_edit_an_include_list(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    source = schema_only(SHAPES)
    docs = [d for d in openslo_documents(source) if d["metadata"].get("annotations", {}).get(
        "slaguard.io/source", "").startswith("slos.page-load.")]
    shapes = tmp_path / "in.yaml"
    shapes.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    config = _config(tmp_path)
    (tmp_path / "other.yaml").write_text("slos: []\n", encoding="utf-8")
    config.write_text(config.read_text(encoding="utf-8") + "include: [other.yaml]\n",
                      encoding="utf-8")
    assert main(["openslo", "import", str(shapes), "-c", str(config), "--include"]) == 2
    assert capsys.readouterr().err == (f"error: {config} has an include: list without "
                                       "slos.openslo.yaml; add it there by hand\n")
    assert main(["openslo", "import", str(shapes), "-c", str(config)]) == 0
    assert capsys.readouterr().out.endswith(
        f"add `include: [slos.openslo.yaml]` to {config} (or re-run with --include)\n")
