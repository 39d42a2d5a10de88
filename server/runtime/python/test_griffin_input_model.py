"""The input model of a scoring run, as griffin_run reads and fetches it (stdlib only)."""

import os

import pytest

import griffin_run as g


def test_no_input_model_is_none():
    assert g.input_model({}) is None


def test_input_model_from_the_environment():
    model = g.input_model({
        "GRIFFIN_INPUT_MODEL": "grocery-reorder-xgboost@3",
        "GRIFFIN_INPUT_MODEL_URI": "http://griffin/api/v1/runs/abc/artifacts/",
        "GRIFFIN_INPUT_MODEL_ALIAS": "production",
    })
    assert model == g.InputModel(name="grocery-reorder-xgboost", version=3, alias="production", artifact_uri="http://griffin/api/v1/runs/abc/artifacts/")


@pytest.mark.parametrize("ref", ["no-version", "model@x", "@3"])
def test_a_malformed_reference_is_an_error(ref):
    with pytest.raises(g.GriffinError, match="name@version"):
        g.input_model({"GRIFFIN_INPUT_MODEL": ref, "GRIFFIN_INPUT_MODEL_URI": "file:///x"})


def test_a_file_uri_is_copied_with_its_subdirectories(tmp_path):
    source = tmp_path / "artifacts"
    (source / "checkpoint").mkdir(parents=True)
    (source / "checkpoint" / "model.ubj").write_bytes(b"\x00booster")
    (source / "model_meta.json").write_text("{}")
    env = {"GRIFFIN_INPUT_MODEL": "m@1", "GRIFFIN_INPUT_MODEL_URI": source.as_uri()}
    dest = tmp_path / "input_model"
    assert g.download_input_model(str(dest), env) == ["checkpoint/model.ubj", "model_meta.json"]
    assert (dest / "checkpoint" / "model.ubj").read_bytes() == b"\x00booster"


def test_an_unsupported_uri_is_a_clear_error(tmp_path):
    env = {"GRIFFIN_INPUT_MODEL": "m@1", "GRIFFIN_INPUT_MODEL_URI": "s3://bucket/model/"}
    with pytest.raises(g.GriffinError, match="only Griffin run artifacts and file:// URIs"):
        g.download_input_model(str(tmp_path / "x"), env)
    assert not os.listdir(str(tmp_path / "x"))
