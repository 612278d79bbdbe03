//! The prompt quality of a finished report, measured again from its recorded choices
//! (reports made before quality was measured, or by another binary).

use crate::quality::{PerplexityFn, PromptQuality, QualityInputs, measure, nearest_targets};

/// Embeds a batch of texts.
pub type EmbedFn<'a> = dyn Fn(&[String]) -> vec2prompt_core::Result<Vec<Vec<f32>>> + 'a;

/// The quality of every method of a finished `report`, measured again from its recorded
/// choices: `prompt_of_record(index)` gives the prompt of a source record (reports name
/// dataset prompts by record index), `target_vectors` the targets' e* in the report's
/// order, `embed` the embedder, `perplexity` the LLM's scorer when local. Methods whose
/// choices cannot all be recovered are left out.
pub fn measure_report(
    report: &crate::report::Report,
    prompt_of_record: &dyn Fn(usize) -> Option<String>,
    target_vectors: &[Vec<f32>],
    embed: &EmbedFn<'_>,
    perplexity: Option<&PerplexityFn<'_>>,
) -> vec2prompt_core::Result<Vec<(String, PromptQuality)>> {
    let methods: Vec<String> = report.methods.iter().map(|m| m.method.clone()).collect();
    let mut picks: Vec<Option<Vec<String>>> = vec![Some(Vec::new()); methods.len()];
    for row in &report.per_target {
        for (m, name) in methods.iter().enumerate() {
            let text = row
                .choices
                .iter()
                .find(|c| &c.method == name)
                .and_then(|c| {
                    c.prompt
                        .clone()
                        .or_else(|| c.prompt_record.and_then(prompt_of_record))
                });
            match (text, &mut picks[m]) {
                (Some(t), Some(list)) => list.push(t),
                _ => picks[m] = None,
            }
        }
    }
    let Some(Some(human)) = methods
        .iter()
        .position(|m| m == "oracle")
        .map(|i| picks[i].clone())
    else {
        return Err(vec2prompt_core::Error::invalid(
            "report",
            "has no oracle choices to compare the prompts with",
        ));
    };
    let mut distinct: Vec<String> = picks.iter().flatten().flatten().cloned().collect();
    distinct.sort();
    distinct.dedup();
    let mut vectors = std::collections::HashMap::new();
    for chunk in distinct.chunks(256) {
        for (p, v) in chunk.iter().zip(embed(chunk)?) {
            vectors.insert(p.clone(), v);
        }
    }
    let vec_of = |p: &String| vectors.get(p).cloned().unwrap_or_default();
    let human_vectors: Vec<Vec<f32>> = human.iter().map(vec_of).collect();
    let nearest = nearest_targets(target_vectors);
    let inputs = QualityInputs {
        human: &human,
        human_vectors: &human_vectors,
        nearest_target: &nearest,
    };
    Ok(methods
        .into_iter()
        .zip(picks)
        .filter_map(|(name, p)| {
            let p = p?;
            let pv: Vec<Vec<f32>> = p.iter().map(vec_of).collect();
            Some((name, measure(&p, &pv, &inputs, perplexity)))
        })
        .collect())
}
