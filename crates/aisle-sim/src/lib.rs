//! Synthetic stores with ground truth.
