"""NeedsRefinement is an ImgStatsError (a caller of the library catches it), yet never a
client's fault: the service refines before it reads a summary, so one that escaped would be a
bug, answered 500, and the gallery's ``except ImgStatsError`` (error cards, placeholders) must
not turn it into an image's error."""

from __future__ import annotations

import numpy as np
import pytest

import imgstats
from imgstats.errors import ImgStatsError, NeedsRefinement
from imgstats.functions import parse_function
from imgstats.web.errors import STATUS_CODES, status_of
from imgstats.web.service import Answer


def test_it_has_no_http_status():
    exc = NeedsRefinement([(16, 0, 5)])
    assert isinstance(exc, ImgStatsError)
    assert status_of(exc) == 500
    assert not any(issubclass(NeedsRefinement, cls) for cls in STATUS_CODES)


def test_an_answer_read_before_its_refinement_is_a_bug_not_a_domain_error():
    arr = np.random.default_rng(2).normal(size=(200, 200)).astype("float32")
    summary = imgstats.summarize(arr)
    funcs = (parse_function("min"), parse_function("median"))
    with pytest.raises(RuntimeError, match="before its refinement") as caught:
        Answer.of(summary, "f32.tif", "v1", None, funcs, (None,), ())
    assert not isinstance(caught.value, ImgStatsError)
    assert isinstance(caught.value.__cause__, NeedsRefinement)
    refined = imgstats.refine(summary, arr, ["min", "median"])
    answer = Answer.of(refined, "f32.tif", "v1", None, funcs, (None,), ())
    assert answer.value("median") == np.median(arr)


@pytest.mark.parametrize("image", ["IMG_13_float32.tif"])
def test_a_float_percentile_is_refined_and_answered(client, images, image):
    r = client.get(f"/stats/{image}/p99.9")
    assert r.status_code == 200, r.json
    assert r.json["value"] == imgstats.compute(images / image, "p99.9")
