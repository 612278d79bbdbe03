//! Training the prompt optimizer (`vec2prompt train optimizer`): its (raw → precise or
//! structured) pairs from a dataset's train split and from feedback ([`data`]), the
//! objectives beyond cross-entropy ([`losses`]), the two resumable phases ([`train`]),
//! and feedback simulated by the real reward ([`feedback_sim`]).
//! The model it trains, and everything serving needs, is `vec2prompt-optimizer`.

pub mod data;
pub mod feedback_sim;
pub mod losses;
pub mod train;

pub use train::{OptimizerTrainConfig, Phase};
