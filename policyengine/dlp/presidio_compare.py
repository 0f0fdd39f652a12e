"""Measure Microsoft Presidio on the labelled data set, for the comparison in docs/dlp.md.

Run it as a script in a separate virtual environment that has ``presidio-analyzer`` (policyengine does
not depend on it), on the JSON that ``python -m policyengine.dlp.evaluate --dump FILE`` writes::

    python3 -m venv /tmp/presidio && /tmp/presidio/bin/pip install presidio-analyzer
    .venv/bin/python -m policyengine.dlp.evaluate --dump /tmp/labelled.json
    /tmp/presidio/bin/python policyengine/dlp/presidio_compare.py /tmp/labelled.json

Presidio's default set-up loads spaCy's ``en_core_web_lg`` and downloads it when missing; that
download is not from PyPI and fails where only package registries are reachable (docs/dlp.md has the
error). This script therefore gives Presidio a blank spaCy English pipeline: every pattern recognizer
(e-mail, phone via ``phonenumbers``, credit card, IBAN, US SSN, UK NINO, IP) works as in production,
and the model-based ones (PERSON, LOCATION, DATE_TIME) find nothing. It imports nothing from
policyengine, so it runs in that separate environment.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

ENTITIES = {
    "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "card", "IBAN_CODE": "iban",
    "US_SSN": "us_ssn", "UK_NINO": "uk_nino", "IP_ADDRESS": "ip_address",
}
KINDS = ["email", "iban", "card", "us_ssn", "uk_nino", "ip_address", "phone"]


def analyzer() -> Any:
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacy(SpacyNlpEngine):
        """spaCy's tokenizer only: no model to download."""

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    engine = BlankSpacy(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.load()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=engine)
    present = {e for r in registry.recognizers for e in r.supported_entities}
    if "UK_NINO" not in present:
        from presidio_analyzer.predefined_recognizers import UkNinoRecognizer

        registry.add_recognizer(UkNinoRecognizer())
    return AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])


def main(path: str, threshold: float = 0.0) -> None:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    engine = analyzer()
    scores = {k: [0, 0, 0] for k in KINDS}  # tp, fp, fn
    wrong: dict[str, dict[str, int]] = {k: {} for k in KINDS}
    values = 0
    started = time.perf_counter()
    for column in data["columns"]:
        if column["type"] != "VARCHAR":  # the same text values policyengine's detectors are measured on
            continue
        where = f"{column['table']}.{column['name']}"
        for text, truth in zip(column["values"], column["value_kinds"]):
            values += 1
            found = {ENTITIES[r.entity_type] for r in engine.analyze(text=text, language="en",
                                                                    entities=list(ENTITIES),
                                                                    score_threshold=threshold)
                     if r.entity_type in ENTITIES}
            for kind in KINDS:
                cell = scores[kind]
                if kind in found and kind in truth:
                    cell[0] += 1
                elif kind in found:
                    cell[1] += 1
                    wrong[kind][where] = wrong[kind].get(where, 0) + 1
                elif kind in truth:
                    cell[2] += 1
                    wrong[kind]["missed " + where] = wrong[kind].get("missed " + where, 0) + 1
    elapsed = time.perf_counter() - started
    print(f"Presidio {version()} (blank spaCy pipeline), score threshold {threshold}: {values} values in "
          f"{elapsed:.1f} s ({elapsed / values * 1e6:.0f} us per value)\n")
    print("| detector | TP | FP | FN | precision | recall | false positives / misses in |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for kind in KINDS:
        tp, fp, fn = scores[kind]
        top = sorted(wrong[kind].items(), key=lambda kv: -kv[1])[:5]
        print(f"| {kind} | {tp} | {fp} | {fn} | {pct(tp, tp + fp)} | {pct(tp, tp + fn)} | "
              f"{', '.join(f'{k} ({v})' for k, v in top)} |")


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "n/a"


def version() -> str:
    from importlib.metadata import version as installed

    return installed("presidio-analyzer")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
