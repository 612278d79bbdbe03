//! The `structured` style: a prompt in six sections (persona, context, task, constraints,
//! steps, goal), the rule-seeded data generator that writes training targets in that
//! form, and the completeness check the benchmark applies to an optimizer's output.
//!
//! The rules only build *training targets* from train records (their precise
//! instruction and input); at inference the optimizer writes every section's text itself.
//! Only the frame is fixed: the decoder writes the section headers ([`FRAME`]) and the
//! model fills each line, so a rewrite cannot stop after its persona or run a list on.

use std::fmt::Write as _;

/// The section headers of a structured prompt, in order. The persona line starts with
/// "Act as"; the others are `Header:` lines.
pub const SECTIONS: [&str; 6] = [
    "Act as",
    "Context:",
    "Task:",
    "Constraints:",
    "Steps:",
    "Goal:",
];

/// The frame a structured rewrite is decoded in: the text the decoder writes before each
/// line the model writes (the layout of [`structured_target`], three constraints, three
/// steps).
pub const FRAME: [&str; 10] = [
    "Act as",
    "\n\nContext:",
    "\n\nTask:",
    "\n\nConstraints:\n-",
    "\n-",
    "\n-",
    "\n\nSteps:\n1.",
    "\n2.",
    "\n3.",
    "\n\nGoal:",
];

/// Most tokens the model writes on one line of the frame.
pub const LINE_MAX_TOKENS: usize = 40;

/// A family of tasks with its persona, context, constraints and steps.
struct Kind {
    keys: &'static [&'static str],
    persona: &'static str,
    context: &'static str,
    constraints: &'static [&'static str],
    steps: &'static [&'static str],
    /// What a good answer achieves (never a restatement of the task).
    goal: &'static str,
}

const KINDS: &[Kind] = &[
    Kind {
        keys: &[
            "code",
            "function",
            "program",
            "python",
            "sql",
            "algorithm",
            "script",
            "java",
            "html",
            "query",
        ],
        persona: "a senior software engineer",
        context: "The code will be read and run by other developers.",
        constraints: &[
            "Write correct, idiomatic code",
            "Explain the key lines briefly",
            "Handle edge cases",
        ],
        steps: &[
            "Restate the problem and its inputs",
            "Write the code",
            "Show an example of its use",
        ],
        goal: "Code that runs and that another developer can follow.",
    },
    Kind {
        keys: &[
            "poem", "story", "haiku", "song", "lyrics", "tweet", "slogan", "essay", "letter",
            "email", "dialogue",
        ],
        persona: "a skilled creative writer",
        context: "The text is meant for a general audience.",
        constraints: &[
            "Keep a consistent tone",
            "Use vivid, concrete language",
            "Stay within a reasonable length",
        ],
        steps: &[
            "Choose the angle and tone",
            "Write the text",
            "Polish the wording",
        ],
        goal: "A vivid text that reads well from start to end.",
    },
    Kind {
        keys: &[
            "translate",
            "rewrite",
            "paraphrase",
            "edit",
            "correct",
            "grammar",
            "rephrase",
        ],
        persona: "a meticulous editor",
        context: "The result replaces the original text.",
        constraints: &[
            "Preserve the original meaning",
            "Fix every error",
            "Return only the revised text",
        ],
        steps: &[
            "Read the text carefully",
            "Apply the changes",
            "Check the result against the original",
        ],
        goal: "A corrected text with the original meaning intact.",
    },
    Kind {
        keys: &["summarize", "summary", "summarise"],
        persona: "an experienced analyst",
        context: "The reader needs the essentials quickly.",
        constraints: &[
            "Keep only the main points",
            "Use plain language",
            "Be concise",
        ],
        steps: &[
            "Identify the main points",
            "Order them by importance",
            "Write the summary",
        ],
        goal: "A short summary a busy reader can trust.",
    },
    Kind {
        keys: &[
            "classify",
            "categorize",
            "identify",
            "determine",
            "detect",
            "label",
            "compare",
            "evaluate",
            "analyze",
            "analyse",
        ],
        persona: "a careful analyst",
        context: "The answer will be used to make a decision.",
        constraints: &[
            "State the answer clearly",
            "Justify it with evidence",
            "Note any uncertainty",
        ],
        steps: &[
            "Examine the input",
            "Apply clear criteria",
            "State the conclusion with a short reason",
        ],
        goal: "A clear verdict the reader can act on.",
    },
    Kind {
        keys: &[
            "calculate",
            "compute",
            "solve",
            "equation",
            "math",
            "sum",
            "convert",
            "area",
            "probability",
        ],
        persona: "a precise mathematician",
        context: "The result must be exact and verifiable.",
        constraints: &[
            "Show the working",
            "Give the final answer clearly",
            "Use correct units",
        ],
        steps: &[
            "Write down what is known",
            "Work through the calculation",
            "Check and state the result",
        ],
        goal: "An exact result with its working shown.",
    },
    Kind {
        keys: &[
            "list",
            "generate",
            "suggest",
            "ideas",
            "brainstorm",
            "name",
            "tips",
            "ways",
            "recommend",
        ],
        persona: "a creative consultant",
        context: "The reader wants options they can act on.",
        constraints: &[
            "Give distinct, specific items",
            "Keep each item short",
            "Order items by usefulness",
        ],
        steps: &["Consider the goal", "Draft the items", "Keep the best ones"],
        goal: "A short list of options worth acting on.",
    },
    Kind {
        keys: &[
            "explain", "describe", "what", "why", "how", "define", "discuss", "outline",
        ],
        persona: "a knowledgeable teacher",
        context: "The reader is curious but not an expert.",
        constraints: &[
            "Be accurate",
            "Use simple words and one example",
            "Keep it focused",
        ],
        steps: &[
            "Introduce the topic",
            "Explain the key ideas",
            "Conclude with a short summary",
        ],
        goal: "An explanation a curious reader understands.",
    },
];

const DEFAULT: Kind = Kind {
    keys: &[],
    persona: "a helpful expert",
    context: "The reader needs a clear and useful answer.",
    constraints: &["Be accurate and specific", "Stay on topic", "Be concise"],
    steps: &[
        "Understand the request",
        "Answer it directly",
        "Review the answer",
    ],
    goal: "A clear, useful answer to the request.",
};

fn kind_of(instruction: &str) -> &'static Kind {
    let lower = instruction.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    KINDS
        .iter()
        .find(|k| k.keys.iter().any(|key| words.contains(key)))
        .unwrap_or(&DEFAULT)
}

/// The structured training target for a record's precise `instruction` (and its input,
/// which the optimizer keeps after the prompt), in the layout of [`FRAME`]: persona,
/// context, three constraints, three steps and the goal by the task's family, the
/// instruction as the task; with an input, the first constraint is to use it.
pub fn structured_target(instruction: &str, has_input: bool) -> String {
    let k = kind_of(instruction);
    let task = instruction.trim();
    let mut s = String::new();
    let _ = writeln!(s, "Act as {}.\n", k.persona);
    let _ = writeln!(s, "Context: {}\n", k.context);
    let _ = writeln!(s, "Task: {task}\n");
    let _ = writeln!(s, "Constraints:");
    let input = has_input.then_some("Use the input given below");
    for c in input
        .into_iter()
        .chain(k.constraints.iter().copied())
        .take(3)
    {
        let _ = writeln!(s, "- {c}");
    }
    let _ = writeln!(s, "\nSteps:");
    for (i, step) in k.steps.iter().enumerate() {
        let _ = writeln!(s, "{}. {step}", i + 1);
    }
    let _ = write!(s, "\nGoal: {}", k.goal);
    s
}

/// How many of the six [`SECTIONS`] `text` has, each at the start of a line.
pub fn sections_present(text: &str) -> usize {
    SECTIONS
        .iter()
        .filter(|h| text.lines().any(|l| l.trim_start().starts_with(*h)))
        .count()
}

/// Whether `text` has every section.
pub fn is_complete(text: &str) -> bool {
    sections_present(text) == SECTIONS.len()
}

/// The sections of `text` in order: each header and its text (the rest of the header's
/// line and the lines up to the next header; for the persona, the words after "Act as").
pub fn sections(text: &str) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        match SECTIONS.iter().find(|h| l.starts_with(*h)) {
            Some(h) => out.push((h, l[h.len()..].trim().to_string())),
            None => {
                if let Some((_, body)) = out.last_mut()
                    && !l.trim().is_empty()
                {
                    if !body.is_empty() {
                        body.push('\n');
                    }
                    body.push_str(l.trim());
                }
            }
        }
    }
    out
}

/// Words of `text`, lower-cased, list markers and punctuation dropped.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
        .map(|w| w.to_lowercase())
        .collect()
}

/// Word-level similarity of two texts: 1 − edit distance / the longer length.
fn similarity(a: &[String], b: &[String]) -> f64 {
    let n = a.len().max(b.len());
    if n == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    1.0 - prev[b.len()] as f64 / n as f64
}

/// Two texts at least this similar word for word (1 − edit distance / length) count as
/// one repeating the other.
pub const REPEAT_SIMILARITY: f64 = 0.8;

/// How a structured rewrite of `raw` is formed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Structure {
    /// Headers missing (in [`SECTIONS`] order).
    pub missing: Vec<&'static str>,
    /// Headers present with no text.
    pub empty: Vec<&'static str>,
    /// Headers whose text repeats the raw prompt or an earlier section, word for word or
    /// nearly ([`REPEAT_SIMILARITY`]). The task is the raw prompt made precise, so it
    /// counts as repeating the raw prompt only when it is the same words unchanged.
    pub repeats: Vec<&'static str>,
}

impl Structure {
    /// Every section present and non-empty, none repeating the raw prompt or another.
    pub fn is_well_formed(&self) -> bool {
        self.missing.is_empty() && self.empty.is_empty() && self.repeats.is_empty()
    }
}

/// Checks a structured rewrite of `raw` (the raw prompt's instruction).
pub fn structure(text: &str, raw: &str) -> Structure {
    let found = sections(text);
    let raw_words = words(raw);
    let mut s = Structure::default();
    for h in SECTIONS {
        if !found.iter().any(|(f, _)| *f == h) {
            s.missing.push(h);
        }
    }
    let mut earlier: Vec<Vec<String>> = Vec::new();
    for (h, body) in &found {
        let w = words(body);
        if w.is_empty() {
            s.empty.push(h);
            continue;
        }
        let to_raw = similarity(&w, &raw_words);
        let copies_raw = if *h == "Task:" {
            to_raw >= 1.0
        } else {
            to_raw >= REPEAT_SIMILARITY
        };
        let repeats = copies_raw
            || earlier
                .iter()
                .any(|e| similarity(&w, e) >= REPEAT_SIMILARITY);
        if repeats && !s.repeats.contains(h) {
            s.repeats.push(h);
        }
        earlier.push(w);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_have_every_section_and_the_task() {
        for (instr, input) in [
            ("Write a Python function to reverse a string.", false),
            ("Translate the sentence into German.", true),
            ("Something unusual entirely.", false),
        ] {
            let t = structured_target(instr, input);
            assert!(is_complete(&t), "{t}");
            assert!(structure(&t, "reverse string").is_well_formed(), "{t}");
            assert_eq!(structure(&t, instr).repeats, vec!["Task:"], "{t}");
            assert!(t.contains(instr));
            assert_eq!(t.contains("Use the input given below"), input);
        }
        assert!(structured_target("Write a Python function.", false).contains("software engineer"));
    }

    #[test]
    fn a_structure_needs_every_section_filled_and_no_repeats() {
        let good = "Act as a cook.\n\nContext: A guest is hungry.\n\nTask: Boil an egg for breakfast.\n\nConstraints:\n- Use one pot\n\nSteps:\n1. Heat the water\n\nGoal: A soft egg with a runny yolk.";
        let s = structure(good, "boil egg");
        assert!(s.is_well_formed(), "{s:?}");
        assert_eq!(
            sections(good)[3],
            ("Constraints:", "- Use one pot".to_string())
        );
        let copied = good.replace("Boil an egg for breakfast.", "boil egg");
        assert_eq!(structure(&copied, "boil egg").repeats, vec!["Task:"]);
        // The task may correct the raw prompt; another section may not paste it.
        assert!(structure(good, "Boil an egg for brekfast.").is_well_formed());
        let pasted = good.replace("A guest is hungry.", "Boil an egg for brekfast.");
        assert_eq!(
            structure(&pasted, "Boil an egg for brekfast.").repeats,
            vec!["Context:", "Task:"],
            "the task then also repeats the context"
        );
        let twice = good.replace("A soft egg with a runny yolk.", "boil an egg for breakfast");
        assert_eq!(structure(&twice, "boil egg").repeats, vec!["Goal:"]);
        let empty = good.replace("- Use one pot", "");
        let s = structure(&empty, "boil egg");
        assert_eq!(s.empty, vec!["Constraints:"]);
        assert!(!s.is_well_formed());
        let s = structure("Act as a cook.", "boil egg");
        assert_eq!(s.missing.len(), 5);
    }

    #[test]
    fn every_family_writes_the_frame_without_loops() {
        use vec2prompt_latent::generator_decode::is_loop;
        for k in KINDS.iter().chain([&DEFAULT]) {
            assert_eq!(k.constraints.len(), 3);
            assert_eq!(k.steps.len(), 3);
            let instr = format!("Please {} this.", k.keys.first().unwrap_or(&"do"));
            for input in [false, true] {
                let t = structured_target(&instr, input);
                assert!(!is_loop(&t), "{t}");
                assert!(structure(&t, "this").is_well_formed(), "{t}");
                // The frame's heads come in order, as the decoder writes them.
                let mut at = 0;
                for h in FRAME {
                    let found = t[at..].find(h).unwrap_or_else(|| panic!("{h:?} in {t}"));
                    at += found + h.len();
                }
            }
        }
    }

    #[test]
    fn completeness_counts_sections_at_line_starts() {
        assert_eq!(sections_present("Act as a cook.\nTask: boil an egg"), 2);
        assert_eq!(sections_present("The Task: is here"), 0);
        assert!(!is_complete(
            "Act as x.\nContext: y\nTask: z\nConstraints:\nSteps:"
        ));
    }
}
