//! Seeded randomness for the benchmark — a SplitMix64 generator (small, fast, and the same
//! stream on every platform) — and the label noise: flipping a fraction of the labels to a
//! uniformly random *other* class.

/// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit state advanced by a Weyl sequence and mixed.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose stream depends only on `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// A generator for a named sub-stream of `seed` (so that, e.g., the noise and the weight
    /// initialisation of one seed do not share random numbers).
    pub fn derive(seed: u64, stream: &str) -> Rng {
        let mut h = Rng::new(seed);
        let mut state = h.next_u64();
        for b in stream.bytes() {
            state = Rng::new(state ^ u64::from(b)).next_u64();
        }
        Rng::new(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (`n > 0`), unbiased (Lemire's multiply-and-reject).
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as usize;
            }
        }
    }

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// Flips `round(fraction · n)` labels (at least one when `fraction > 0`), chosen uniformly
/// without replacement, each to a uniformly random class other than its own among `classes`.
/// Returns the indices of the flipped samples, sorted.
pub fn flip_labels(labels: &mut [i64], fraction: f64, classes: usize, rng: &mut Rng) -> Vec<usize> {
    let n = labels.len();
    let k = if fraction > 0.0 { ((fraction * n as f64).round() as usize).clamp(1, n) } else { 0 };
    let mut order: Vec<usize> = (0..n).collect();
    // A partial Fisher–Yates: the first k positions are a uniform sample.
    for i in 0..k {
        let j = i + rng.below(n - i);
        order.swap(i, j);
    }
    let mut flipped = order[..k].to_vec();
    flipped.sort_unstable();
    for &i in &flipped {
        let shift = 1 + rng.below(classes - 1) as i64;
        labels[i] = (labels[i] + shift).rem_euclid(classes as i64);
    }
    flipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_the_requested_count_to_other_classes() {
        let clean: Vec<i64> = (0..200).map(|i| i % 10).collect();
        let mut noisy = clean.clone();
        let idx = flip_labels(&mut noisy, 0.1, 10, &mut Rng::new(3));
        assert_eq!(idx.len(), 20);
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
        for i in 0..200 {
            assert_eq!(idx.contains(&i), noisy[i] != clean[i], "sample {i}");
            assert!((0..10).contains(&noisy[i]));
        }
    }

    #[test]
    fn streams_are_seeded_and_uniform_enough() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::derive(7, "noise").next_u64(), Rng::derive(7, "init").next_u64());
        let mut r = Rng::new(1);
        let mut counts = [0usize; 5];
        (0..50_000).for_each(|_| counts[r.below(5)] += 1);
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
        let mean = (0..10_000).map(|_| r.uniform()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.01);
    }
}
