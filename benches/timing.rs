//! A dudect-style timing test of the key check (issue 9): does `KeyRing::verify` take longer
//! for a wrong key that shares a long prefix with the master key than for a random wrong key?
//!
//! Method (Reparaz, Balasch, Verbauwhede, "dude, is my code constant time?", 2017): two classes
//! of inputs of the same length, class 0 fixed (the master key with its LAST byte changed) and
//! class 1 random (almost always different from the first byte on), measured in random order;
//! Welch's t-test on the raw timings and on timings cropped at increasing percentiles (to cut
//! interrupts and preemption). |t| above 10 means "definitely not constant time"; below 4.5,
//! no evidence of a leak at this sample size.
//!
//! A naive `==` on the bytes is measured the same way as a control: the harness must flag it,
//! or its sensitivity is too low to say anything about the real check. Each measurement times a
//! batch of calls on one input, which multiplies a per-call difference by the batch size.
//!
//!     cargo bench --bench timing                  # about a minute on 2 cores
//!     TIMING_SAMPLES=400000 cargo bench --bench timing
//!
//! Exit status: 0 when the control is caught (|t| > 10) and the gateway's checks are not
//! (|t| < 10); 1 otherwise.

use std::hint::black_box;
use std::time::Instant;

use blnk_gateway::config::SecretSource;
use blnk_gateway::keys::KeyRing;
use blnk_gateway::secret::{KeyDigest, SecretKey};

/// Calls timed per measurement.
const BATCH: usize = 32;
/// Random inputs prepared ahead, so no random generation is measured.
const POOL: usize = 4096;
/// Crop percentiles, as dudect: 1 - 0.5^(10 (i+1) / CROPS).
const CROPS: usize = 20;
/// dudect's verdict: above this |t|, definitely not constant time.
const LEAK_T: f64 = 10.0;

/// xorshift64*: enough randomness for input order and contents, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn hex_key(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| b"0123456789abcdef"[(self.next() % 16) as usize])
            .collect()
    }
}

/// Welch's t-test, accumulated online.
#[derive(Default, Clone, Copy)]
struct Welch {
    n: [f64; 2],
    mean: [f64; 2],
    m2: [f64; 2],
}

impl Welch {
    fn push(&mut self, class: usize, x: f64) {
        self.n[class] += 1.0;
        let d = x - self.mean[class];
        self.mean[class] += d / self.n[class];
        self.m2[class] += d * (x - self.mean[class]);
    }

    fn t(&self) -> f64 {
        let var = |c: usize| self.m2[c] / (self.n[c] - 1.0);
        let se = (var(0) / self.n[0] + var(1) / self.n[1]).sqrt();
        if se == 0.0 {
            0.0
        } else {
            (self.mean[0] - self.mean[1]) / se
        }
    }
}

struct Report {
    name: &'static str,
    raw_t: f64,
    max_t: f64,
    mean_ns: [f64; 2],
}

/// Measures `op` on class 0 (`fixed`, many copies of one value) and class 1 (`pool`, random
/// values) in random order. Both classes are read from pools of the same size, allocated
/// alternately, so that caches treat them alike and only the values differ.
fn measure(
    name: &'static str,
    samples: usize,
    rng: &mut Rng,
    fixed: &[Vec<u8>],
    pool: &[Vec<u8>],
    mut op: impl FnMut(&[u8]) -> bool,
) -> Report {
    let mut timings: Vec<(usize, f64)> = Vec::with_capacity(samples);
    // Warm up caches, branch predictors and the CPU frequency.
    for i in 0..samples / 20 {
        black_box(op(black_box(&pool[i % pool.len()])));
    }
    for i in 0..samples {
        let class = (rng.next() & 1) as usize;
        let input: &[u8] = if class == 0 {
            &fixed[i % fixed.len()]
        } else {
            &pool[i % pool.len()]
        };
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(op(black_box(input)));
        }
        timings.push((class, start.elapsed().as_nanos() as f64));
    }
    let mut sorted: Vec<f64> = timings.iter().map(|t| t.1).collect();
    sorted.sort_by(f64::total_cmp);
    let thresholds: Vec<f64> = (0..CROPS)
        .map(|i| {
            let p = 1.0 - 0.5f64.powf(10.0 * (i + 1) as f64 / CROPS as f64);
            sorted[((sorted.len() - 1) as f64 * p) as usize]
        })
        .collect();
    let mut raw = Welch::default();
    let mut cropped = vec![Welch::default(); CROPS];
    for &(class, x) in &timings {
        raw.push(class, x);
        for (w, limit) in cropped.iter_mut().zip(&thresholds) {
            if x < *limit {
                w.push(class, x);
            }
        }
    }
    let max_t = cropped
        .iter()
        .chain(std::iter::once(&raw))
        .map(|w| w.t().abs())
        .fold(0.0, f64::max);
    Report {
        name,
        raw_t: raw.t(),
        max_t,
        mean_ns: [raw.mean[0] / BATCH as f64, raw.mean[1] / BATCH as f64],
    }
}

fn main() {
    let samples: usize = std::env::var("TIMING_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ std::process::id() as u64);
    let master = rng.hex_key(64);
    // Class 0: the master key with its last byte changed; a prefix-by-prefix attack's best case.
    let mut near = master.clone();
    near[63] = if near[63] == b'0' { b'1' } else { b'0' };
    let mut fixed = Vec::with_capacity(POOL);
    let mut pool = Vec::with_capacity(POOL);
    for _ in 0..POOL {
        fixed.push(near.clone());
        pool.push(rng.hex_key(64));
    }

    let Ok(key) = SecretKey::new(master.clone()) else {
        eprintln!("the generated key was refused");
        std::process::exit(2);
    };
    let stored = *key.digest();
    let ring = KeyRing::new(key, SecretSource::EnvVar);
    let now = tokio::time::Instant::now();

    println!("dudect-style timing test: {samples} measurements per target, {BATCH} calls each");
    println!(
        "class 0: master key with the last byte changed; class 1: random keys (same length)\n"
    );
    let reports = [
        measure(
            "control: naive == on the key bytes",
            samples,
            &mut rng,
            &fixed,
            &pool,
            |p| p == master.as_slice(),
        ),
        measure(
            "secret::KeyDigest::of + matches",
            samples,
            &mut rng,
            &fixed,
            &pool,
            |p| stored.matches(&KeyDigest::of(p)),
        ),
        measure(
            "keys::KeyRing::verify",
            samples,
            &mut rng,
            &fixed,
            &pool,
            |p| ring.verify(p, now).is_some(),
        ),
    ];
    println!(
        "{:<40} {:>10} {:>10} {:>12} {:>12}",
        "target", "t (raw)", "max |t|", "ns class 0", "ns class 1"
    );
    for r in &reports {
        println!(
            "{:<40} {:>10.2} {:>10.2} {:>12.1} {:>12.1}",
            r.name, r.raw_t, r.max_t, r.mean_ns[0], r.mean_ns[1]
        );
    }
    let control_caught = reports[0].max_t > LEAK_T;
    let gateway_clean = reports[1..].iter().all(|r| r.max_t < LEAK_T);
    println!();
    println!(
        "control {}: the harness {} a data-dependent comparison",
        if control_caught {
            "caught"
        } else {
            "NOT caught"
        },
        if control_caught {
            "detects"
        } else {
            "is too insensitive to detect"
        }
    );
    println!(
        "gateway key check: {}",
        if gateway_clean {
            "no evidence of a timing leak (max |t| < 10)"
        } else {
            "LEAK SUSPECTED (max |t| >= 10)"
        }
    );
    if !(control_caught && gateway_clean) {
        std::process::exit(1);
    }
}
