//! Classification metrics: accuracy, per-class precision and recall, confusion matrix.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Scores of a set of predictions against the true labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Share of correct predictions.
    pub accuracy: f64,
    /// `confusion[t][p]`: how many samples of true class `t` were predicted as `p`.
    pub confusion: Vec<Vec<u64>>,
    /// One entry per class, in class order.
    pub per_class: Vec<ClassScores>,
}

/// Precision, recall and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// Correct predictions of this class over all predictions of it (0 when never predicted).
    pub precision: f64,
    /// Correct predictions of this class over its true samples (0 when it has none).
    pub recall: f64,
    /// Number of true samples of this class.
    pub support: u64,
}

/// Scores `predicted` against `truth`; labels must be below `n_classes`.
pub fn evaluate(truth: &[u32], predicted: &[u32], n_classes: usize) -> Result<Evaluation> {
    if truth.len() != predicted.len() {
        return Err(Error::Shape {
            expected: format!("{} predictions", truth.len()),
            found: format!("{} predictions", predicted.len()),
        });
    }
    if truth.is_empty() {
        return Err(Error::NotEnoughData {
            reason: "no samples to evaluate".into(),
        });
    }
    let mut confusion = vec![vec![0u64; n_classes]; n_classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        for label in [t, p] {
            if label as usize >= n_classes {
                return Err(Error::LabelOutOfRange { label, n_classes });
            }
        }
        confusion[t as usize][p as usize] += 1;
    }
    let correct: u64 = (0..n_classes).map(|c| confusion[c][c]).sum();
    let ratio = |num: u64, den: u64| {
        if den == 0 {
            0.0
        } else {
            num as f64 / den as f64
        }
    };
    let per_class = (0..n_classes)
        .map(|c| {
            let support: u64 = confusion[c].iter().sum();
            let predicted_as: u64 = confusion.iter().map(|row| row[c]).sum();
            ClassScores {
                precision: ratio(confusion[c][c], predicted_as),
                recall: ratio(confusion[c][c], support),
                support,
            }
        })
        .collect();
    Ok(Evaluation {
        accuracy: ratio(correct, truth.len() as u64),
        confusion,
        per_class,
    })
}

/// Index of the largest value; ties go to the lowest index.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should fail loudly, where it fails
mod tests {
    use super::*;

    #[test]
    fn scores_a_small_case_by_hand() {
        // truth:     0 0 1 1 2
        // predicted: 0 1 1 1 0
        let e = evaluate(&[0, 0, 1, 1, 2], &[0, 1, 1, 1, 0], 3).unwrap();
        assert_eq!(e.accuracy, 3.0 / 5.0);
        assert_eq!(
            e.confusion,
            vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]
        );
        assert_eq!(
            e.per_class[0],
            ClassScores {
                precision: 0.5,
                recall: 0.5,
                support: 2
            }
        );
        assert_eq!(
            e.per_class[1],
            ClassScores {
                precision: 2.0 / 3.0,
                recall: 1.0,
                support: 2
            }
        );
        assert_eq!(
            e.per_class[2],
            ClassScores {
                precision: 0.0,
                recall: 0.0,
                support: 1
            }
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(evaluate(&[0], &[0, 1], 2).is_err());
        assert!(evaluate(&[], &[], 2).is_err());
        assert!(matches!(
            evaluate(&[0], &[2], 2),
            Err(Error::LabelOutOfRange { label: 2, .. })
        ));
    }

    #[test]
    fn argmax_ties_go_low() {
        assert_eq!(argmax(&[0.2, 0.4, 0.4]), 1);
        assert_eq!(argmax(&[1.0]), 0);
    }
}
