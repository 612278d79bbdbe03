//! Content recovered from the target itself, in the embedder's own space: the few words
//! that, written together, embed nearest the target. A small LLM answers a prompt that
//! names what the answer should cover ("Write about diet, fruit, vegetables and sleep.")
//! far closer to a target than a prompt that only guesses the task, and finding those words
//! needs only embedder calls: no dataset, no LLM call, a few hundred short texts per target.
//!
//! The words come from a fixed list (the embedder's WordPiece vocabulary, whole lowercase
//! words without function words); each is embedded once and cached on disk. A target's
//! topics are grown greedily, a small beam of lists at a time: starting from the words
//! nearest the target, add the words whose addition brings the embedding of the written
//! list closest to the target (never a near-synonym of a listed word), and stop when no
//! word helps. The list is embedded as written, so word order and redundancy are judged by
//! the embedder, not by adding vectors.

use std::path::{Path, PathBuf};
use vec2prompt_core::{Embedder, Error, Result, cosine};
use vec2prompt_store::append::{f32_bytes, read_f32};

/// Words that carry no topic; never proposed.
const STOPWORDS: &[&str] = &[
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "although",
    "among",
    "and",
    "another",
    "any",
    "are",
    "around",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "can",
    "cannot",
    "could",
    "did",
    "does",
    "doing",
    // "don" of "don't" is also a dictionary word, but in a vocabulary it is the piece.
    "don",
    "down",
    "during",
    "each",
    "either",
    "else",
    "etc",
    "even",
    "ever",
    "every",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "however",
    "into",
    "its",
    "itself",
    "just",
    "least",
    "less",
    "let",
    "like",
    "many",
    "may",
    "might",
    "more",
    "most",
    "much",
    "must",
    "myself",
    "neither",
    "nor",
    "not",
    "now",
    "off",
    "once",
    "one",
    "only",
    "other",
    "others",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "per",
    "perhaps",
    "quite",
    "rather",
    "same",
    "several",
    "shall",
    "she",
    "should",
    "since",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "though",
    "through",
    "thus",
    "too",
    "under",
    "until",
    "upon",
    "very",
    "was",
    "were",
    "what",
    "whatever",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// How a target's topics are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicOptions {
    /// Words nearest the target that the greedy choice may draw from.
    pub pool: usize,
    /// Most words in one target's topics.
    pub max_words: usize,
    /// Smallest rise in cosine for which a word is still added.
    pub min_gain: f32,
    /// Lists kept per target (the beam's width; 1 is the plain greedy choice).
    pub lists: usize,
    /// A word whose own embedding has at least this cosine with a listed word's (a plural,
    /// a synonym) is not added to that list.
    pub max_overlap: f32,
    /// Extensions of each list embedded per step: the most promising by an estimate of
    /// the longer list's embedding (the list's and the word's, weighted by their word
    /// counts), so a step embeds `lists × checked` texts instead of every word of the
    /// pool. 0 embeds every extension. The chosen lists' similarities are always the
    /// embedded texts' own.
    pub checked: usize,
}

impl Default for TopicOptions {
    fn default() -> Self {
        Self {
            pool: 24,
            max_words: 6,
            min_gain: 0.005,
            lists: 2,
            max_overlap: 0.7,
            checked: 6,
        }
    }
}

/// What a target is about: words in the order they were chosen, and how near their
/// written list embeds to the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Topics {
    /// The chosen words, most telling first.
    pub words: Vec<String>,
    /// Cosine between the target and the embedding of [`join_words`] of the words.
    pub similarity: f32,
}

/// The word list and each word's embedding.
pub struct Lexicon {
    words: Vec<String>,
    /// Each word's position in `words`.
    index: std::collections::HashMap<String, usize>,
    /// Row-major `words.len() × dim`, as the embedder returned them.
    vectors: Vec<f32>,
    dim: usize,
}

/// Writes words as a list a person would: "a", "a and b", "a, b and c".
pub fn join_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The prompts that ask for an answer covering `topics`: each names the topics in another
/// form of request, so the ranking and the real answers can pick the form the target has.
pub fn content_prompts(topics: &Topics) -> Vec<String> {
    if topics.words.is_empty() {
        return Vec::new();
    }
    let list = join_words(&topics.words);
    // The forms that scored best on validation targets, answered by the default LLM:
    // a paragraph, a sentence, a description, an explanation, advice. A poem, a question
    // ("What is …?") and a fixed count of tips scored clearly lower and are left out.
    vec![
        format!("Write about {list}."),
        format!("Write one sentence about {list}."),
        format!("Describe {list}."),
        format!("Explain {list}."),
        format!("Give tips on {list}."),
    ]
}

/// Whole, lowercase, alphabetic dictionary words of at least three letters from a
/// `tokenizer.json` (a WordPiece or BPE vocabulary), function words and the pieces of
/// contractions left out, in vocabulary-id order.
pub fn vocabulary_words(tokenizer_json: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(tokenizer_json).map_err(|e| Error::io(tokenizer_json, e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::invalid(
            "lexicon",
            format!("{} is not JSON: {e}", tokenizer_json.display()),
        )
    })?;
    let vocab = json
        .pointer("/model/vocab")
        .and_then(|v| v.as_object())
        .ok_or_else(|| {
            Error::invalid(
                "lexicon",
                format!(
                    "{} has no model.vocab map (a WordPiece or BPE tokenizer)",
                    tokenizer_json.display()
                ),
            )
        })?;
    let mut words: Vec<(u64, String)> = vocab
        .iter()
        .filter(|(w, _)| {
            w.len() >= 3
                && w.len() <= 20
                && w.bytes().all(|b| b.is_ascii_lowercase())
                && !STOPWORDS.contains(&w.as_str())
                // Whole dictionary words only: a vocabulary also holds pieces of words
                // ("hadn" of "hadn't"), which make no sense in a request.
                && vec2prompt_core::dictionary::is_word(w)
        })
        .filter_map(|(w, id)| Some((id.as_u64()?, w.clone())))
        .collect();
    words.sort();
    Ok(words.into_iter().map(|(_, w)| w).collect())
}

impl Lexicon {
    /// A lexicon of `words` with their embeddings (`words.len() × dim`, row-major).
    pub fn from_parts(words: Vec<String>, vectors: Vec<f32>, dim: usize) -> Result<Self> {
        if dim == 0 || vectors.len() != words.len() * dim {
            return Err(Error::invalid(
                "lexicon",
                format!(
                    "{} words need {} values of dimension {dim}, got {}",
                    words.len(),
                    words.len() * dim,
                    vectors.len()
                ),
            ));
        }
        if words.is_empty() {
            return Err(Error::invalid("lexicon", "has no words"));
        }
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i))
            .collect();
        Ok(Self {
            words,
            index,
            vectors,
            dim,
        })
    }

    /// Embeds `words` with `embedder`, or reads their embeddings from `cache_dir` when an
    /// earlier run of the same words and embedder stored them. `progress(done, total)` is
    /// told after every batch of a build.
    pub fn load_or_build(
        words: Vec<String>,
        embedder: &dyn Embedder,
        cache_dir: &Path,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Self> {
        let dim = embedder.info().dimension;
        let path = cache_path(cache_dir, &words, embedder);
        if path.exists() {
            let vectors = read_f32(&path, words.len() * dim)?;
            return Self::from_parts(words, vectors, dim);
        }
        let mut vectors = Vec::with_capacity(words.len() * dim);
        for chunk in words.chunks(256) {
            for v in embedder.embed(chunk)? {
                vectors.extend(v);
            }
            progress(vectors.len() / dim, words.len());
        }
        std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
        let bytes = f32_bytes(vectors.chunks(dim));
        vec2prompt_core::fs::write_atomic(&path, &bytes)?;
        Self::from_parts(words, vectors, dim)
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether there are no words (never, once built).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Dimension of the word vectors.
    pub fn dimension(&self) -> usize {
        self.dim
    }

    /// The `m` words whose own embeddings are nearest `query`, nearest first.
    pub fn nearest(&self, query: &[f32], m: usize) -> Vec<&str> {
        self.nearest_ids(query, m)
            .into_iter()
            .map(|i| self.words[i].as_str())
            .collect()
    }

    /// The position of `word` in the list.
    fn index_of(&self, word: &str) -> Option<usize> {
        self.index.get(word).copied()
    }

    /// The embedding of word `i`.
    fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }

    /// Positions of the `m` words nearest `query`, nearest first.
    fn nearest_ids(&self, query: &[f32], m: usize) -> Vec<usize> {
        let mut scored: Vec<(f32, usize)> = self
            .vectors
            .chunks(self.dim)
            .enumerate()
            .map(|(i, v)| (cosine(query, v), i))
            .collect();
        let m = m.min(scored.len());
        if m == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(m - 1, |a, b| b.0.total_cmp(&a.0));
        scored.truncate(m);
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().map(|(_, i)| i).collect()
    }

    /// Each query's topics, chosen greedily by embedding the written lists with
    /// `embedder` (every step of every query in one batch): the best list alone.
    pub fn topics_batch(
        &self,
        queries: &[Vec<f32>],
        embedder: &dyn Embedder,
        options: &TopicOptions,
    ) -> Result<Vec<Topics>> {
        let one = TopicOptions {
            lists: 1,
            ..*options
        };
        Ok(self
            .topic_lists_batch(queries, embedder, &one)?
            .into_iter()
            .map(|mut lists| {
                lists.truncate(1);
                lists.pop().unwrap_or(Topics {
                    words: Vec::new(),
                    similarity: 0.0,
                })
            })
            .collect())
    }

    /// Each query's [`TopicOptions::lists`] best lists, best first: a beam search over
    /// lists (each step extends every kept list by each unused word of the query's pool and
    /// keeps the best distinct extensions), stopping a list when no word raises its cosine
    /// by [`TopicOptions::min_gain`]. Several lists give the real answers different
    /// readings of the target to choose from.
    pub fn topic_lists_batch(
        &self,
        queries: &[Vec<f32>],
        embedder: &dyn Embedder,
        options: &TopicOptions,
    ) -> Result<Vec<Vec<Topics>>> {
        for q in queries {
            if q.len() != self.dim {
                return Err(Error::invalid(
                    "target",
                    format!(
                        "has {} dimensions but the lexicon's words have {}",
                        q.len(),
                        self.dim
                    ),
                ));
            }
        }
        let width = options.lists.max(1);
        let pools: Vec<Vec<usize>> = queries
            .iter()
            .map(|q| self.nearest_ids(q, options.pool))
            .collect();
        // A word too near one already listed (a plural, a synonym) adds no new topic.
        let distinct = |list: &Topics, w: usize| {
            list.words.iter().all(|u| {
                self.index_of(u)
                    .is_none_or(|u| cosine(self.vector(u), self.vector(w)) < options.max_overlap)
            })
        };
        let empty = Topics {
            words: Vec::new(),
            similarity: f32::NEG_INFINITY,
        };
        // Per query: the lists still growing (with the embedding of each), and those
        // that stopped.
        let mut beams: Vec<Vec<Topics>> = queries.iter().map(|_| vec![empty.clone()]).collect();
        let mut beam_vectors: Vec<Vec<Vec<f32>>> =
            queries.iter().map(|_| vec![Vec::new()]).collect();
        let mut done: Vec<Vec<Topics>> = queries.iter().map(|_| Vec::new()).collect();
        for _ in 0..options.max_words {
            // Every growing list of every query tries each unused word of its pool; a
            // one-word list is the word itself, whose embedding the lexicon holds.
            let mut tries: Vec<(usize, usize, String)> = Vec::new();
            let mut texts: Vec<String> = Vec::new();
            let mut known: Vec<(usize, usize, String, Vec<f32>)> = Vec::new();
            for (i, pool) in pools.iter().enumerate() {
                for (b, list) in beams[i].iter().enumerate() {
                    let words_of = |w: usize| {
                        let mut words = list.words.clone();
                        words.push(self.words[w].clone());
                        words
                    };
                    if list.words.is_empty() {
                        for &w in pool {
                            known.push((i, b, self.words[w].clone(), self.vector(w).to_vec()));
                        }
                        continue;
                    }
                    let mut fresh: Vec<usize> = pool
                        .iter()
                        .copied()
                        .filter(|&w| distinct(list, w))
                        .collect();
                    if options.checked > 0 && fresh.len() > options.checked {
                        let parent = &beam_vectors[i][b];
                        let n = list.words.len() as f32;
                        let estimate = |w: usize| {
                            let v: Vec<f32> = parent
                                .iter()
                                .zip(self.vector(w))
                                .map(|(p, x)| n * p + x)
                                .collect();
                            cosine(&queries[i], &v)
                        };
                        let mut scored: Vec<(f32, usize)> =
                            fresh.iter().map(|&w| (estimate(w), w)).collect();
                        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                        fresh = scored
                            .into_iter()
                            .take(options.checked)
                            .map(|(_, w)| w)
                            .collect();
                    }
                    for w in fresh {
                        texts.push(join_words(&words_of(w)));
                        tries.push((i, b, self.words[w].clone()));
                    }
                }
            }
            if texts.is_empty() && known.is_empty() {
                break;
            }
            let vectors = if texts.is_empty() {
                Vec::new()
            } else {
                embedder.embed(&texts)?
            };
            let mut grown: Vec<Vec<Extension>> = queries.iter().map(|_| Vec::new()).collect();
            for ((i, b, w), v) in tries.into_iter().zip(vectors) {
                grown[i].push((cosine(&queries[i], &v), b, w, v));
            }
            for (i, b, w, v) in known {
                grown[i].push((cosine(&queries[i], &v), b, w, v));
            }
            for (i, mut g) in grown.into_iter().enumerate() {
                g.sort_by(|a, b| b.0.total_cmp(&a.0));
                let parents = std::mem::take(&mut beams[i]);
                beam_vectors[i].clear();
                let mut next: Vec<Topics> = Vec::new();
                for (sim, b, w, v) in g {
                    if next.len() == width {
                        break;
                    }
                    let parent = &parents[b];
                    if !parent.words.is_empty() && sim < parent.similarity + options.min_gain {
                        continue;
                    }
                    let mut words = parent.words.clone();
                    words.push(w);
                    if next.iter().any(|t| same_set(&t.words, &words)) {
                        continue;
                    }
                    next.push(Topics {
                        words,
                        similarity: sim,
                    });
                    beam_vectors[i].push(v);
                }
                // A list none of whose extensions was kept has stopped growing.
                for p in parents.into_iter().filter(|p| !p.words.is_empty()) {
                    let extended = next.iter().any(|t| {
                        t.words.len() == p.words.len() + 1 && t.words.starts_with(&p.words)
                    });
                    if !extended {
                        done[i].push(p);
                    }
                }
                beams[i] = next;
            }
            if beams.iter().all(Vec::is_empty) {
                break;
            }
        }
        Ok(done
            .into_iter()
            .zip(beams)
            .map(|(mut lists, growing)| {
                lists.extend(growing);
                lists.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
                let mut kept: Vec<Topics> = Vec::new();
                for t in lists {
                    if kept.len() < width && !kept.iter().any(|k| same_set(&k.words, &t.words)) {
                        kept.push(t);
                    }
                }
                kept
            })
            .collect())
    }
}

/// A tried extension of a list: its cosine to the target, the parent list's position in
/// the beam, the added word, and the extended list's embedding.
type Extension = (f32, usize, String, Vec<f32>);

/// Whether two lists hold the same words in any order.
fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|w| b.contains(w))
}

/// Where the embeddings of `words` by `embedder` are cached: one file per word list and
/// embedding space, so another embedder or vocabulary never reads them.
fn cache_path(cache_dir: &Path, words: &[String], embedder: &dyn Embedder) -> PathBuf {
    let info = embedder.info();
    let key = format!(
        "{}\n{}\n{:?}\n{}\n{}",
        info.name,
        info.dimension,
        info.pooling,
        info.normalized,
        words.join("\n")
    );
    let digest = vec2prompt_store::append::config_digest(&key);
    cache_dir.join(format!("lexicon-{digest}.f32"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_like_sentences() {
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(join_words(&w(&[])), "");
        assert_eq!(join_words(&w(&["diet"])), "diet");
        assert_eq!(join_words(&w(&["diet", "sleep"])), "diet and sleep");
        assert_eq!(
            join_words(&w(&["diet", "fruit", "sleep"])),
            "diet, fruit and sleep"
        );
    }

    #[test]
    fn vocabulary_keeps_whole_content_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(
            &path,
            r###"{"model": {"type": "WordPiece", "vocab": {"[CLS]": 0, "the": 1, "##ing": 2,
                "sleep": 5, "diet": 4, "a": 3, "Paris": 6, "x1y": 7, "fruit": 8, "hadn": 9,
                "don": 10, "qzxv": 11}}}"###,
        )
        .unwrap();
        assert_eq!(
            vocabulary_words(&path).unwrap(),
            vec!["diet", "sleep", "fruit"]
        );
        std::fs::write(&path, r#"{"model": {}}"#).unwrap();
        assert!(vocabulary_words(&path).is_err());
    }
}
