//! The allocator, asked to give back what the models freed after loading.

/// Hands memory freed since loading back to the operating system now. The binary's
/// allocator (mimalloc) keeps freed pages for reuse and purges them only while it keeps
/// allocating, so the hundreds of megabytes a model releases after loading (its f32
/// training weights) would otherwise stay resident in an idle server.
pub fn return_freed_memory() {
    // SAFETY: `mi_collect` takes no pointers and may be called at any time from any thread;
    // when mimalloc is not the global allocator it only tidies its own empty heap.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
