"""Computes the reference fixtures the Rust tests compare against, with independent
Python implementations. Run once by hand (not in CI):

    python -m venv /tmp/refenv && /tmp/refenv/bin/pip install sentence-transformers transformers gguf
    /tmp/refenv/bin/python scripts/make_reference_fixtures.py <models-dir>

<models-dir> is `$VEC2PROMPT_HOME/models` after `vec2prompt models fetch`.

* crates/embed/tests/fixtures/minilm_reference.json: sentence-transformers' own
  SentenceTransformer(<dir>).encode(...) vectors for all-MiniLM-L6-v2 (mean pooling,
  normalized, max_seq_length from the directory), including a text longer than the limit.
* crates/llm/tests/fixtures/smollm2_token_ids.json: token ids of SmolLM2-135M-Instruct for
  tricky strings, from transformers' GGUF loader (AutoTokenizer.from_pretrained(dir,
  gguf_file=...)), which converts the GGUF vocabulary independently of our Rust code.
"""

import json
import os
import sys

models = sys.argv[1]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Give three tips for staying healthy.",
    "What is the capital of France?",
    "1. Eat a balanced diet and make sure to include plenty of fruits and vegetables.",
    "Ünïcödé façade — naïve café, 東京タワー, and emoji 🚀🔥 mixed in.",
    "def add(a, b):\n    return a + b  # sum",
    "   leading and trailing whitespace   ",
    "a",
    "Photosynthesis is the process by which plants use sunlight, water and carbon dioxide to create oxygen and energy in the form of sugar.",
    " ".join(["This sentence is repeated to exceed the model's maximum sequence length."] * 30),
]

TOKEN_STRINGS = [
    "Hello world",
    " Hello  world ",
    "The year 2024 had 366 days; 3.14159 is pi.",
    "def f(x):\n\treturn x**2  # square\n",
    "    four leading spaces\n\n\nthree newlines",
    "Ünïcödé façade — naïve café",
    "東京タワーは高い。",
    "emoji 🚀🔥👍🏽 and symbols ©®™",
    "URL https://example.com/path?q=1&r=2#frag",
    "tabs\tand\r\nCRLF line endings",
    "don't can't won't I'm you're",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "MixedCASE camelCase snake_case SCREAMING_CASE",
]


def embedder_fixture():
    from sentence_transformers import SentenceTransformer
    import sentence_transformers

    path = os.path.join(models, "all-MiniLM-L6-v2")
    model = SentenceTransformer(path, device="cpu")
    vectors = model.encode(SENTENCES, batch_size=4, convert_to_numpy=True)
    out = {
        "how": "sentence-transformers %s: SentenceTransformer('<models>/all-MiniLM-L6-v2').encode(sentences, batch_size=4); scripts/make_reference_fixtures.py"
        % sentence_transformers.__version__,
        "max_seq_length": model.max_seq_length,
        "sentences": SENTENCES,
        "vectors": [[round(float(x), 7) for x in v] for v in vectors],
    }
    dest = os.path.join(root, "crates/embed/tests/fixtures/minilm_reference.json")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
    print("wrote", dest)


def tokenizer_fixture():
    import transformers
    from transformers import AutoTokenizer

    d = os.path.join(models, "SmolLM2-135M-Instruct")
    tok = AutoTokenizer.from_pretrained(d, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    cases = []
    for s in TOKEN_STRINGS:
        ids = tok.encode(s, add_special_tokens=False)
        cases.append({"text": s, "ids": ids})
    out = {
        "how": "transformers %s GGUF loader: AutoTokenizer.from_pretrained('<models>/SmolLM2-135M-Instruct', gguf_file='SmolLM2-135M-Instruct.Q4_1.gguf').encode(text, add_special_tokens=False); scripts/make_reference_fixtures.py"
        % transformers.__version__,
        "cases": cases,
    }
    dest = os.path.join(root, "crates/llm/tests/fixtures/smollm2_token_ids.json")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
    print("wrote", dest)


if __name__ == "__main__":
    embedder_fixture()
    tokenizer_fixture()
