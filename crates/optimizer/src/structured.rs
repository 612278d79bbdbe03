//! The `structured` style: a prompt in six sections (persona, context, task, constraints,
//! steps, goal), the rule-seeded data generator that writes training targets in that
//! form, and the completeness check the benchmark applies to an optimizer's output.
//!
//! The rules only build *training targets* from train records (their precise
//! instruction and input); at inference the optimizer writes the sections itself, so
//! nothing here is a template filled at query time.

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

/// A family of tasks with its persona, context, constraints and steps.
struct Kind {
    keys: &'static [&'static str],
    persona: &'static str,
    context: &'static str,
    constraints: &'static [&'static str],
    steps: &'static [&'static str],
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
/// which the optimizer keeps after the prompt): persona, context and steps by the task's
/// family, the instruction as the task, one constraint about the input when there is one.
pub fn structured_target(instruction: &str, has_input: bool) -> String {
    let k = kind_of(instruction);
    let task = instruction.trim();
    let mut s = String::new();
    let _ = writeln!(s, "Act as {}.\n", k.persona);
    let _ = writeln!(s, "Context: {}\n", k.context);
    let _ = writeln!(s, "Task: {task}\n");
    let _ = writeln!(s, "Constraints:");
    if has_input {
        let _ = writeln!(s, "- Use the input given below");
    }
    for c in k.constraints {
        let _ = writeln!(s, "- {c}");
    }
    let _ = writeln!(s, "\nSteps:");
    for (i, step) in k.steps.iter().enumerate() {
        let _ = writeln!(s, "{}. {step}", i + 1);
    }
    let goal = task.trim_end_matches(['.', '!', '?']);
    let _ = write!(s, "\nGoal: A complete, correct response to: {goal}.");
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
            assert!(t.contains(instr));
            assert_eq!(t.contains("Use the input given below"), input);
        }
        assert!(structured_target("Write a Python function.", false).contains("software engineer"));
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
