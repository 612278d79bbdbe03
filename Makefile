# vec2prompt: the two set-up commands are `make demo` and `make test`.
CARGO ?= cargo
BIN := target/release/vec2prompt
# candle sizes its thread pools from RAYON_NUM_THREADS (GUIDE §3).
export RAYON_NUM_THREADS ?= $(shell nproc)

ALPACA ?= ../shared/data/alpaca_data.json
DATASET ?= $(HOME)/.cache/vec2prompt/datasets/alpaca
PROMPT ?= Give three tips for staying healthy.
TARGET ?= Eat a balanced diet with plenty of fruit and vegetables, exercise regularly, and get enough sleep.

.PHONY: build models demo test lint bench leaderboard

build:
	$(CARGO) build --release --locked

# Downloads the default models into $VEC2PROMPT_HOME/models (default ~/.cache/vec2prompt);
# does nothing if they are present and verified.
models: build
	$(BIN) models fetch

# The main job end to end: answer a prompt with the local LLM and measure how close the
# answer lands to a target text.
demo: models
	$(BIN) eval-prompt --prompt "$(PROMPT)" --target-text "$(TARGET)"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets --locked -- -D warnings

# Every test: unit tests on tiny random models, integration tests on the real models,
# end-to-end tests of the binary.
test: models lint
	$(CARGO) test --release --workspace --locked

bench: models
	$(BIN) bench

# The committed leaderboard (GUIDE §2, first 100 test targets): ingest and embed Alpaca
# (resumable), then evaluate. Answers are cached in $(DATASET)/cache.
leaderboard: models
	$(BIN) ingest --input $(ALPACA) --dataset $(DATASET)
	$(BIN) eval --dataset $(DATASET) --limit 100 --seed 0 --out reports/leaderboard
