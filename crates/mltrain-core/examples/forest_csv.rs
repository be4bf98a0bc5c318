//! Fits one random forest on a CSV of features and labels, on one thread, and prints one
//! JSON line: the median fit time over repeats and the held-out accuracy. Used by
//! `bench/forest_vs_sklearn.py` to compare with scikit-learn on the same rows.
//!
//! ```sh
//! cargo run --release -p mltrain-core --example forest_csv -- TRAIN.csv TEST.csv [REPEATS]
//! ```
//! Each CSV row is the features then the label (a whole number), comma-separated.

use std::time::Instant;

use mltrain_core::Matrix;
use mltrain_core::forest::ForestParams;

fn read(path: &str) -> Result<(Matrix, Vec<u32>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let values: Vec<f64> = line
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|e| format!("{path}:{}: {e}", n + 1))
            })
            .collect::<Result<_, _>>()?;
        let (label, features) = values
            .split_last()
            .ok_or_else(|| format!("{path}:{}: empty row", n + 1))?;
        rows.push(features.iter().map(|&v| v as f32).collect::<Vec<f32>>());
        labels.push(*label as u32);
    }
    Ok((Matrix::from_rows(&rows).map_err(|e| e.to_string())?, labels))
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: forest_csv TRAIN.csv TEST.csv [REPEATS]".into());
    }
    let (x, y) = read(&args[1])?;
    let (xt, yt) = read(&args[2])?;
    let repeats: usize = args
        .get(3)
        .map_or(Ok(5), |r| r.parse())
        .map_err(|e| format!("REPEATS: {e}"))?;
    let n_classes = y.iter().chain(&yt).max().map_or(1, |&m| m as usize + 1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut accuracies = Vec::new();
    for r in 0..repeats {
        let params = ForestParams::new().seed(r as u64);
        let start = Instant::now();
        let forest = pool
            .install(|| params.fit(&x, &y, n_classes))
            .map_err(|e| e.to_string())?;
        times.push(start.elapsed().as_secs_f64());
        let predicted = forest.predict(&xt).map_err(|e| e.to_string())?;
        let correct = predicted.iter().zip(&yt).filter(|(p, t)| p == t).count();
        accuracies.push(correct as f64 / yt.len() as f64);
    }
    times.sort_by(f64::total_cmp);
    let accuracy = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
    println!(
        "{{\"pipeline\": \"mltrain\", \"fit_seconds\": {}, \"accuracy\": {accuracy}, \"train_rows\": {}, \"repeats\": {repeats}}}",
        times[times.len() / 2],
        x.rows()
    );
    Ok(())
}
