//! Training: data, recipes, optimizers, checkpoints and the training loop.

pub mod data;
pub mod optim;
pub mod recipe;
pub mod trainer;

pub use recipe::Recipe;
pub use trainer::{TrainError, TrainEvent, TrainOptions, TrainSummary, train, train_step};
