//! [`parallel_map`]: a few scoped threads working through a list of requests. Remote calls
//! spend their time waiting on the network, so threads (not cores) bound the throughput;
//! the limiter bounds them again across clients.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use vec2prompt_core::Result;

/// Threads used when the limiter sets no concurrency limit.
pub const DEFAULT_WORKERS: usize = 8;

/// Applies `f` to every item on up to `workers` threads and returns the results in item
/// order. After the first error no new item is started and that error is returned.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let workers = workers.clamp(1, items.len().max(1));
    if workers == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error = Mutex::new(None);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    match f(item) {
                        Ok(r) => {
                            *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            first_error
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .ok_or_else(|| {
                    vec2prompt_core::Error::backend("request pool", "a request produced no result")
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vec2prompt_core::Error;

    #[test]
    fn results_keep_item_order() {
        let items: Vec<u64> = (0..50).collect();
        let out = parallel_map(&items, 4, |&i| {
            std::thread::sleep(std::time::Duration::from_micros((50 - i) * 100));
            Ok(i * 2)
        })
        .unwrap();
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(
            parallel_map(&[] as &[u8], 4, |_| Ok(()))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_error_stops_the_work() {
        let items: Vec<u32> = (0..100).collect();
        let started = AtomicUsize::new(0);
        let r = parallel_map(&items, 3, |&i| {
            started.fetch_add(1, Ordering::Relaxed);
            if i == 5 {
                Err(Error::invalid("x", "five"))
            } else {
                Ok(i)
            }
        });
        assert!(r.unwrap_err().to_string().contains("five"));
        assert!(started.load(Ordering::Relaxed) < 100);
    }
}
