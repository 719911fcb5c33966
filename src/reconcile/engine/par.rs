//! Splitting work over threads: scoped threads over index ranges, results in range order so
//! the outcome never depends on scheduling.

use std::ops::Range;

/// Runs `f` over `0..n` cut into ranges (about four per thread, none smaller than `min`),
/// on up to `threads` threads; the results come back in range order.
pub(crate) fn par_chunks<T: Send>(
    n: usize,
    threads: usize,
    min: usize,
    f: impl Fn(Range<usize>) -> T + Sync,
) -> Vec<T> {
    let threads = threads.max(1);
    if threads == 1 || n <= min {
        return vec![f(0..n)];
    }
    let pieces = (threads * 4).min(n.div_ceil(min.max(1))).max(1);
    let step = n.div_ceil(pieces);
    let ranges: Vec<Range<usize>> = (0..pieces)
        .map(|i| (i * step).min(n)..((i + 1) * step).min(n))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.min(pieces))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= ranges.len() {
                            break;
                        }
                        mine.push((i, f(ranges[i].clone())));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order() {
        for threads in [1, 2, 3, 8] {
            for n in [0, 1, 10, 1000, 12345] {
                let parts = par_chunks(n, threads, 7, |r| r.collect::<Vec<_>>());
                let flat: Vec<usize> = parts.into_iter().flatten().collect();
                assert_eq!(flat, (0..n).collect::<Vec<_>>());
            }
        }
    }
}
