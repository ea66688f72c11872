"""The one loader below the command line and the explorer: settings from dagtui.yaml and the
options, events in order, cancellation between and inside phases, no process-wide side effects."""

from __future__ import annotations

import gc
import sys
import threading

import pytest
from helpers import DATA, SAMPLES

from dagtui.cli import main
from dagtui.errors import ConfigError
from dagtui.loader import Finished, Modelled, Progress, Validated, load_reviews, reviews_of
from dagtui.review import review_file
from dagtui.settings import Settings, load_settings
from dagtui.validate import RULES

CURRENT, NEW = str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot")


def _summary(reviews) -> list[list[tuple[str, str, tuple[str, ...]]]]:
    return [[(f.rule, f.message, tuple(f.nodes)) for f in review.findings] for review in reviews]


def test_events_model_every_file_before_validating_any():
    events = list(load_reviews([CURRENT, NEW], Settings()))
    shown = [(type(event).__name__, getattr(event, "index", None), getattr(event, "phase", "")) for event in events]
    assert shown == [
        ("Progress", 0, "reading"), ("Progress", 0, "modelling"), ("Modelled", 0, ""),
        ("Progress", 1, "reading"), ("Progress", 1, "modelling"), ("Modelled", 1, ""),
        ("Progress", 0, "validating"), ("Validated", 0, ""), ("Progress", 1, "validating"), ("Validated", 1, ""),
        ("Finished", None, ""),
    ]
    modelled = [event.review for event in events if isinstance(event, Modelled)]
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.reviews == modelled  # the same objects, now validated
    assert events[1].detail == "26 nodes"
    assert _summary(finished.reviews) == _summary([review_file(CURRENT), review_file(NEW)])


def test_unreadable_and_broken_files_are_reviews_with_their_error(tmp_path):
    broken = tmp_path / "broken.dot"
    broken.write_text("digraph G {\n  a -> \n}\n")
    missing = tmp_path / "missing.dot"
    reviews = reviews_of([broken, missing, CURRENT], Settings())
    assert reviews[0].deployment is None and [f.rule for f in reviews[0].findings] == ["SYN001"]
    assert reviews[0].syntax_error and "syntax error" in reviews[0].syntax_error
    assert reviews[1].deployment is None and "missing.dot" in (reviews[1].error or "")
    assert reviews[2].deployment is not None and reviews[2].findings


def test_cancelled_between_phases_ends_without_another_event():
    stop = threading.Event()
    seen = []
    for event in load_reviews([CURRENT, NEW], Settings(), cancelled=stop.is_set):
        seen.append(event)
        if isinstance(event, Modelled):
            stop.set()
    assert [type(event) for event in seen] == [Progress, Progress, Modelled]


def test_cancelled_inside_modelling_stops_before_the_model_is_built():
    stop = threading.Event()
    seen = []
    for event in load_reviews([CURRENT], Settings(), cancelled=stop.is_set):
        seen.append(event)
        if isinstance(event, Progress) and event.phase == "modelling":
            stop.set()  # the loader asks nothing more before modelling: the model's own checkpoint stops it
    assert [getattr(event, "phase", None) for event in seen] == ["reading", "modelling"]


def test_validation_asks_before_every_rule():
    asked = {"validating": 0}
    phase = ["reading"]

    def cancelled() -> bool:
        asked[phase[0]] = asked.get(phase[0], 0) + 1
        return False

    for event in load_reviews([CURRENT], Settings(), cancelled=cancelled):
        if isinstance(event, Progress):
            phase[0] = event.phase
    assert asked["validating"] >= len(RULES)
    assert asked["modelling"] >= 3 and asked["reading"] >= 3


def test_loading_in_a_thread_leaves_the_process_as_it_was():
    gc_state = (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count())
    switch = sys.getswitchinterval()
    threads_before = threading.active_count()
    found = []
    worker = threading.Thread(target=lambda: found.extend(reviews_of([CURRENT, NEW], Settings())))
    worker.start()
    worker.join()
    assert len(found) == 2 and all(review.findings for review in found)
    assert (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()) == gc_state
    assert sys.getswitchinterval() == switch
    assert threading.active_count() == threads_before


def test_settings_come_from_dagtui_yaml_with_the_options_over_them(tmp_path):
    (tmp_path / "dagtui.yaml").write_text(
        f"select: [STR, EXP]\nignore: STR004\nseverity: {{STR001: info}}\nmodel: {DATA / 'model.yaml'}\n"
        "strategy: EP2-TP2-PP2-DP1\nfail_on: warning\n")
    settings = load_settings(folder=tmp_path)
    assert settings.selection.select == ["STR", "EXP"] and settings.selection.ignore == ["STR004"]
    assert settings.spec is not None and settings.spec.layers == 2
    assert settings.strategy is not None and settings.strategy.tp == 2
    assert settings.fail_on == "warning" and settings.config_file == str(tmp_path / "dagtui.yaml")
    overridden = load_settings(strategy="TP4", select=["ATT"], fail_on="never", folder=tmp_path)
    assert overridden.strategy.tp == 4 and overridden.selection.select == ["ATT"] and overridden.fail_on == "never"
    assert overridden.selection.ignore == ["STR004"]  # what the options leave alone stays the file's


@pytest.mark.parametrize(("options", "message"), [
    ({"select": ["NOPE9"]}, "unknown rule or category: NOPE9"),
    ({"strategy": "EP-1"}, "cannot read a parallel strategy"),
    ({"fail_on": "sometimes"}, "fail-on must be one of"),
])
def test_bad_settings_are_clear_errors(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(folder=tmp_path, **options)


def test_info_reads_the_strategy_of_dagtui_yaml_like_check(tmp_path, monkeypatch, capsys):
    (tmp_path / "dagtui.yaml").write_text("strategy: EP8-TP4-PP2-DP1\n")
    monkeypatch.chdir(tmp_path)
    assert main(["info", CURRENT]) == 0
    assert "EP8-TP4-PP2-DP1" in capsys.readouterr().out


def test_check_and_the_loader_agree(tmp_path, capsys):
    import json

    assert main(["check", CURRENT, NEW, "--format", "json", "--select", "STR,EXP"]) == 1
    shown = json.loads(capsys.readouterr().out)["deployments"]
    settings = load_settings(select=["STR", "EXP"], folder=tmp_path)
    reviews = reviews_of([CURRENT, NEW], settings)
    assert [[issue["rule"] for issue in deployment["issues"]] for deployment in shown] == \
        [[finding.rule for finding in review.findings] for review in reviews]


def test_a_helper_process_gives_the_reviews_loading_alone_gives(tmp_path, monkeypatch):
    from dagtui import loader
    from dagtui.helper_process import HelperProcess

    settings = load_settings(select=["STR", "EXP", "ATT"], folder=tmp_path)
    alone = reviews_of([CURRENT, NEW], settings)
    helper = HelperProcess.start([CURRENT, NEW], settings=settings, min_bytes=0)
    assert helper is not None
    try:
        def no_reading_here(*args, **kwargs):
            raise AssertionError("the helper reads every file")

        monkeypatch.setattr(loader, "read_raw", no_reading_here)
        events = list(load_reviews([CURRENT, NEW], settings, helper=helper))
    finally:
        helper.close()
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert _summary(finished.reviews) == _summary(alone)  # the helper's findings follow the settings too
    assert sorted(event.index for event in events if isinstance(event, Validated)) == [0, 1]
