//! Training the prompt optimizer (`vec2prompt train optimizer`): its (raw → precise or
//! structured) pairs from a dataset's train split and from feedback ([`data`]), the
//! objectives beyond cross-entropy ([`losses`]), the two resumable phases ([`train`]),
//! feedback simulated by the real reward ([`feedback_sim`]), and the answer head that
//! predicts what a raw prompt's intent should be answered ([`answer_head`]).
//! The model it trains, and everything serving needs, is `vec2prompt-optimizer`.

pub mod answer_head;
pub mod data;
pub mod feedback_sim;
pub mod losses;
pub mod train;

pub use train::{OptimizerTrainConfig, Phase};
